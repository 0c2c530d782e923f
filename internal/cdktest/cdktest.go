// Package cdktest holds what the CDK tests of every package share: an app
// with the feature flags and defaults of cdk.json, synthesized once per
// package, and one jsii kernel per test binary.
package cdktest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"cicd/internal/gomod"
	"cicd/internal/kernel"
)

// Main runs the package's tests, with the jsii kernel as a child of the
// test binary (package kernel), and closes the kernel once, so no kernel
// folder is left in the temp dir.
func Main(m *testing.M) {
	if kernel.Err != nil {
		fmt.Fprintln(os.Stderr, "cdktest: the jsii kernel runs behind its relay:", kernel.Err)
	}
	code := m.Run()
	jsii.Close()
	for _, dir := range fixtureDirs {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// fixtureDirs are the folders of TempDir, which outlive the test that made
// them and are removed by Main.
var (
	fixtureMu   sync.Mutex
	fixtureDirs []string
)

// TempDir is a new folder shared by the tests of a binary (a fixture's cloud
// assembly, a built program), removed by Main.
func TempDir() (string, error) {
	dir, err := os.MkdirTemp("", "cdktest-")
	if err != nil {
		return "", err
	}
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	fixtureDirs = append(fixtureDirs, dir)
	return dir, nil
}

var (
	ctxOnce sync.Once
	ctx     map[string]any
	ctxErr  error
)

// Context is the "context" object of cdk.json.
func Context() (map[string]any, error) {
	ctxOnce.Do(func() {
		dir, err := gomod.Root(".")
		if err != nil {
			ctxErr = err
			return
		}
		data, err := os.ReadFile(filepath.Join(dir, "cdk.json"))
		if err != nil {
			ctxErr = err
			return
		}
		var file struct {
			Context map[string]any `json:"context"`
		}
		if err := json.Unmarshal(data, &file); err != nil {
			ctxErr = fmt.Errorf("cdk.json: %w", err)
			return
		}
		ctx = file.Context
	})
	return ctx, ctxErr
}

// NewApp returns an app with cdk.json's context plus overrides. Unless bundle
// is true, asset bundling is skipped: most tests do not need the binary.
func NewApp(t testing.TB, overrides map[string]any, bundle bool) awscdk.App {
	t.Helper()
	app, err := newApp(overrides, bundle, true, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// newApp builds the app of NewApp. Without validate it skips aws-cdk-lib's
// built-in CloudFormation validation: the first validating synth of a
// process loads the validation engine (about 2.5 s on the project machine,
// see BENCHMARKS.md), which construct tests of a partial stack need not pay
// in every package. The whole stack is validated where it is built with
// NewApp (the root package's tests) and in every cdk synth.
func newApp(overrides map[string]any, bundle, validate bool, outdir string) (awscdk.App, error) {
	base, err := Context()
	if err != nil {
		return nil, err
	}
	context := make(map[string]any, len(base)+len(overrides)+1)
	for k, v := range base {
		context[k] = v
	}
	for k, v := range overrides {
		context[k] = v
	}
	if !bundle {
		context["aws:cdk:bundling-stacks"] = []string{}
	}
	return awscdk.NewApp(&awscdk.AppProps{
		Context:                         &context,
		Outdir:                          jsii.String(outdir),
		BuiltinCloudFormationValidation: jsii.Bool(validate),
	}), nil
}

// NewStack returns an empty stack in a new app, for construct tests. Its
// app skips the built-in template validation (see newApp).
func NewStack(t testing.TB) awscdk.Stack {
	t.Helper()
	app, err := newApp(nil, false, false, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return awscdk.NewStack(app, jsii.String("Test"), nil)
}

// Template synthesizes stack and returns its template as assertions and as
// plain JSON, for checks the matchers cannot express.
func Template(stack awscdk.Stack) (assertions.Template, map[string]any) {
	tpl := assertions.Template_FromStack(stack, nil)
	j := *tpl.ToJSON()
	recordSynth(stack, j)
	return tpl, j
}

// SynthLogEnv names a file to which every Template call appends one line:
// the package directory, the stack name and a fingerprint of the template
// and of the app's context. bench/ reads it to count how many synths, and
// how many distinct stacks, each test binary makes: two apps that differ
// in their context are two, even where the test's point is that their
// templates are the same.
const SynthLogEnv = "CICD_TEST_SYNTH_LOG"

var synthLogMu sync.Mutex

func recordSynth(stack awscdk.Stack, tpl map[string]any) {
	path := os.Getenv(SynthLogEnv)
	if path == "" {
		return
	}
	// Map keys are sorted: a stable fingerprint.
	data, err := json.Marshal([]any{tpl, stack.Node().GetAllContext(nil)})
	if err != nil {
		return
	}
	sum := sha256.Sum256(data)
	pkg, _ := os.Getwd()
	if root, err := gomod.Root("."); err == nil {
		if rel, err := filepath.Rel(root, pkg); err == nil {
			pkg = filepath.ToSlash(rel)
		}
	}
	synthLogMu.Lock()
	defer synthLogMu.Unlock()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s\t%s\t%s\n", pkg, *stack.StackName(), hex.EncodeToString(sum[:8]))
}

// Resources returns the template's resources of one type, by logical ID.
func Resources(tpl map[string]any, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	resources, _ := tpl["Resources"].(map[string]any)
	for id, r := range resources {
		res, _ := r.(map[string]any)
		if res["Type"] == typ {
			out[id] = res
		}
	}
	return out
}

// Fixture is an app synthesized once per test binary and shared by the
// tests of a package: one stack for a construct's tests (NewFixture), or
// every stack of an app that the test builds from context (NewAppFixture).
// Its app skips the built-in template validation (see newApp) unless
// Validated, which would cost seconds in every construct package.
type Fixture struct {
	name     string
	app      map[string]any
	bundle   bool
	validate bool
	build    func(app awscdk.App) ([]awscdk.Stack, error)
	once     sync.Once
	err      string
	outdir   string
	stacks   []Stack
}

// Stack is one synthesized stack of a fixture.
type Stack struct {
	// Name is the stack's ID in the app (stack names may repeat, in
	// different accounts).
	Name     string
	Template assertions.Template
	JSON     map[string]any
	// Env is the stack's account/region.
	Env string
	// DependsOn are the IDs of the stacks it waits for.
	DependsOn []string
	// Stack is the stack itself, for what the template does not hold (its
	// annotations).
	Stack awscdk.Stack
}

// NewFixture returns a fixture whose stack build fills, in an app with
// cdk.json's context plus overrides and bundling skipped.
func NewFixture(name string, overrides map[string]any, build func(stack awscdk.Stack)) *Fixture {
	return NewAppFixture(name, overrides, func(app awscdk.App) ([]awscdk.Stack, error) {
		stack := awscdk.NewStack(app, jsii.String("Test"), nil)
		build(stack)
		return []awscdk.Stack{stack}, nil
	})
}

// NewAppFixture returns a fixture of the stacks build adds to an app with
// cdk.json's context plus overrides and bundling skipped: a whole app, as
// its entry point builds it from the context.
func NewAppFixture(name string, overrides map[string]any, build func(app awscdk.App) ([]awscdk.Stack, error)) *Fixture {
	return &Fixture{name: name, app: overrides, build: build}
}

// Bundled makes the fixture bundle its assets, for the tests of the assets
// themselves.
func (f *Fixture) Bundled() *Fixture {
	f.bundle = true
	return f
}

// Validated runs aws-cdk-lib's built-in template validation on the
// fixture's app, as cdk synth does: for the tests of a whole app.
func (f *Fixture) Validated() *Fixture {
	f.validate = true
	return f
}

// Name is the fixture's name, for messages and file names.
func (f *Fixture) Name() string { return f.name }

// Outdir is the folder of the fixture's cloud assembly, valid after Template.
func (f *Fixture) Outdir() string { return f.outdir }

// Stacks synthesizes the fixture on first use and returns its stacks, in
// the order build returned them.
func (f *Fixture) Stacks(t testing.TB) []Stack {
	t.Helper()
	f.once.Do(func() {
		defer func() {
			if r := recover(); r != nil {
				f.err = fmt.Sprint(r)
			}
		}()
		dir, err := TempDir()
		if err != nil {
			f.err = err.Error()
			return
		}
		f.outdir = dir
		app, err := newApp(f.app, f.bundle, f.validate, dir)
		if err != nil {
			f.err = err.Error()
			return
		}
		stacks, err := f.build(app)
		if err != nil {
			f.err = err.Error()
			return
		}
		var synthesized []Stack
		for _, stack := range stacks {
			tpl, j := Template(stack)
			s := Stack{Name: *stack.Node().Id(), Template: tpl, JSON: j, Env: *stack.Account() + "/" + *stack.Region(), Stack: stack}
			for _, d := range *stack.Dependencies() {
				s.DependsOn = append(s.DependsOn, *d.Node().Id())
			}
			synthesized = append(synthesized, s)
		}
		// All or nothing: no test runs on a part of the app.
		f.stacks = synthesized
	})
	if len(f.stacks) == 0 {
		t.Fatalf("fixture %s did not synthesize: %s", f.name, f.err)
	}
	return f.stacks
}

// Template is the template of the fixture's first stack.
func (f *Fixture) Template(t testing.TB) (assertions.Template, map[string]any) {
	t.Helper()
	s := f.Stacks(t)[0]
	return s.Template, s.JSON
}

// Stack is the fixture's stack with that ID.
func (f *Fixture) Stack(t testing.TB, name string) Stack {
	t.Helper()
	for _, s := range f.Stacks(t) {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("fixture %s has no stack %s", f.name, name)
	return Stack{}
}

// Properties returns the Properties of the only resource of typ, failing the
// test unless there is exactly one.
func Properties(t testing.TB, tpl map[string]any, typ string) map[string]any {
	t.Helper()
	found := Resources(tpl, typ)
	if len(found) != 1 {
		t.Fatalf("want one %s, found %d", typ, len(found))
	}
	for _, r := range found {
		props, _ := r["Properties"].(map[string]any)
		return props
	}
	return nil
}

// JSON is v as compact JSON, for comparing template fragments as text.
func JSON(v any) string {
	out, _ := json.Marshal(v)
	return string(out)
}

// Assertions of aws-cdk-lib's assertions module report a mismatch by
// throwing, which reaches Go as a panic and would end the test binary.
// These helpers turn it into one test error that carries the matcher's own
// message, so a wrong expectation fails one test and the others still run.

// HasResourceProperties checks that some resource of typ has props
// (matchers such as assertions.Match_ObjectLike allowed).
func HasResourceProperties(t testing.TB, tpl assertions.Template, typ string, props any) bool {
	t.Helper()
	return check(t, "no "+typ+" with these properties", func() {
		tpl.HasResourceProperties(jsii.String(typ), props)
	})
}

// HasResource checks that some resource of typ matches props, which may
// name the resource's Properties, DeletionPolicy, Metadata and so on.
func HasResource(t testing.TB, tpl assertions.Template, typ string, props any) bool {
	t.Helper()
	return check(t, "no "+typ+" like this", func() {
		tpl.HasResource(jsii.String(typ), props)
	})
}

// AllResources checks that there is a resource of typ and that every one
// matches props, which may name the resource's Properties, DeletionPolicy
// and so on.
func AllResources(t testing.TB, tpl assertions.Template, typ string, props any) bool {
	t.Helper()
	return checkEvery(t, "not every "+typ+" is like this", tpl, typ, func(tpl assertions.Template) {
		tpl.AllResources(jsii.String(typ), props)
	}, func(one assertions.Template) {
		one.HasResource(jsii.String(typ), props)
	})
}

// Retained checks that there is a resource of typ and that every one is
// kept when the stack deletes it (deletionPolicy: Retain, or
// RetainExceptOnCreate where a failed first create may remove it) and when
// an update replaces it. why says what would be lost otherwise.
func Retained(t testing.TB, tpl assertions.Template, typ, deletionPolicy, why string) bool {
	t.Helper()
	policies := map[string]any{"DeletionPolicy": deletionPolicy, "UpdateReplacePolicy": "Retain"}
	what := fmt.Sprintf("%s not retained (want DeletionPolicy %s and UpdateReplacePolicy Retain, or %s)", typ, deletionPolicy, why)
	return checkEvery(t, what, tpl, typ, func(tpl assertions.Template) {
		tpl.AllResources(jsii.String(typ), policies)
	}, func(one assertions.Template) {
		one.HasResource(jsii.String(typ), policies)
	})
}

// AllResourcesProperties checks that every resource of typ has props.
func AllResourcesProperties(t testing.TB, tpl assertions.Template, typ string, props any) bool {
	t.Helper()
	return checkEvery(t, "not every "+typ+" has these properties", tpl, typ, func(tpl assertions.Template) {
		tpl.AllResourcesProperties(jsii.String(typ), props)
	}, func(one assertions.Template) {
		one.HasResourceProperties(jsii.String(typ), props)
	})
}

// ResourcePropertiesCountIs checks that exactly count resources of typ
// have props.
func ResourcePropertiesCountIs(t testing.TB, tpl assertions.Template, typ string, props any, count int) bool {
	t.Helper()
	return check(t, fmt.Sprintf("not %d %s with these properties", count, typ), func() {
		tpl.ResourcePropertiesCountIs(jsii.String(typ), props, jsii.Number(count))
	})
}

// HasOutput checks that the output logicalID ("*" for any) matches props,
// which may name its Value, Description and Export.
func HasOutput(t testing.TB, tpl assertions.Template, logicalID string, props any) bool {
	t.Helper()
	what := "no output " + logicalID + " like this"
	if logicalID == "*" {
		what = "no output like this"
	}
	return check(t, what, func() {
		tpl.HasOutput(jsii.String(logicalID), props)
	})
}

// ResourceCountIs checks the number of resources of typ.
func ResourceCountIs(t testing.TB, tpl assertions.Template, typ string, count int) bool {
	t.Helper()
	return check(t, fmt.Sprintf("not %d %s", count, typ), func() {
		tpl.ResourceCountIs(jsii.String(typ), jsii.Number(count))
	})
}

// Matches checks a value of the template (as plain JSON) against a pattern
// of matchers, for a property found by walking the template.
func Matches(t testing.TB, what string, value, pattern any) bool {
	t.Helper()
	// The value travels as JSON text: jsii would hand a Go map in a value of
	// no declared type to the matcher still wrapped.
	data, err := json.Marshal(map[string]any{"Resources": map[string]any{
		"Value": map[string]any{"Type": "Test::Value", "Properties": map[string]any{"v": value}},
	}})
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return false
	}
	tpl := assertions.Template_FromString(jsii.String(string(data)), &assertions.TemplateParsingOptions{SkipCyclicalDependenciesCheck: jsii.Bool(true)})
	return check(t, what, func() {
		tpl.HasResourceProperties(jsii.String("Test::Value"), map[string]any{"v": pattern})
	})
}

func check(t testing.TB, what string, assert func()) bool {
	t.Helper()
	// Reported here, not in the deferred recover, so that the error names
	// the test's line.
	if msg := recovered(assert); msg != "" {
		t.Errorf("%s: %s", what, strings.TrimSpace(strings.TrimPrefix(msg, "Error: ")))
		return false
	}
	return true
}

// checkEvery runs all, an assertion on every resource of typ. Its message
// only names the resources that do not match; the error adds, for each of
// them, the message of one, the same assertion on that resource alone, which
// shows where it differs.
func checkEvery(t testing.TB, what string, tpl assertions.Template, typ string, all, one func(assertions.Template)) bool {
	t.Helper()
	msg := recovered(func() { all(tpl) })
	if msg == "" {
		return true
	}
	resources := Resources(*tpl.ToJSON(), typ)
	for _, id := range slices.Sorted(maps.Keys(resources)) {
		data, err := json.Marshal(map[string]any{"Resources": map[string]any{id: resources[id]}})
		if err != nil {
			continue
		}
		alone := assertions.Template_FromString(jsii.String(string(data)), &assertions.TemplateParsingOptions{SkipCyclicalDependenciesCheck: jsii.Bool(true)})
		if m := recovered(func() { one(alone) }); m != "" {
			msg += "\n" + id + ": " + strings.TrimSpace(strings.TrimPrefix(m, "Error: "))
		}
	}
	t.Errorf("%s: %s", what, strings.TrimSpace(strings.TrimPrefix(msg, "Error: ")))
	return false
}

// recovered runs f and returns what it panicked with, if anything.
func recovered(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

// Strings is a template value that may be one string or a list of them, as
// an IAM statement's Action, Resource or principal: always a list, in the
// template's order.
func Strings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, s := range v {
			out = append(out, fmt.Sprint(s))
		}
		return out
	}
	return nil
}
