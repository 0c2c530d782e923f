package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"cicd/internal/dataguard"
)

// The app itself, built once and synthesized as `cdk synth` runs it (cdk.json's
// context in CDK_CONTEXT_JSON) with the defaults and two changes: another
// environmentSuffix (a new stack name, so the old stack and its data go) and
// the connection source (no CodeCommit repository; the rest is updated in
// place).
func TestSynthesizedApp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and synthesizes the app three times (-short)")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "cicd")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the app: %v\n%s", err, out)
	}
	variants := map[string]map[string]any{
		"defaults": nil,
		"staging":  {"environmentSuffix": "staging"},
		"connection": {
			"sourceProvider": "connection",
			"connectionArn":  "arn:aws:codeconnections:eu-west-1:123456789012:connection/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
			"githubRepo":     "octo-org/service",
		},
		// Every type of the multi-account app, for the schema check.
		"accounts": exampleContext(t, filepath.Join(root, "examples", "accounts.json")),
	}
	out := map[string]string{}
	errs := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, overrides := range variants {
		out[name] = filepath.Join(dir, name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := synth(root, bin, out[name], overrides)
			mu.Lock()
			errs[name] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	for name, err := range errs {
		if err != nil {
			t.Fatalf("synthesize %s: %v", name, err)
		}
	}

	t.Run("every synthesized type is in the schemas", func(t *testing.T) {
		schemas := dataguard.EmbeddedSchemas()
		types := map[string]bool{}
		for _, d := range out {
			a, err := dataguard.LoadAssembly(d)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range a.Stacks {
				for _, r := range s.Template.Resources {
					types[r.Type] = true
				}
			}
		}
		if len(types) < 10 {
			t.Fatalf("only %d resource types synthesized: %v", len(types), types)
		}
		for typ := range types {
			if _, ok := schemas.CreateOnly(typ); !ok {
				t.Errorf("%s is not in createonly.json: run go generate ./internal/dataguard with a cfn-lint that knows it", typ)
			}
		}
	})

	t.Run("another suffix removes the stack and its data", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		code := run([]string{"-cdk=none", out["defaults"], out["staging"]}, &stdout, &stderr, nil)
		text := stdout.String()
		if code != 1 || stderr.Len() > 0 {
			t.Fatalf("exit code %d, stderr %q, want 1:\n%s", code, stderr.String(), text)
		}
		data := []string{
			"ArtifactsAccessLogs4D97777C (AWS::S3::Bucket",
			"ArtifactsBucket88671897 (AWS::S3::Bucket",
			"EncryptionKey3A692D6E (AWS::KMS::Key",
			"HistoryTable4479EEA3 (AWS::DynamoDB::Table",
			"PipelineRepository8C6A768A (AWS::CodeCommit::Repository",
			"RegistryRepositoryC6C96DCD (AWS::ECR::Repository",
		}
		got := findingLines(text)
		if len(got) != len(data) {
			t.Errorf("%d findings, want %d:\n%s", len(got), len(data), text)
		}
		for _, d := range data {
			if !strings.Contains(text, "NOT ACCEPTED: removed with its stack: stack cicd-pipeline-dev, "+d) {
				t.Errorf("no finding for %s", d)
			}
		}
		base, err := dataguard.LoadAssembly(out["defaults"])
		if err != nil || len(base.Stacks) != 1 {
			t.Fatalf("the default app's assembly: %v, %d stacks", err, len(base.Stacks))
		}
		removed := fmt.Sprintf("cicd-pipeline-dev: 0 added, 0 changed, 0 replaced, %d removed (stack removed)", len(base.Stacks[0].Template.Resources))
		for _, want := range []string{
			"note: a changed logical ID? The pull request adds RegistryRepositoryC6C96DCD in stack cicd-pipeline-staging, of the same type with similar properties",
			removed,
			"(new stack)",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("output lacks %q:\n%s", want, text)
			}
		}
	})

	t.Run("with the label the change passes, naming who accepted it", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"-cdk=none", "-accept-all-by", "octocat", out["defaults"], out["staging"]}, &stdout, &stderr, nil); code != 0 {
			t.Fatalf("exit code %d, want 0:\n%s%s", code, stdout.String(), stderr.String())
		}
		if n := strings.Count(stdout.String(), "accepted by octocat (pull-request label allow-data-replacement)"); n != 6 {
			t.Errorf("%d acceptances by octocat, want 6:\n%s", n, stdout.String())
		}
	})

	// Changing the source rewrites the pipeline, its roles and rules in
	// place; the one thing that holds data and goes is the repository.
	connection := func(t *testing.T, cdk string) string {
		var stdout, stderr bytes.Buffer
		code := run([]string{"-cdk", cdk, out["defaults"], out["connection"]}, &stdout, &stderr, nil)
		text := stdout.String()
		if code != 1 || stderr.Len() > 0 {
			t.Fatalf("exit code %d, stderr %q, want 1:\n%s", code, stderr.String(), text)
		}
		if got := findingLines(text); len(got) != 1 || !strings.HasPrefix(got[0], "NOT ACCEPTED: removed: stack cicd-pipeline-dev, PipelineRepository8C6A768A (AWS::CodeCommit::Repository, holds data)") {
			t.Errorf("findings %q, want only the CodeCommit repository's removal:\n%s", got, text)
		}
		if !inPlace.MatchString(text) {
			t.Errorf("the summary does not count the in-place changes:\n%s", text)
		}
		return text
	}
	t.Run("the connection source removes only the CodeCommit repository", func(t *testing.T) {
		connection(t, "none")
	})
	t.Run("the toolkit agrees", func(t *testing.T) {
		cli := moduleCLI(t)
		text := connection(t, cli.Path)
		if !strings.Contains(text, "and from the replacement markers of cdk diff") {
			t.Errorf("cdk diff was not used:\n%s", text)
		}
	})
}

// inPlace is the summary of a stack with changes in place and no replacement.
var inPlace = regexp.MustCompile(`(?m)^cicd-pipeline-dev: \d+ added, [1-9]\d* changed, 0 replaced, \d+ removed$`)

// findingLines are the first lines of the findings in a text report.
func findingLines(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "NOT ACCEPTED: ") || strings.HasPrefix(l, "accepted: ") {
			out = append(out, l)
		}
	}
	return out
}

// synth runs the app binary as the CDK CLI does, into outdir, with cdk.json's
// context plus overrides, without bundling the Lambda asset.
// exampleContext is an example configuration of examples/, as context.
func exampleContext(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var context map[string]any
	if err := json.Unmarshal(data, &context); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return context
}

func synth(root, bin, outdir string, overrides map[string]any) error {
	data, err := os.ReadFile(filepath.Join(root, "cdk.json"))
	if err != nil {
		return err
	}
	var file struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return fmt.Errorf("cdk.json: %w", err)
	}
	for k, v := range overrides {
		file.Context[k] = v
	}
	file.Context["aws:cdk:bundling-stacks"] = []string{}
	ctx, err := json.Marshal(file.Context)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outdir, 0o755); err != nil {
		return err
	}
	cmd := exec.Command(bin)
	cmd.Dir = root
	path := os.Getenv("PATH")
	// The Node that npm ci installed, as npx would pick it.
	if _, err := os.Stat(filepath.Join(root, "node_modules", ".bin", "node")); err == nil {
		path = filepath.Join(root, "node_modules", ".bin") + string(os.PathListSeparator) + path
	}
	cmd.Env = append(os.Environ(), "CDK_CONTEXT_JSON="+string(ctx), "CDK_OUTDIR="+outdir, "PATH="+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v\n%s", err, out)
	}
	return nil
}
