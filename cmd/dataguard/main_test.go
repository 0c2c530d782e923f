package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cicd/internal/dataguard"
)

// cannedToolkit stands in for the CDK CLI: it answers with the text the real
// CLI printed for the same fixtures (testdata/cdk-diff/<pr>/<stack>.txt,
// checked against the CLI by TestCannedDiffsMatchTheCLI).
type cannedToolkit struct{}

func (cannedToolkit) Name() string { return "cdk diff (canned)" }

func (cannedToolkit) Diff(_ context.Context, assemblyDir string, stack *dataguard.Stack, _ string) (string, error) {
	data, err := os.ReadFile(cannedPath(assemblyDir, stack))
	return string(data), err
}

func cannedPath(assemblyDir string, stack *dataguard.Stack) string {
	return filepath.Join("testdata", "cdk-diff", filepath.Base(assemblyDir), strings.ReplaceAll(stack.HierarchicalID, "/", "_")+".txt")
}

func td(name string) string { return filepath.Join("testdata", name) }

func TestScenarios(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		toolkit dataguard.Toolkit
		code    int
		want    []string
		notWant []string
	}{
		{
			name: "unchanged",
			args: []string{"-cdk=none", td("base"), td("base")},
			want: []string{"data guard: passed: nothing that holds data is replaced or removed (3 stacks compared)"},
		},
		{
			name: "in-place changes pass",
			args: []string{"-cdk=none", td("base"), td("pr-inplace")},
			want: []string{
				"data guard: passed",
				"cicd-orders: 0 added, 4 changed, 0 replaced, 0 removed; Outputs changed",
				"cicd-orders-support (Support, aws://111111111111/us-east-1): 0 added, 1 changed, 0 replaced, 0 removed",
				"cicd-orders (Prod/Orders, aws://333333333333/eu-west-1): 0 added, 1 changed, 0 replaced, 0 removed",
			},
			notWant: []string{"NOT ACCEPTED", "What to do"},
		},
		{
			name: "renamed logical ID",
			args: []string{"-cdk=none", td("base"), td("pr-renamed")},
			code: 1,
			want: []string{
				"NOT ACCEPTED: removed: stack cicd-orders, History (AWS::DynamoDB::Table, holds data)",
				"why: the logical ID is no longer in the stack's template",
				"the update leaves it in the account, outside any stack (DeletionPolicy Retain)",
				"note: a changed logical ID? The pull request adds HistoryTable, of the same type with similar properties",
				`What to do: README.md, Operations, "When a pull request replaces or removes data"`,
			},
		},
		{
			name: "bucket name forces replacement",
			args: []string{"-cdk=none", td("base"), td("pr-bucketname")},
			code: 1,
			want: []string{
				"NOT ACCEPTED: replaced: stack cicd-orders, Artifacts (AWS::S3::Bucket, holds data)",
				"why: /properties/BucketName: changes, and it is create-only in the resource schema",
				"UpdateReplacePolicy Retain",
				"cicd-orders: 0 added, 0 changed, 1 replaced, 0 removed",
			},
		},
		{
			// The schemas leave a table's KeySchema out of createOnlyProperties;
			// only the toolkit knows that it forces replacement.
			name: "key schema without cdk diff: the schemas do not see it, and the output says so",
			args: []string{"-cdk=none", td("base"), td("pr-keyschema")},
			want: []string{"data guard: passed", "cdk diff was not used (-cdk=none)", "cicd-orders: 0 added, 1 changed, 0 replaced"},
		},
		{
			name:    "key schema with cdk diff",
			args:    []string{td("base"), td("pr-keyschema")},
			toolkit: cannedToolkit{},
			code:    1,
			want: []string{
				"NOT ACCEPTED: replaced: stack cicd-orders, History (AWS::DynamoDB::Table, holds data)",
				"why: /properties/KeySchema: requires replacement (cdk diff)",
				"and from the replacement markers of cdk diff (canned)",
			},
			notWant: []string{"AttributeDefinitions:"},
		},
		{
			name: "removed stack",
			args: []string{"-cdk=none", td("base"), td("pr-stack-removed")},
			code: 1,
			want: []string{
				"NOT ACCEPTED: removed with its stack: stack cicd-orders-support (Support, aws://111111111111/us-east-1), ReplicationBucket (AWS::S3::Bucket, holds data)",
				"why: the stack is no longer in the pull request's assembly",
				"cicd-orders-support (Support, aws://111111111111/us-east-1): 0 added, 0 changed, 0 replaced, 2 removed (stack removed)",
			},
			// The role holds no data.
			notWant: []string{"CrossAccountRole (AWS::IAM::Role"},
		},
		{
			name: "new stack",
			args: []string{"-cdk=none", td("base"), td("pr-new-stack")},
			want: []string{"data guard: passed", "cicd-billing (Billing, aws://222222222222/eu-west-1): 1 added, 0 changed, 0 replaced, 0 removed (new stack)"},
		},
		{
			name: "nested assembly in another account and region",
			args: []string{"-cdk=none", td("base"), td("pr-nested")},
			code: 1,
			want: []string{
				"NOT ACCEPTED: replaced: stack cicd-orders (Prod/Orders, aws://333333333333/eu-west-1), History (AWS::DynamoDB::Table, holds data)",
				"why: /properties/TableName: changes, and it is create-only in the resource schema",
				"cicd-orders: 0 added, 0 changed, 0 replaced, 0 removed",
			},
		},
		{
			name:    "nested assembly with cdk diff: both sources name the property",
			args:    []string{td("base"), td("pr-nested")},
			toolkit: cannedToolkit{},
			code:    1,
			want:    []string{"why: /properties/TableName: changes, and it is create-only in the resource schema; requires replacement (cdk diff)"},
		},
		{
			name: "accepted by file",
			args: []string{"-cdk=none", "-accept", td("accept/bucketname.json"), td("base"), td("pr-bucketname")},
			want: []string{
				"data guard: passed: 1 finding, all accepted",
				"accepted: replaced: stack cicd-orders, Artifacts (AWS::S3::Bucket, holds data)",
				"accepted by alice (" + td("accept/bucketname.json") + "): the artifacts expire after 30 days",
			},
			notWant: []string{"NOT ACCEPTED"},
		},
		{
			name: "accepted by label",
			args: []string{"-cdk=none", "-accept-all-by", "bob", td("base"), td("pr-renamed")},
			want: []string{
				"data guard: passed: 1 finding, all accepted",
				"accepted: removed: stack cicd-orders, History (AWS::DynamoDB::Table, holds data)",
				"accepted by bob (pull-request label allow-data-replacement)\n",
			},
		},
		{
			name: "an entry for another resource accepts nothing, and fails as unused",
			args: []string{"-cdk=none", "-accept", td("accept/bucketname.json"), td("base"), td("pr-renamed")},
			code: 1,
			want: []string{
				"NOT ACCEPTED: removed: stack cicd-orders, History",
				"error: " + td("accept/bucketname.json") + " accepts cicd-orders Artifacts, which this pull request neither replaces nor removes: delete the entry",
			},
		},
		{
			name: "an unused entry fails even with the label",
			args: []string{"-cdk=none", "-accept-all-by", "bob", "-accept", td("accept/bucketname.json"), td("base"), td("pr-renamed")},
			code: 1,
			want: []string{"accepted by bob", "failed: 1 error", "accepts cicd-orders Artifacts, which this pull request neither replaces nor removes"},
		},
		{
			name: "an entry names the stack's environment",
			args: []string{"-cdk=none", "-accept", td("accept/nested.json"), td("base"), td("pr-nested")},
			want: []string{"accepted by carol (" + td("accept/nested.json") + "): prod history copied to the new table first"},
		},
		{
			name: "an entry for the same stack name in another environment accepts nothing",
			args: []string{"-cdk=none", "-accept", td("accept/nested-other-env.json"), td("base"), td("pr-nested")},
			code: 1,
			want: []string{"NOT ACCEPTED: replaced: stack cicd-orders (Prod/Orders", "accepts cicd-orders History (aws://111111111111/us-east-1), which this pull request neither replaces nor removes"},
		},
		{
			name: "no base assembly: not judged",
			args: []string{"-cdk=none", "-no-base", "the base branch did not synthesize", td("pr-inplace")},
			code: 1,
			want: []string{
				"NOT ACCEPTED: not compared: the whole pull request",
				"why: the base branch did not synthesize: nothing to compare the pull request with",
				"cicd-orders: 6 added, 0 changed, 0 replaced, 0 removed (new stack)",
			},
		},
		{
			name: "no base assembly, with the label",
			args: []string{"-cdk=none", "-no-base", "the base branch did not synthesize", "-accept-all-by", "bob", td("pr-inplace")},
			want: []string{"accepted: not compared: the whole pull request", "accepted by bob"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr, tc.toolkit)
			out := stdout.String()
			if code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
			if stderr.Len() > 0 {
				t.Errorf("stderr: %s", stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output has %q", w)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}

// Bad usage and unreadable input: exit 2 and one line on stderr.
func TestUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no arguments", nil, "usage: dataguard [flags] BASE_CDK_OUT PR_CDK_OUT (got 0 arguments)"},
		{"one argument", []string{td("base")}, "(got 1 argument)"},
		{"three arguments", []string{td("base"), td("base"), td("base")}, "(got 3 arguments)"},
		{"no-base takes one", []string{"-no-base", "x", td("base"), td("base")}, "usage: dataguard -no-base REASON [flags] PR_CDK_OUT (got 2 arguments)"},
		{"unknown flag", []string{"-accept-all", td("base"), td("base")}, "flag provided but not defined: -accept-all"},
		{"missing base", []string{td("nothing"), td("base")}, "base assembly: " + td("nothing") + " has no manifest.json"},
		{"not an assembly", []string{td("base"), td("accept")}, "pull request's assembly: " + td("accept") + " has no manifest.json"},
		{"broken template", []string{td("base"), td("broken")}, "is not a JSON template"},
		{"global switch in the accept file", []string{"-accept", td("accept/global.json"), td("base"), td("base")}, `unknown field "all"`},
		{"pattern in the accept file", []string{"-accept", td("accept/pattern.json"), td("base"), td("base")}, "must be exact names, not patterns"},
		{"entry without who", []string{"-accept", td("accept/no-by.json"), td("base"), td("base")}, "entry 1 has no by"},
		{"accept file missing", []string{"-accept", td("accept/none.json"), td("base"), td("base")}, "no such file"},
		{"login with a space", []string{"-accept-all-by", "bob smith", td("base"), td("base")}, `-accept-all-by "bob smith" is not a login`},
		{"cdk not found", []string{"-cdk", td("no-cdk"), td("base"), td("base")}, "-cdk " + td("no-cdk")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr, nil)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "error: ") || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr %q, want one error line with %q", stderr.String(), tc.want)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}

// The comment: the guard's result first, then each stack's diff (folded
// when unchanged), then one summary line per stack.
func TestMarkdown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "comment.md")
	var stdout, stderr bytes.Buffer
	code := run([]string{"-markdown", path, "-readme", "https://example.com/README.md#when-a-pull-request-replaces-or-removes-data",
		td("base"), td("pr-keyschema")}, &stdout, &stderr, cannedToolkit{})
	if code != 1 || stderr.Len() > 0 {
		t.Fatalf("exit code %d, stderr %q", code, stderr.String())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	md := string(data)
	order := []string{
		"#### Data guard: failed: 1 of 1 finding is not accepted",
		"| **not accepted** | replaced | `cicd-orders` | `History` | `AWS::DynamoDB::Table` (holds data) | /properties/KeySchema: requires replacement (cdk diff)",
		"What to do: [README, Operations](https://example.com/README.md#when-a-pull-request-replaces-or-removes-data)",
		"#### Stacks",
		"<details><summary><code>cicd-orders-support</code> (Support, aws://111111111111/us-east-1): no changes</summary>",
		"<details><summary><code>cicd-orders</code> (Prod/Orders, aws://333333333333/eu-west-1): no changes</summary>",
		"<details open><summary><code>cicd-orders</code>: 0 added, 0 changed, 1 replaced, 0 removed</summary>",
		" └─ [~] KeySchema (requires replacement)",
		"#### Summary",
		"- `cicd-orders-support` (Support, aws://111111111111/us-east-1): 0 added, 0 changed, 0 replaced, 0 removed",
		"- `cicd-orders` (Prod/Orders, aws://333333333333/eu-west-1): 0 added, 0 changed, 0 replaced, 0 removed",
		"- `cicd-orders`: 0 added, 0 changed, 1 replaced, 0 removed",
	}
	at := 0
	for _, want := range order {
		i := strings.Index(md[at:], want)
		if i < 0 {
			t.Fatalf("after byte %d the comment lacks %q:\n%s", at, want, md)
		}
		at += i + len(want)
	}
	if !strings.Contains(stdout.String(), "NOT ACCEPTED") {
		t.Errorf("the text report still goes to stdout: %q", stdout.String())
	}
}

// Who accepted what is in the comment too.
func TestMarkdownNamesWhoAccepted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "comment.md")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-cdk=none", "-markdown", path, "-accept", td("accept/bucketname.json"), td("base"), td("pr-bucketname")}, &stdout, &stderr, nil); code != 0 {
		t.Fatalf("exit code %d:\n%s%s", code, stdout.String(), stderr.String())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("| accepted by alice (%s): the artifacts expire after 30 days; the old bucket is emptied and deleted by hand | replaced | `cicd-orders` | `Artifacts` |", td("accept/bucketname.json"))
	if !strings.Contains(string(data), want) {
		t.Errorf("the comment lacks %q:\n%s", want, data)
	}
}

// The canned diffs are what the pinned CLI prints for the same fixtures.
func TestCannedDiffsMatchTheCLI(t *testing.T) {
	cli := moduleCLI(t)
	cases := []struct{ pr, stack string }{{"pr-keyschema", "cicd-orders"}, {"pr-nested", "Prod/Orders"}}
	base, err := dataguard.LoadAssembly(td("base"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.pr, func(t *testing.T) {
			t.Parallel()
			pr, err := dataguard.LoadAssembly(td(tc.pr))
			if err != nil {
				t.Fatal(err)
			}
			var stack, baseStack *dataguard.Stack
			for _, s := range pr.Stacks {
				if s.HierarchicalID == tc.stack {
					stack = s
				}
			}
			for _, s := range base.Stacks {
				if s.HierarchicalID == tc.stack {
					baseStack = s
				}
			}
			if stack == nil || baseStack == nil {
				t.Fatalf("no stack %s in the fixtures", tc.stack)
			}
			got, err := cli.Diff(context.Background(), td(tc.pr), stack, baseStack.TemplatePath)
			if err != nil {
				t.Fatal(err)
			}
			canned, err := os.ReadFile(cannedPath(td(tc.pr), stack))
			if err != nil {
				t.Fatal(err)
			}
			ids := map[string]bool{}
			for id := range stack.Template.Resources {
				ids[id] = true
			}
			a, b := dataguard.ParseToolkitDiff(got, ids), dataguard.ParseToolkitDiff(string(canned), ids)
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("the CLI's diff reads as %+v, the canned one as %+v\nCLI:\n%s", a, b, got)
			}
			if len(a.Resources) == 0 {
				t.Errorf("no resource marked in the CLI's diff:\n%s", got)
			}
		})
	}
}

// moduleCLI is the CDK CLI that npm ci installed at the module root.
func moduleCLI(t *testing.T) dataguard.CLI {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "..", "node_modules", ".bin", "cdk"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Skip("no node_modules/.bin/cdk at the module root (npm ci installs it)")
	}
	return dataguard.CLI{Path: path}
}
