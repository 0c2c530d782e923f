package kernel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeRuntime lays out a jsii runtime as jsii-runtime-go extracts it: a
// relay (bin/jsii-runtime.js) that must not run, and a kernel
// (lib/program.js) that reads one request from fd 3, answers on fd 3,
// prints to stdout and stderr, and reports the program its parent process
// runs and the size of V8's thread pool it was given.
func fakeRuntime(t *testing.T) (relay string) {
	t.Helper()
	return fakeRuntimeEnding(t, "")
}

// fakeRuntimeEnding is fakeRuntime with a kernel that runs end after it has
// answered.
func fakeRuntimeEnding(t *testing.T, end string) (relay string) {
	t.Helper()
	dir := t.TempDir()
	write := func(path, body string) {
		t.Helper()
		path = filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("bin/jsii-runtime.js", `process.stderr.write("the relay ran\n"); process.exit(3);`)
	write("lib/program.js", `const fs = require('fs');
const buf = Buffer.alloc(1024);
const n = fs.readSync(3, buf, 0, buf.length, null);
console.log('printed');
process.stderr.write('warned\n');
process.stdout.write(Buffer.from([0xff, 0x0a]));
const pool = process.execArgv.filter(a => a.startsWith('--v8-pool-size')).join(' ');
const parent = require('path').basename(fs.readFileSync('/proc/' + process.ppid + '/cmdline', 'utf8').split('\0')[0]);
fs.writeSync(3, Buffer.from('got ' + buf.subarray(0, n).toString().trim() + ', parent ' + parent + ', ' + pool + '\n'));
`+end)
	return filepath.Join(dir, "bin", "jsii-runtime.js")
}

// run runs the launcher installed in a new folder as jsii-runtime-go does,
// with stdin as the requests.
func run(t *testing.T, env []string, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	launcher, err := install(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(launcher, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// The kernel runs in the relay's place, under the launcher's shell: its
// answers arrive on stdout and what it prints arrives as the relay's JSON
// lines on stderr.
func TestLauncherRunsTheKernelInPlaceOfTheRelay(t *testing.T) {
	stdout, stderr, err := run(t, []string{PoolSizeVariable + "=2"}, "hello\n", fakeRuntime(t))
	if err != nil {
		t.Fatalf("launcher: %v\nstderr:\n%s", err, stderr)
	}
	if want := "got hello, parent sh, --v8-pool-size=2\n"; stdout != want && stdout != strings.Replace(want, "sh", "dash", 1) {
		t.Errorf("stdout %q, want %q (the kernel answers on stdout, started by the launcher's shell, not by node)", stdout, want)
	}
	var printed []string
	for line := range strings.Lines(stderr) {
		var message map[string][]byte
		if err := json.Unmarshal([]byte(line), &message); err != nil {
			t.Errorf("stderr line %q is not the relay's JSON: %v", line, err)
			continue
		}
		for key, data := range message {
			printed = append(printed, key+": "+string(data))
		}
	}
	if want := []string{"stdout: printed\n", "stderr: warned\n", "stdout: \xff\n"}; strings.Join(printed, "|") != strings.Join(want, "|") {
		t.Errorf("printed %q, want %q", printed, want)
	}
}

// V8's pool leaves a core to the kernel's main thread and the app, and is
// never larger than node's own default; the launcher takes it from the
// environment, and node's default where that is not a number.
func TestV8PoolSize(t *testing.T) {
	for cores, want := range map[int]int{1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 64: 4} {
		if got := poolSize(cores); got != want {
			t.Errorf("poolSize(%d) = %d, want %d", cores, got, want)
		}
	}
	relay := fakeRuntime(t)
	for value, want := range map[string]string{"1": "--v8-pool-size=1", "": "--v8-pool-size=4", "two": "--v8-pool-size=4", "-1": "--v8-pool-size=4"} {
		stdout, stderr, err := run(t, []string{PoolSizeVariable + "=" + value}, "x\n", relay)
		if err != nil || !strings.HasSuffix(stdout, ", "+want+"\n") {
			t.Errorf("%s=%q: kernel answered %q (%v, %s), want %s", PoolSizeVariable, value, stdout, err, stderr, want)
		}
	}
}

// Anything but the relay's path runs node as asked.
func TestLauncherRunsOtherProgramsAsAsked(t *testing.T) {
	program := filepath.Join(t.TempDir(), "other.js")
	if err := os.WriteFile(program, []byte(`process.stdout.write('asked ' + process.argv.slice(2).join(' '));`), 0o644); err != nil {
		t.Fatal(err)
	}
	relay := fakeRuntime(t)
	for _, args := range [][]string{{program}, {program, "x"}, {"--version"}} {
		stdout, stderr, err := run(t, nil, "", args...)
		if err != nil {
			t.Errorf("launcher %q: %v\n%s", args, err, stderr)
			continue
		}
		if args[0] == program && stdout != "asked "+strings.Join(args[1:], " ") {
			t.Errorf("launcher %q printed %q, want node's run of %s", args, stdout, program)
		}
	}
	// A relay without lib/program.js beside it (another layout) runs.
	if err := os.Remove(filepath.Join(filepath.Dir(filepath.Dir(relay)), "lib", "program.js")); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := run(t, nil, "", relay); !strings.Contains(stderr, "the relay ran") {
		t.Errorf("launcher without program.js: %v, stderr %q, want the relay run", err, stderr)
	}
}

// A kernel that exits cleanly ends at once, whatever Node.js's teardown
// would wait for (here a worker thread blocked in a child process for two
// minutes), and the launcher reports exit status 0 and nothing more. Any
// other end keeps its status: an exit code, or a signal that is not the
// kernel's own.
func TestLauncherEndsACleanExitAtOnce(t *testing.T) {
	blocked := `const { Worker } = require('worker_threads');
new Worker("require('child_process').execSync('sleep 120')", { eval: true })
  .on('online', () => setTimeout(() => process.exit(%s), 200));
`
	for _, tc := range []struct {
		name, end string
		status    int
	}{
		{"clean exit", fmt.Sprintf(blocked, "0"), 0},
		{"exit code", `process.exit(3);`, 3},
		{"killed", `process.kill(process.pid, 'SIGTERM');`, 128 + 15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			launcher, err := install(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(launcher, fakeRuntimeEnding(t, tc.end))
			cmd.Stdin = strings.NewReader("x\n")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			// The blocked worker's sleep outlives the kernel: it is ended
			// with its process group.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			start := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				t.Fatalf("the launcher still runs after %v: the kernel's exit waited for Node.js's teardown", time.Since(start))
			}
			if got := cmd.ProcessState.ExitCode(); got != tc.status {
				t.Errorf("exit status %d (%v), want %d", got, err, tc.status)
			}
			for line := range strings.Lines(stderr.String()) {
				if !strings.HasPrefix(line, `{"std`) {
					t.Errorf("stderr line %q: the launcher's shell reported something", line)
				}
			}
			if !strings.HasPrefix(stdout.String(), "got x") {
				t.Errorf("stdout %q, want the kernel's answer", stdout.String())
			}
		})
	}
}

func TestLauncherWithoutNode(t *testing.T) {
	_, stderr, err := run(t, []string{"PATH=" + t.TempDir()}, "", fakeRuntime(t))
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 127 {
		t.Errorf("launcher without node: %v, want exit status 127", err)
	}
	if want := "error: node (Node.js) is not on PATH: the CDK app runs aws-cdk-lib in Node.js\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
}

func TestLauncherPassesShellcheck(t *testing.T) {
	shellcheck, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatal("shellcheck is not installed (Debian package shellcheck; .ci/run installs it)")
	}
	path := filepath.Join(t.TempDir(), "node")
	if err := os.WriteFile(path, []byte(Launcher), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(shellcheck, path).CombinedOutput(); err != nil {
		t.Errorf("shellcheck of the launcher: %v\n%s", err, out)
	}
}

// The package is initialized before jsii-runtime-go starts the kernel
// (see the package's documentation) only while it imports nothing that
// jsii-runtime-go's runtime does not.
func TestImportsStayWithinJsiis(t *testing.T) {
	deps := func(pkg string) []string {
		t.Helper()
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		return strings.Fields(string(out))
	}
	jsiis := deps("github.com/aws/jsii-runtime-go/runtime")
	for _, dep := range deps("cicd/internal/kernel") {
		if dep != "cicd/internal/kernel" && !slices.Contains(jsiis, dep) {
			t.Errorf("cicd/internal/kernel imports %s, which jsii-runtime-go's runtime does not: "+
				"jsii-runtime-go may start the kernel before this package sets JSII_NODE", dep)
		}
	}
}

func TestFnv64a(t *testing.T) {
	for _, s := range []string{"", "a", Launcher + "\x00" + Preload} {
		h := fnv.New64a()
		h.Write([]byte(s))
		if got, want := fnv64a(s), h.Sum64(); got != want {
			t.Errorf("fnv64a(%.20q) = %x, want hash/fnv's %x", s, got, want)
		}
	}
}

// direct points JSII_NODE at the launcher unless the user chose a runtime.
func TestDirect(t *testing.T) {
	for _, name := range []string{"JSII_NODE", "JSII_RUNTIME"} {
		t.Run(name+" set", func(t *testing.T) {
			t.Setenv("JSII_NODE", "")
			t.Setenv("JSII_RUNTIME", "")
			t.Setenv(name, "/opt/node/bin/node")
			dir := filepath.Join(t.TempDir(), "cache")
			if err := direct(dir); err != nil {
				t.Fatal(err)
			}
			if got := os.Getenv(name); got != "/opt/node/bin/node" {
				t.Errorf("%s = %q, want the user's /opt/node/bin/node", name, got)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s was written (%v), want nothing installed", dir, err)
			}
		})
	}
	t.Run("pool size set", func(t *testing.T) {
		t.Setenv("JSII_NODE", "")
		t.Setenv("JSII_RUNTIME", "")
		t.Setenv(PoolSizeVariable, "3")
		if err := direct(t.TempDir()); err != nil {
			t.Fatal(err)
		}
		if got := os.Getenv(PoolSizeVariable); got != "3" {
			t.Errorf("%s = %q, want the user's 3", PoolSizeVariable, got)
		}
	})
	t.Run("unset", func(t *testing.T) {
		t.Setenv("JSII_NODE", "")
		t.Setenv("JSII_RUNTIME", "")
		t.Setenv(PoolSizeVariable, "")
		dir := t.TempDir()
		if err := direct(dir); err != nil {
			t.Fatal(err)
		}
		launcher := os.Getenv("JSII_NODE")
		if filepath.Dir(filepath.Dir(launcher)) != dir {
			t.Fatalf("JSII_NODE = %q, want the launcher in %s", launcher, dir)
		}
		if got, want := os.Getenv(PoolSizeVariable), fmt.Sprint(poolSize(runtime.GOMAXPROCS(0))); got != want {
			t.Errorf("%s = %q, want %s", PoolSizeVariable, got, want)
		}
		preload, err := os.ReadFile(filepath.Join(filepath.Dir(launcher), "direct.cjs"))
		if err != nil || string(preload) != Preload {
			t.Errorf("direct.cjs beside the launcher: %v, want the preload", err)
		}
	})
}

// A launcher that cannot be run leaves the relay.
func TestDirectWithoutARunnableLauncher(t *testing.T) {
	t.Setenv("JSII_NODE", "")
	t.Setenv("JSII_RUNTIME", "")
	dir := t.TempDir()
	launcher, err := install(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(launcher, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := direct(dir); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("direct with a launcher that cannot run: %v, want permission denied", err)
	}
	if got := os.Getenv("JSII_NODE"); got != "" {
		t.Errorf("JSII_NODE = %q, want it unset (the relay)", got)
	}
}

// Apps started together install the launcher once, each whole.
func TestInstallConcurrently(t *testing.T) {
	dir := t.TempDir()
	paths := make([]string, 8)
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	for i := range paths {
		wg.Go(func() { paths[i], errs[i] = install(dir) })
	}
	wg.Wait()
	for i := range paths {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Errorf("install %d: %q, %v; want %q", i, paths[i], errs[i], paths[0])
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("%d entries in %s, want the launcher's folder alone (no temporary one left)", len(entries), dir)
	}
	if data, err := os.ReadFile(paths[0]); err != nil || string(data) != Launcher {
		t.Errorf("launcher %s: %v, want the launcher", paths[0], err)
	}
}
