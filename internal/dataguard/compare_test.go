package dataguard

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// stackDef is one stack of a test assembly: its name, environment and the
// JSON of its Resources.
type stackDef struct{ name, env, resources string }

// assemblyOf writes a cloud assembly of the given stacks and loads it.
func assemblyOf(t *testing.T, stacks ...stackDef) *Assembly {
	t.Helper()
	dir := t.TempDir()
	artifacts := map[string]any{}
	for _, s := range stacks {
		file := s.name + ".template.json"
		if err := os.WriteFile(filepath.Join(dir, file), []byte(`{"Resources":`+s.resources+`}`), 0o644); err != nil {
			t.Fatal(err)
		}
		env := s.env
		if env == "" {
			env = "aws://unknown-account/unknown-region"
		}
		artifacts[s.name] = map[string]any{
			"type": "aws:cloudformation:stack", "environment": env,
			"properties": map[string]any{"templateFile": file},
		}
	}
	data, _ := json.Marshal(map[string]any{"version": "55.0.0", "artifacts": artifacts})
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := LoadAssembly(dir)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// fakeToolkit answers with a fixed diff per stack name, or an error.
type fakeToolkit struct {
	diffs map[string]string
	err   error
	mu    sync.Mutex
	calls []string
}

func (f *fakeToolkit) Name() string { return "cdk diff (fake)" }

func (f *fakeToolkit) Diff(_ context.Context, _ string, stack *Stack, _ string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, stack.Name)
	return f.diffs[stack.Name], f.err
}

// findingsOf lists findings as "stack/ID kind: why | similar".
func findingsOf(r *Report) []string {
	var out []string
	for _, f := range r.Findings {
		s := ""
		if f.Stack != nil {
			s = f.Stack.Name + "/" + f.LogicalID + " "
		}
		s += string(f.Kind) + ": " + strings.Join(f.Why, "; ")
		if f.Similar != nil {
			s += " | similar " + f.Similar.Stack.Name + "/" + f.Similar.LogicalID
		}
		out = append(out, s)
	}
	return out
}

const (
	bucket        = `"Data":{"Type":"AWS::S3::Bucket","Properties":{"BucketName":"data"},"DeletionPolicy":"Retain","UpdateReplacePolicy":"Retain"}`
	renamedBucket = `"Data":{"Type":"AWS::S3::Bucket","Properties":{"BucketName":"data-2"},"DeletionPolicy":"Retain","UpdateReplacePolicy":"Retain"}`
	policy        = `"DataPolicy":{"Type":"AWS::S3::BucketPolicy","Properties":{"Bucket":{"Ref":"Data"},"PolicyDocument":{}}}`
	table         = `"Table":{"Type":"AWS::DynamoDB::Table","Properties":{"TableName":"t","BillingMode":"PAY_PER_REQUEST","KeySchema":[{"AttributeName":"id","KeyType":"HASH"}]}}`
	queue         = `"Queue":{"Type":"AWS::SQS::Queue","Properties":{"QueueName":"q"}}`
)

func obj(entries ...string) string { return "{" + strings.Join(entries, ",") + "}" }

func TestCompare(t *testing.T) {
	cases := []struct {
		name       string
		base, pr   []stackDef
		toolkit    *fakeToolkit
		want       []string
		replaced   []string
		changed    []string
		toolkitFor []string
	}{
		{
			name:     "a replaced bucket replaces the policy that refers to it; only the bucket holds data",
			base:     []stackDef{{"app", "", obj(bucket, policy)}},
			pr:       []stackDef{{"app", "", obj(renamedBucket, policy)}},
			want:     []string{"app/Data replaced: /properties/BucketName: changes, and it is create-only in the resource schema"},
			replaced: []string{"Data", "DataPolicy"},
		},
		{
			name:    "a resource that holds no data may be replaced",
			base:    []stackDef{{"app", "", obj(queue)}},
			pr:      []stackDef{{"app", "", obj(strings.Replace(queue, `"q"`, `"q2"`, 1))}},
			want:    nil,
			changed: nil, replaced: []string{"Queue"},
		},
		{
			name: "a retained resource of any type is guarded",
			base: []stackDef{{"app", "", obj(`"Q":{"Type":"AWS::SQS::Queue","Properties":{"QueueName":"q"},"DeletionPolicy":"RetainExceptOnCreate"}`)}},
			pr:   []stackDef{{"app", "", obj(`"Q":{"Type":"AWS::SQS::Queue","Properties":{"QueueName":"q2"},"DeletionPolicy":"RetainExceptOnCreate"}`)}},
			want: []string{"app/Q replaced: /properties/QueueName: changes, and it is create-only in the resource schema"},
		},
		{
			name: "a snapshot policy is guarded when the resource goes",
			base: []stackDef{{"app", "", obj(`"Db":{"Type":"AWS::RDS::DBInstance","Properties":{},"DeletionPolicy":"Snapshot"}`)}},
			pr:   []stackDef{{"app", "", `{}`}},
			want: []string{"app/Db removed: the logical ID is no longer in the stack's template"},
		},
		{
			name: "a table with no policy is guarded by its type",
			base: []stackDef{{"app", "", obj(table)}},
			pr:   []stackDef{{"app", "", `{}`}},
			want: []string{"app/Table removed: the logical ID is no longer in the stack's template"},
		},
		{
			name: "a type change",
			base: []stackDef{{"app", "", obj(table)}},
			pr:   []stackDef{{"app", "", obj(`"Table":{"Type":"AWS::DynamoDB::GlobalTable","Properties":{"TableName":"t"}}`)}},
			want: []string{"app/Table replaced: its type changes from AWS::DynamoDB::Table to AWS::DynamoDB::GlobalTable"},
		},
		{
			name: "a type the schemas do not know, changed, is not taken to be updated in place",
			base: []stackDef{{"app", "", obj(`"X":{"Type":"AWS::New::Thing","Properties":{"A":1},"DeletionPolicy":"Retain"}`)}},
			pr:   []stackDef{{"app", "", obj(`"X":{"Type":"AWS::New::Thing","Properties":{"A":2},"DeletionPolicy":"Retain"}`)}},
			want: []string{"app/X replaced: its properties change and AWS::New::Thing is not in the resource schemas"},
		},
		{
			name:    "a custom resource follows AWS::CloudFormation::CustomResource",
			base:    []stackDef{{"app", "", obj(`"C":{"Type":"Custom::Seed","Properties":{"ServiceToken":"a","Rows":1},"DeletionPolicy":"Retain"}`)}},
			pr:      []stackDef{{"app", "", obj(`"C":{"Type":"Custom::Seed","Properties":{"ServiceToken":"a","Rows":2},"DeletionPolicy":"Retain"}`)}},
			changed: []string{"C"},
		},
		{
			name: "a changed logical ID, with a note on the new one",
			base: []stackDef{{"app", "", obj(table)}},
			pr:   []stackDef{{"app", "", obj(strings.Replace(table, `"Table"`, `"HistoryTable"`, 1))}},
			want: []string{"app/Table removed: the logical ID is no longer in the stack's template | similar app/HistoryTable"},
		},
		{
			name: "a new resource that is not alike is not noted",
			base: []stackDef{{"app", "", obj(table)}},
			pr:   []stackDef{{"app", "", obj(`"Other":{"Type":"AWS::DynamoDB::Table","Properties":{"TableName":"o","BillingMode":"PROVISIONED"}}`)}},
			want: []string{"app/Table removed: the logical ID is no longer in the stack's template"},
		},
		{
			name: "a resource moved to another stack",
			base: []stackDef{{"app", "", obj(table)}, {"data", "", `{}`}},
			pr:   []stackDef{{"app", "", `{}`}, {"data", "", obj(table)}},
			want: []string{"app/Table removed: the logical ID is no longer in the stack's template | similar data/Table"},
		},
		{
			name: "the same stack name in another account is another stack",
			base: []stackDef{{"app", "aws://111111111111/eu-west-1", obj(table)}},
			pr:   []stackDef{{"app", "aws://222222222222/eu-west-1", obj(table)}},
			want: []string{"app/Table removed with its stack: the stack is no longer in the pull request's assembly | similar app/Table"},
		},
		{
			name:       "cdk diff marks what the schemas do not see",
			base:       []stackDef{{"app", "", obj(table)}},
			pr:         []stackDef{{"app", "", obj(strings.Replace(table, `"id"`, `"pk"`, 1))}},
			toolkit:    &fakeToolkit{diffs: map[string]string{"app": "[~] AWS::DynamoDB::Table Table replace\n └─ [~] KeySchema (requires replacement)\n"}},
			want:       []string{"app/Table replaced: /properties/KeySchema: requires replacement (cdk diff)"},
			toolkitFor: []string{"app"},
		},
		{
			name:       "may cause replacement counts",
			base:       []stackDef{{"app", "", obj(`"R":{"Type":"AWS::CodeCommit::Repository","Properties":{"RepositoryName":"r","Triggers":[]}}`)}},
			pr:         []stackDef{{"app", "", obj(`"R":{"Type":"AWS::CodeCommit::Repository","Properties":{"RepositoryName":"r","Triggers":[{"Name":"t"}]}}`)}},
			toolkit:    &fakeToolkit{diffs: map[string]string{"app": "[~] AWS::CodeCommit::Repository R may be replaced\n └─ [~] Triggers (may cause replacement)\n"}},
			want:       []string{"app/R replaced: /properties/Triggers: may cause replacement (cdk diff)"},
			toolkitFor: []string{"app"},
		},
		{
			name:       "cdk diff runs only on stacks that changed and exist on both sides",
			base:       []stackDef{{"app", "", obj(table)}, {"same", "", obj(queue)}, {"gone", "", obj(queue)}},
			pr:         []stackDef{{"app", "", obj(strings.Replace(table, "PAY_PER_REQUEST", "PROVISIONED", 1))}, {"same", "", obj(queue)}, {"new", "", obj(queue)}},
			toolkit:    &fakeToolkit{diffs: map[string]string{}},
			changed:    []string{"Table"},
			toolkitFor: []string{"app"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{}
			if tc.toolkit != nil {
				opts.Toolkit = tc.toolkit
			}
			r := Compare(context.Background(), assemblyOf(t, tc.base...), assemblyOf(t, tc.pr...), "", opts)
			got := findingsOf(r)
			if len(got) != len(tc.want) {
				t.Fatalf("findings %q, want %d like %q", got, len(tc.want), tc.want)
			}
			for i := range got {
				// A prefix of the reasons; the note on a similar resource, if
				// any, in full.
				if !strings.HasPrefix(got[i], tc.want[i]) || strings.Contains(got[i], " | ") != strings.Contains(tc.want[i], " | ") {
					t.Errorf("finding %q, want %q", got[i], tc.want[i])
				}
			}
			if r.Failed() != (len(tc.want) > 0) {
				t.Errorf("Failed() = %v with findings %q", r.Failed(), got)
			}
			if tc.replaced != nil || tc.changed != nil {
				c := r.Stacks[0]
				if !reflect.DeepEqual(c.Replaced, tc.replaced) || !reflect.DeepEqual(c.Changed, tc.changed) {
					t.Errorf("replaced %v, changed %v; want %v, %v", c.Replaced, c.Changed, tc.replaced, tc.changed)
				}
			}
			if tc.toolkit != nil && !reflect.DeepEqual(tc.toolkit.calls, tc.toolkitFor) {
				t.Errorf("cdk diff ran for %v, want %v", tc.toolkit.calls, tc.toolkitFor)
			}
		})
	}
}

// A failed cdk diff fails the check: the guard could not use its second
// source.
func TestCompareToolkitFailure(t *testing.T) {
	base := assemblyOf(t, stackDef{"app", "", obj(table)})
	pr := assemblyOf(t, stackDef{"app", "", obj(strings.Replace(table, "PAY_PER_REQUEST", "PROVISIONED", 1))})
	r := Compare(context.Background(), base, pr, "", Options{Toolkit: &fakeToolkit{err: errors.New("exit status 1: no stack app")}})
	if !r.Failed() || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "cdk diff of stack app failed") || !strings.Contains(r.Errors[0], "no stack app") {
		t.Errorf("errors %q, want the failed cdk diff", r.Errors)
	}
}

func TestLoadAssemblyRejects(t *testing.T) {
	cases := []struct{ name, manifest, want string }{
		{"the same stack twice",
			`{"artifacts":{"A":{"type":"aws:cloudformation:stack","environment":"aws://1/r","properties":{"templateFile":"t.json","stackName":"s"}},"B":{"type":"aws:cloudformation:stack","environment":"aws://1/r","properties":{"templateFile":"t.json","stackName":"s"}}}}`,
			"are both s"},
		{"a template outside the assembly",
			`{"artifacts":{"A":{"type":"aws:cloudformation:stack","properties":{"templateFile":"../t.json"}}}}`,
			`templateFile "../t.json"`},
		{"a nested assembly outside it",
			`{"artifacts":{"A":{"type":"cdk:cloud-assembly","properties":{"directoryName":"/tmp"}}}}`,
			`directoryName "/tmp"`},
		{"a manifest that is not JSON", `{"artifacts":`, "manifest.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range map[string]string{"manifest.json": tc.manifest, "t.json": `{"Resources":{}}`} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := LoadAssembly(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one with %q", err, tc.want)
			}
		})
	}
}

func TestEmbeddedSchemas(t *testing.T) {
	s := EmbeddedSchemas()
	if !strings.HasPrefix(s.Source, "cfn-lint ") {
		t.Errorf("source %q", s.Source)
	}
	cases := []struct {
		typ   string
		known bool
		has   string
	}{
		{"AWS::S3::Bucket", true, "/properties/BucketName"},
		{"AWS::ECR::Repository", true, "/properties/RepositoryName"},
		{"AWS::DynamoDB::Table", true, "/properties/TableName"},
		{"AWS::KMS::Key", true, ""},
		{"Custom::Anything", true, "/properties/ServiceToken"},
		{"AWS::Not::AType", false, ""},
	}
	for _, tc := range cases {
		got, known := s.CreateOnly(tc.typ)
		if known != tc.known || (tc.has != "" && !contains(got, tc.has)) {
			t.Errorf("CreateOnly(%s) = %v, %v; want known %v with %q", tc.typ, got, known, tc.known, tc.has)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
