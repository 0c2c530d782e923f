// Package cdktest holds what the CDK tests of every package share: an app
// with the feature flags and defaults of cdk.json, synthesized once per
// package, and one jsii kernel per test binary.
package cdktest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// Main runs the package's tests and closes the jsii kernel once, so no
// kernel folder is left in the temp dir.
func Main(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

var (
	rootOnce sync.Once
	root     string
	rootErr  error
	ctxOnce  sync.Once
	ctx      map[string]any
	ctxErr   error
)

// ModuleRoot is the folder that holds go.mod.
func ModuleRoot() (string, error) {
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = err
			return
		}
		for d := dir; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				root = d
				return
			}
			if filepath.Dir(d) == d {
				rootErr = fmt.Errorf("no go.mod above %s", dir)
				return
			}
		}
	})
	return root, rootErr
}

// Context is the "context" object of cdk.json.
func Context() (map[string]any, error) {
	ctxOnce.Do(func() {
		dir, err := ModuleRoot()
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
	base, err := Context()
	if err != nil {
		t.Fatal(err)
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
	return awscdk.NewApp(&awscdk.AppProps{Context: &context, Outdir: jsii.String(t.TempDir())})
}

// NewStack returns an empty stack in a new app, for construct tests.
func NewStack(t testing.TB) awscdk.Stack {
	t.Helper()
	return awscdk.NewStack(NewApp(t, nil, false), jsii.String("Test"), nil)
}

// Template synthesizes stack and returns its template as assertions and as
// plain JSON, for checks the matchers cannot express.
func Template(stack awscdk.Stack) (assertions.Template, map[string]any) {
	tpl := assertions.Template_FromStack(stack, nil)
	return tpl, *tpl.ToJSON()
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
