package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"cicd/internal/cdktest"
	"cicd/internal/dataguard"
)

// The data guard (cmd/dataguard) on the app's own cloud assemblies, those of
// the variants: another environmentSuffix is a new stack name, so the old
// stack and its data go; the connection source updates the rest in place.
func TestDataGuardOnTheApp(t *testing.T) {
	// Synthesized first: the rest calls no jsii, and runs beside the other
	// checkers.
	for _, v := range append([]*cdktest.Fixture{devVariant, prodVariant, legacyVariant}, checkedVariants...) {
		v.Stacks(t)
	}
	t.Parallel()
	t.Run("every synthesized type is in the schemas", func(t *testing.T) {
		schemas := dataguard.EmbeddedSchemas()
		types := map[string]bool{}
		for _, v := range checkedVariants {
			for _, s := range v.Stacks(t) {
				for typ := range typesOf(s.JSON) {
					types[typ] = true
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
		text, failed := guardReport(t, devVariant, prodVariant, nil, "")
		if !failed {
			t.Fatalf("the guard passed:\n%s", text)
		}
		data := []string{
			"ArtifactsAccessLogs4D97777C (AWS::S3::Bucket",
			"ArtifactsBucket88671897 (AWS::S3::Bucket",
			"EncryptionKey3A692D6E (AWS::KMS::Key",
			"HistoryTable4479EEA3 (AWS::DynamoDB::Table",
			"PipelineRepository8C6A768A (AWS::CodeCommit::Repository",
			"RegistryRepositoryC6C96DCD (AWS::ECR::Repository",
		}
		if got := findingLines(text); len(got) != len(data) {
			t.Errorf("%d findings, want %d:\n%s", len(got), len(data), text)
		}
		for _, d := range data {
			if !strings.Contains(text, "NOT ACCEPTED: removed with its stack: stack cicd-pipeline-dev, "+d) {
				t.Errorf("no finding for %s", d)
			}
		}
		_, base := devVariant.Template(t)
		resources, _ := base["Resources"].(map[string]any)
		removed := fmt.Sprintf("cicd-pipeline-dev: 0 added, 0 changed, 0 replaced, %d removed (stack removed)", len(resources))
		for _, want := range []string{
			"note: a changed logical ID? The pull request adds RegistryRepositoryC6C96DCD in stack cicd-pipeline-prod, of the same type with similar properties",
			removed,
			"(new stack)",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("output lacks %q:\n%s", want, text)
			}
		}
	})

	t.Run("with the label the change passes, naming who accepted it", func(t *testing.T) {
		text, failed := guardReport(t, devVariant, prodVariant, nil, "octocat")
		if failed {
			t.Fatalf("the guard failed:\n%s", text)
		}
		if n := strings.Count(text, "accepted by octocat (pull-request label allow-data-replacement)"); n != 6 {
			t.Errorf("%d acceptances by octocat, want 6:\n%s", n, text)
		}
	})

	// Changing the source rewrites the pipeline, its roles and rules in
	// place; the one thing that holds data and goes is the repository.
	connection := func(t *testing.T, toolkit dataguard.Toolkit) string {
		text, failed := guardReport(t, devVariant, legacyVariant, toolkit, "")
		if !failed {
			t.Fatalf("the guard passed:\n%s", text)
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
		connection(t, nil)
	})
	t.Run("the toolkit agrees", func(t *testing.T) {
		cli, _ := cdkCLI(t)
		if text := connection(t, dataguard.CLI{Path: cli}); !strings.Contains(text, "and from the replacement markers of cdk diff") {
			t.Errorf("cdk diff was not used:\n%s", text)
		}
	})
}

// guardReport is the data guard's text report on two variants' assemblies,
// as cmd/dataguard prints it; toolkit nil compares by the resource schemas
// alone, and labelBy accepts every finding as the pull-request label does.
func guardReport(t *testing.T, base, pr *cdktest.Fixture, toolkit dataguard.Toolkit, labelBy string) (string, bool) {
	t.Helper()
	var assemblies []*dataguard.Assembly
	for _, v := range []*cdktest.Fixture{base, pr} {
		v.Stacks(t)
		a, err := dataguard.LoadAssembly(v.Outdir())
		if err != nil {
			t.Fatalf("%s: %v", v.Name(), err)
		}
		assemblies = append(assemblies, a)
	}
	report := dataguard.Compare(context.Background(), assemblies[0], assemblies[1], "", dataguard.Options{Toolkit: toolkit})
	report.Accept(nil, labelBy)
	var text strings.Builder
	report.WriteText(&text, "README.md")
	return text.String(), report.Failed()
}

// typesOf is the set of the resource types of a template.
func typesOf(tpl map[string]any) map[string]bool {
	types := map[string]bool{}
	resources, _ := tpl["Resources"].(map[string]any)
	for _, r := range resources {
		if typ, ok := r.(map[string]any)["Type"].(string); ok {
			types[typ] = true
		}
	}
	return types
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
