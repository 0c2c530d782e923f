// Command bench measures the project's performance targets and writes them
// to BENCHMARKS.md: cdk synth of the default stack against its TypeScript
// twin, apps of many pipelines against the twin's copies of its stack (the
// scale benchmark, with cdk diff and a breakdown of the synth time), the warm
// test suite, and the validator Lambda's size, init and warm
// invocation under the Lambda Runtime Interface Emulator. Runs of the
// different commands are interleaved round by round and reported as medians,
// so that a burst of load on the machine touches every column alike.
//
// Run it through bench/run from the repository root.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

type bench struct {
	root string // repository root (holds go.mod and cdk.json)
	work string // scratch folder, removed at the end
	env  []string
	log  *os.File
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "%s bench: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// results is everything one run of the benchmark measured.
type results struct {
	Started, Finished time.Time
	Rounds            int
	Machine           machine
	Targets           []synthTarget
	Synth             map[string][]synthRun
	// Memory holds each synth command's runs with the memory sampler on,
	// after its timed rounds: the peak memory figures come from them, the
	// times from Synth.
	Memory          map[string][]synthRun
	JSII            jsiiProfile
	Tests           []testRun
	TestFailures    []string
	UncountedSynths []string
	Arm64, Amd64    lambdaBuild
	Emulator        []emulatorRun
	EmulatorSkipped string
	Warm            int
	// The scale benchmark: pipeline counts, its targets (runs in Synth),
	// its rounds, and the diffs at the smallest and largest count.
	Scale        []int
	ScaleTargets []synthTarget
	ScaleRounds  int
	Diffs        []diffRun
}

func main() {
	rounds := flag.Int("rounds", 5, "rounds of interleaved runs; every figure is a median over them")
	tsDir := flag.String("ts", "", "TypeScript twin to compare synth with (default: ../shared/bench/ts-reference from the repository root; skipped when absent)")
	out := flag.String("out", "BENCHMARKS.md", "report to write, relative to the repository root; its generated section is replaced, the rest kept")
	only := flag.String("only", "synth,test,lambda,scale", "comma-separated parts to measure: synth, test, lambda, scale")
	scale := flag.String("scale", "1,5,20", "pipeline counts of the scale benchmark")
	scaleRounds := flag.Int("scale-rounds", 3, "rounds of the scale benchmark (an app of 20 pipelines takes half a minute to synthesize)")
	warm := flag.Int("warm", 20, "warm invocations of the validator per round")
	testRounds := flag.Int("test-rounds", 3, "rounds that also run the test suite (the slowest part), at most --rounds")
	flag.Parse()
	if *rounds < 1 || *warm < 1 || *testRounds < 1 || *scaleRounds < 1 {
		fmt.Fprintln(os.Stderr, "error: --rounds, --test-rounds, --scale-rounds and --warm must be at least 1")
		os.Exit(2)
	}
	parts := map[string]bool{}
	for _, p := range strings.Split(*only, ",") {
		switch p = strings.TrimSpace(p); p {
		case "synth", "test", "lambda", "scale":
			parts[p] = true
		default:
			fmt.Fprintf(os.Stderr, "error: --only %q: use synth, test, lambda and/or scale\n", p)
			os.Exit(2)
		}
	}
	ns, err := parseScale(*scale)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error: "+err.Error())
		os.Exit(2)
	}
	opts := options{rounds: *rounds, testRounds: min(*testRounds, *rounds), scaleRounds: *scaleRounds, scale: ns, tsDir: *tsDir, out: *out, parts: parts, warm: *warm}
	if err := mainErr(opts); err != nil {
		fmt.Fprintln(os.Stderr, "error: "+err.Error())
		os.Exit(1)
	}
}

// options are the command line's.
type options struct {
	rounds, testRounds, scaleRounds int
	scale                           []int
	tsDir, out                      string
	parts                           map[string]bool
	warm                            int
}

func mainErr(o options) error {
	rounds, testRounds, tsDir, outFile, parts, warm := o.rounds, o.testRounds, o.tsDir, o.out, o.parts, o.warm
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "cicd-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	b := &bench{root: root, work: work, env: os.Environ(), log: os.Stderr}
	res := &results{Started: time.Now().UTC(), Rounds: rounds, Synth: map[string][]synthRun{}, Memory: map[string][]synthRun{}, Warm: warm}
	res.Machine = b.machine()

	// Preparation, outside the timed rounds.
	var ts *synthTarget
	if parts["synth"] || parts["scale"] {
		if tsDir == "" {
			tsDir = filepath.Join(root, "..", "shared", "bench", "ts-reference")
		}
		if fi, err := os.Stat(tsDir); err == nil && fi.IsDir() {
			b.logf("preparing the TypeScript twin from %s", tsDir)
			dst, err := b.prepareTS(tsDir)
			if err != nil {
				return err
			}
			res.Machine.TSLib = packageVersion(filepath.Join(dst, "node_modules", "aws-cdk-lib", "package.json"))
			ts = &synthTarget{Key: "ts", Label: "TypeScript twin (`node dist/bin/app.js`)", Dir: dst, App: []string{"node", "dist/bin/app.js"}, Env: b.tsEnv()}
		} else {
			b.logf("no TypeScript twin at %s: synth is measured without the comparison", tsDir)
		}
	}
	if parts["synth"] {
		res.Targets = append(res.Targets,
			synthTarget{Key: "go", Label: "Go, cdk.json app (`sh .ci/app`: the stamp check, then the built app)", Dir: root},
			synthTarget{Key: "gocold", Label: "Go, cdk.json app, empty bundle cache (the asset is built)", Dir: root, ColdBundle: true})
		bin := filepath.Join(work, "cicd-app")
		b.logf("building the app binary")
		if _, err := measure(root, b.env, "go", "build", "-o", bin, "."); err != nil {
			return err
		}
		res.Targets = append(res.Targets, synthTarget{Key: "gobin", Label: "Go, prebuilt app binary (`--app`)", Dir: root, App: []string{bin}})
		if ts != nil {
			res.Targets = append(res.Targets, *ts)
		}
		// One unmeasured synth each: the Go build cache, the jsii package
		// cache and the file cache are then as warm as a developer's.
		for _, t := range res.Targets {
			b.logf("warm-up synth: %s", t.Key)
			if _, err := b.synth(t, "warmup"); err != nil {
				return err
			}
		}
		b.logf("jsii traffic of one synth (JSII_DEBUG=1)")
		res.JSII = b.profileJSII(res.Targets[2])
	}
	if parts["test"] {
		b.logf("warming the build cache for go test")
		if _, err := measure(root, b.env, "go", "test", "-count=1", "-run", "^$", "./..."); err != nil {
			return err
		}
		res.UncountedSynths = b.uncountedSynthSites()
	}
	rie := ""
	if parts["lambda"] {
		b.logf("building the validator (linux/arm64 as the stack does, and linux/amd64 to run here)")
		if res.Arm64, err = b.buildValidator("arm64"); err != nil {
			return err
		}
		if res.Amd64, err = b.buildValidator("amd64"); err != nil {
			return err
		}
		// A second arm64 build is what bundling costs with a warm cache.
		if again, err := b.buildValidator("arm64"); err == nil {
			res.Arm64.Wall = again.Wall
		}
		if rie = b.findRIE(); rie == "" {
			res.EmulatorSkipped = "aws-lambda-rie not found (install it as .ci/run does)"
			b.logf("%s", res.EmulatorSkipped)
		}
	}

	for round := range rounds {
		tag := strconv.Itoa(round)
		// Rotate the order so that no command always runs first.
		n := len(res.Targets)
		for i := range n {
			t := res.Targets[(i+round)%n]
			b.logf("round %d/%d: synth %s", round+1, rounds, t.Key)
			r, err := b.synth(t, tag)
			if err != nil {
				return err
			}
			res.Synth[t.Key] = append(res.Synth[t.Key], r)
		}
		// The emulator before the test suite, not while the suite's servers
		// and processes are still ending.
		if rie != "" {
			b.logf("round %d/%d: validator under the emulator", round+1, rounds)
			er, err := b.emulator(rie, res.Amd64.Path, warm)
			if err != nil {
				return err
			}
			res.Emulator = append(res.Emulator, er)
		}
		if parts["test"] && round < testRounds {
			b.logf("round %d/%d: go test -count=1 ./...", round+1, rounds)
			r, err := b.goTest(tag)
			if err != nil {
				res.TestFailures = append(res.TestFailures, firstLine(err.Error()))
				b.logf("go test failed: %v", err)
			} else {
				res.Tests = append(res.Tests, r)
			}
		}
	}
	if err := b.memoryRuns(res, res.Targets); err != nil {
		return err
	}
	if parts["scale"] {
		if err := b.runScale(res, o, ts); err != nil {
			return err
		}
	}
	res.Finished = time.Now().UTC()
	res.Machine.LoadEnd = loadAvg()

	report := render(res)
	fmt.Println(report)
	path := outFile
	if !filepath.IsAbs(path) {
		path = filepath.Join(root, path)
	}
	if err := writeReport(path, report); err != nil {
		return err
	}
	b.logf("wrote %s", path)
	return nil
}

// machine describes where the figures were taken.
type machine struct {
	CPU, Cores, RAM      string
	Go, Node, CLI, GoLib string
	TSLib                string
	LoadStart, LoadEnd   string
}

func (b *bench) machine() machine {
	m := machine{Cores: strconv.Itoa(runtime.NumCPU()), LoadStart: loadAvg()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				m.RAM = fmt.Sprintf("%.1f GiB", kb/(1<<20))
			}
		}
	}
	m.Go = b.output("go", "env", "GOVERSION")
	m.Node = b.output(b.nodeBin(), "--version")
	if m.Node != b.output("node", "--version") {
		m.Node += " (pinned in package.json; the machine's is " + b.output("node", "--version") + ")"
	}
	m.CLI = strings.Fields(b.output("npx", "cdk", "--version") + " ?")[0]
	m.GoLib = b.output("go", "list", "-m", "-f", "{{.Version}}", "github.com/aws/aws-cdk-go/awscdk/v2")
	return m
}

func (b *bench) output(name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = b.root, b.env
	out, err := cmd.Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

// nodeBin is the Node.js that npx runs the CDK CLI and the jsii kernel on
// in the repository: the one package.json pins, if it pins one.
func (b *bench) nodeBin() string {
	pinned := filepath.Join(b.root, "node_modules", ".bin", "node")
	if _, err := os.Stat(pinned); err == nil {
		return pinned
	}
	return "node"
}

// tsEnv runs the TypeScript twin on the same Node.js as the Go app, so that
// the comparison is of the two languages, not of two Node versions.
func (b *bench) tsEnv() []string {
	bin := filepath.Join(b.root, "node_modules", ".bin")
	env := make([]string, 0, len(b.env))
	for _, kv := range b.env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			kv = "PATH=" + bin + string(os.PathListSeparator) + v
		}
		env = append(env, kv)
	}
	return env
}

func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func packageVersion(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "?"
	}
	const key = `"version": "`
	if i := strings.Index(string(data), key); i >= 0 {
		rest := string(data)[i+len(key):]
		if j := strings.IndexByte(rest, '"'); j >= 0 {
			return rest[:j]
		}
	}
	return "?"
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "cdk.json")); err == nil {
				return d, nil
			}
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod with a cdk.json in %s or above", dir)
		}
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func itoa(i int) string { return strconv.Itoa(i) }

// memoryRuns synthesizes each target once more with the memory sampler on,
// after its timed rounds, for the peak memory figures (results.Memory).
func (b *bench) memoryRuns(res *results, targets []synthTarget) error {
	for _, t := range targets {
		b.logf("peak memory: synth %s with the sampler", t.Key)
		r, err := b.synthMemory(t)
		if err != nil {
			return err
		}
		res.Memory[t.Key] = append(res.Memory[t.Key], r)
	}
	return nil
}

// runScale synthesizes the apps of each pipeline count, Go and TypeScript
// interleaved in rotating order, then times cdk diff at the smallest and
// largest count.
func (b *bench) runScale(res *results, o options, ts *synthTarget) error {
	targets, err := b.scaleTargets(o.scale, ts)
	if err != nil {
		return err
	}
	res.Scale, res.ScaleTargets, res.ScaleRounds = o.scale, targets, o.scaleRounds
	for _, t := range targets {
		b.logf("scale warm-up synth: %s", t.Key)
		if _, err := b.synth(t, "warmup"); err != nil {
			return err
		}
	}
	for round := range o.scaleRounds {
		n := len(targets)
		for i := range n {
			t := targets[(i+round)%n]
			b.logf("scale round %d/%d: synth %s", round+1, o.scaleRounds, t.Key)
			r, err := b.synth(t, "scale"+strconv.Itoa(round))
			if err != nil {
				return err
			}
			res.Synth[t.Key] = append(res.Synth[t.Key], r)
		}
	}
	if err := b.memoryRuns(res, targets); err != nil {
		return err
	}
	for _, n := range []int{o.scale[0], o.scale[len(o.scale)-1]} {
		for _, t := range targets {
			if t.Key == scaleKey("go", n) {
				b.logf("cdk diff against a saved template: %s", t.Key)
				res.Diffs = append(res.Diffs, b.measureDiff(t, o.scaleRounds))
			}
		}
		if len(o.scale) == 1 {
			break
		}
	}
	return nil
}
