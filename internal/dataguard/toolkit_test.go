package dataguard

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// idsIn collects the logical IDs of a diff's resource lines, as the
// templates would give them: every word after the type that is not a path
// or an impact.
func idsIn(text string) map[string]bool {
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\[.\] \S+ (.*)$`).FindAllStringSubmatch(text, -1) {
		for _, w := range strings.Fields(m[1]) {
			if !strings.Contains(w, "/") && !slices.Contains(impacts, w) && w != "may" && w != "be" && w != "replaced" {
				ids[w] = true
			}
		}
	}
	return ids
}

func TestParseToolkitDiff(t *testing.T) {
	cases := []struct {
		name string
		text string
		ids  map[string]bool
		want ToolkitDiff
	}{
		{
			// Printed by the pinned CLI for the app's stack with a bucket
			// name, a table's key schema and a repository's logical ID changed.
			name: "replacements of the app's stack",
			text: readFile(t, "testdata/cdk-diff-replacements.txt"),
			ids:  idsIn(readFile(t, "testdata/cdk-diff-replacements.txt")),
			want: ToolkitDiff{Resources: map[string]ToolkitResource{
				"OldThing":                      {Type: "AWS::ECR::Repository", Impact: "orphan"},
				"RegistryRepositoryC6C96DCD":    {Type: "AWS::ECR::Repository"},
				"ArtifactsBucket88671897":       {Type: "AWS::S3::Bucket", Impact: "replace", Replacing: []ToolkitProperty{{Name: "BucketName"}}},
				"ArtifactsBucketPolicyBC103148": {Type: "AWS::S3::BucketPolicy", Impact: "replace", Replacing: []ToolkitProperty{{Name: "Bucket"}}},
				"HistoryTable4479EEA3":          {Type: "AWS::DynamoDB::Table", Impact: "replace", Replacing: []ToolkitProperty{{Name: "KeySchema"}}},
			}},
		},
		{
			name: "no differences",
			text: "Stack cicd-pipeline-dev\nThere were no differences\n",
			want: ToolkitDiff{NoDifferences: true, Resources: map[string]ToolkitResource{}},
		},
		{
			name: "may be replaced, an import and a move",
			text: `Stack cicd-orders
Resources
[~] AWS::CodeCommit::Repository Source/Repository SourceRepo may be replaced
 ├─ [~] Code
 │   └─ [~] .S3:
 └─ [~] Triggers (may cause replacement)
     └─ @@ -1,3 +1,3 @@
[←] AWS::S3::Bucket Imported Imported import
[-] AWS::DynamoDB::Table History History orphan (OR move to cicd-other.History via refactoring)
[+] AWS::DynamoDB::Table Unknown42
`,
			ids: map[string]bool{"SourceRepo": true, "Imported": true, "History": true},
			want: ToolkitDiff{Resources: map[string]ToolkitResource{
				"SourceRepo": {Type: "AWS::CodeCommit::Repository", Impact: "may be replaced", Replacing: []ToolkitProperty{{Name: "Triggers", May: true}}},
				"Imported":   {Type: "AWS::S3::Bucket", Impact: "import"},
				"History":    {Type: "AWS::DynamoDB::Table", Impact: "orphan"},
				// Not a logical ID of the templates: the last word still is.
				"Unknown42": {Type: "AWS::DynamoDB::Table"},
			}},
		},
		{
			name: "a logical ID that is also an impact word",
			text: "[~] AWS::S3::Bucket Data/replace replace replace\n └─ [~] BucketName (requires replacement)\n",
			ids:  map[string]bool{"replace": true},
			want: ToolkitDiff{Resources: map[string]ToolkitResource{
				"replace": {Type: "AWS::S3::Bucket", Impact: "replace", Replacing: []ToolkitProperty{{Name: "BucketName"}}},
			}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseToolkitDiff(tc.text, tc.ids)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseToolkitDiff:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// A long real diff (a new source, new tags on everything, IAM tables): the
// removals and additions are read, and nothing is marked for replacement.
func TestParseToolkitDiffOfInPlaceChanges(t *testing.T) {
	text := readFile(t, "testdata/cdk-diff-connection.txt")
	got := ParseToolkitDiff(text, idsIn(text))
	impacts := map[string]int{}
	for id, r := range got.Resources {
		impacts[r.Impact]++
		if len(r.Replacing) > 0 {
			t.Errorf("%s marked for replacement: %+v", id, r.Replacing)
		}
	}
	want := map[string]int{"orphan": 1, "destroy": 5, "": 27}
	if !reflect.DeepEqual(impacts, want) {
		t.Errorf("impacts %v, want %v", impacts, want)
	}
	if got.Resources["PipelineRepository8C6A768A"].Impact != "orphan" {
		t.Errorf("the CodeCommit repository: %+v, want orphan", got.Resources["PipelineRepository8C6A768A"])
	}
}

func TestCleanDiff(t *testing.T) {
	in := "!!!!!!!!\n!!  Node 20 is end-of-life  !!\nStack a\nResources\n[+] AWS::S3::Bucket B\n\n\n\n✨  Number of stacks with differences: 1\n\n"
	if got, want := cleanDiff(in), "Stack a\nResources\n[+] AWS::S3::Bucket B"; got != want {
		t.Errorf("cleanDiff = %q, want %q", got, want)
	}
}
