package constructs_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"cicd/internal/cdktest"
)

// appFixture is a whole app: a stack in another account and region that
// the first one waits for. (Not Validated: loading the validation engine
// costs seconds, and the root package's fixtures use it.)
var appFixture = cdktest.NewAppFixture("app", map[string]any{"queueName": "orders"}, func(app awscdk.App) ([]awscdk.Stack, error) {
	name, _ := app.Node().TryGetContext(jsii.String("queueName")).(string)
	main := awscdk.NewStack(app, jsii.String("Main"), nil)
	other := awscdk.NewStack(app, jsii.String("Other"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("222222222222"), Region: jsii.String("us-east-1")},
	})
	awssqs.NewQueue(other, jsii.String("Queue"), nil)
	awssqs.NewQueue(main, jsii.String("Queue"), &awssqs.QueueProps{QueueName: jsii.String(name)})
	main.AddStackDependency(other, jsii.String("test"))
	return []awscdk.Stack{main, other}, nil
})

func TestAppFixture(t *testing.T) {
	stacks := appFixture.Stacks(t)
	var names []string
	for _, s := range stacks {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, []string{"Main", "Other"}) {
		t.Fatalf("stacks %v, want [Main Other] in build's order", names)
	}
	main, other := appFixture.Stack(t, "Main"), appFixture.Stack(t, "Other")
	if !slices.Equal(main.DependsOn, []string{"Other"}) || len(other.DependsOn) != 0 {
		t.Errorf("Main depends on %v, Other on %v, want [Other] and none", main.DependsOn, other.DependsOn)
	}
	if other.Env != "222222222222/us-east-1" {
		t.Errorf("Other's env %s, want 222222222222/us-east-1", other.Env)
	}
	// The overrides reach the app's context; Template is the first stack's.
	tpl, _ := appFixture.Template(t)
	cdktest.HasResourceProperties(t, tpl, "AWS::SQS::Queue", map[string]any{"QueueName": "orders"})
	cdktest.ResourcePropertiesCountIs(t, other.Template, "AWS::SQS::Queue", map[string]any{"QueueName": "orders"}, 0)
}

// fatal records a test's fatal error instead of failing.
type fatal struct {
	testing.TB
	msg string
}

func (f *fatal) Helper() {}

func (f *fatal) Fatalf(format string, args ...any) { f.msg = fmt.Sprintf(format, args...) }

// A fixture whose build fails stops every test that uses it with the
// build's error, and no test gets a part of the app.
func TestAppFixtureFailure(t *testing.T) {
	broken := cdktest.NewAppFixture("broken", nil, func(app awscdk.App) ([]awscdk.Stack, error) {
		awscdk.NewStack(app, jsii.String("Made"), nil)
		return nil, errors.New("config: no pipelines")
	})
	for range 2 {
		rec := &fatal{TB: t}
		if stacks := broken.Stacks(rec); stacks != nil {
			t.Errorf("a broken fixture returned %d stacks", len(stacks))
		}
		if want := "fixture broken did not synthesize: config: no pipelines"; rec.msg != want {
			t.Errorf("fatal error %q, want %q", rec.msg, want)
		}
	}
}

// The tests' jsii kernel runs without its relay (package kernel, which
// cdktest imports): the kernel, lib/program.js, runs under the launcher this
// process started, and no Node.js process runs bin/jsii-runtime.js.
func TestKernelRunsWithoutTheRelay(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads the process table from /proc, which only Linux has")
	}
	appFixture.Stacks(t) // the kernel has started
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	parents := map[string]string{} // pid: ppid
	args := map[string][]string{}
	for _, e := range entries {
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // not a process, or one that ended
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		parents[e.Name()] = fields[1]
		args[e.Name()] = strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
	}
	// The launcher is this process's child, and the kernel its child.
	var descendants [][]string
	for pid, ppid := range parents {
		if ppid == strconv.Itoa(os.Getpid()) || parents[ppid] == strconv.Itoa(os.Getpid()) {
			descendants = append(descendants, args[pid])
		}
	}
	kernels := 0
	for _, a := range descendants {
		program := filepath.Base(a[0])
		if program != "sh" && program != "dash" && slices.ContainsFunc(a, func(s string) bool { return strings.HasSuffix(s, "/bin/jsii-runtime.js") }) {
			t.Errorf("the relay runs: %q", a)
		}
		if slices.ContainsFunc(a, func(s string) bool { return strings.HasSuffix(s, "/lib/program.js") }) {
			kernels++
		}
	}
	if kernels != 1 {
		t.Errorf("%d processes run lib/program.js, want the kernel; this process's children and theirs: %q", kernels, descendants)
	}
}

// The synth log tells apart two apps whose context differs, even where
// their templates are the same.
func TestSynthLogFingerprintsTheContext(t *testing.T) {
	log := filepath.Join(t.TempDir(), "synths.log")
	t.Setenv(cdktest.SynthLogEnv, log)
	build := func(stack awscdk.Stack) { awssqs.NewQueue(stack, jsii.String("Queue"), nil) }
	a := cdktest.NewFixture("log-a", map[string]any{"unread": "a"}, build)
	b := cdktest.NewFixture("log-b", map[string]any{"unread": "b"}, build)
	_, tplA := a.Template(t)
	_, tplB := b.Template(t)
	if !reflect.DeepEqual(tplA, tplB) {
		t.Fatal("the two apps' templates differ; the test wants them the same")
	}
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 || lines[0] == lines[1] {
		t.Errorf("synth log:\n%s\nwant two lines with different fingerprints", data)
	}
}
