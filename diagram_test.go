package main

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"cicd/internal/cdktest"
	"cicd/internal/diagram"
)

// The README's architecture diagram is drawn from the pipeline of service
// orders in the README's example (examples/pipelines.json); when the stack
// changes, the diagram must be regenerated with it.
func TestREADMEDiagramMatchesStack(t *testing.T) {
	tpl := multiVariant.Stack(t, diagram.ExampleStack).JSON
	chart, err := diagram.Mermaid(tpl)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	got, err := diagram.Extract(string(readme))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	if want := diagram.Block(chart); got != want {
		t.Errorf("README.md's diagram does not match the synthesized stack: run `%s` and commit README.md\nfirst difference: %s",
			diagram.Command, firstDifference(got, want))
	}
	// The diagram shows the whole way from a push to a verified deploy in
	// each environment.
	for _, part := range []string{"git push to main", "Git repository<br/>octo-org/orders", "CodeBuild project", "ECR repository",
		"DynamoDB table", "SNS topic", "EventBridge rule", "KMS key", "S3 bucket", "SSM parameters",
		`["Source"]`, `["Build"]`, `["Validate"]`, `["dev"]`, `["staging"]`, `["prod"]`, "manual approval",
		"ECS service<br/>apps-dev/orders", "ECS service<br/>apps/orders", "ECS service<br/>apps-prod/orders",
		`"checks the rollout"| ext_ecs_apps_dev_orders`, `"checks the rollout"| ext_ecs_apps_orders`, `"checks the rollout"| ext_ecs_apps_prod_orders`,
		"CloudWatch dashboard<br/>cicd-orders", "CloudWatch alarms<br/>cicd-orders-dev-failed-deployments"} {
		if !strings.Contains(chart, part) {
			t.Errorf("the diagram lacks %q", part)
		}
	}
}

// The single-environment stack draws its CodeCommit repository and the
// stages Deploy and Verify.
func TestDiagramOfSingleEnvironmentStack(t *testing.T) {
	_, tpl := devVariant.Template(t)
	chart, err := diagram.Mermaid(tpl)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"git push to main", "CodeCommit repository", `["Deploy"]`, `["Verify"]`,
		"ECS service<br/>dev/cicd-pipeline-dev", "checks the rollout"} {
		if !strings.Contains(chart, part) {
			t.Errorf("the diagram lacks %q:\n%s", part, chart)
		}
	}
}

// The connection variant draws its own source and trigger, and the approval.
func TestDiagramOfConnectionVariant(t *testing.T) {
	_, tpl := connVariant.Template(t)
	chart, err := diagram.Mermaid(tpl)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"Git repository<br/>octo-org/service<br/>through CodeConnections",
		`"pipeline trigger: push to release"`, `["Approve"]`, "manual approval", "SSM SecureString<br/>/cicd-pipeline/staging/github-token",
		"email team@example.com"} {
		if !strings.Contains(chart, part) {
			t.Errorf("the diagram lacks %q:\n%s", part, chart)
		}
	}
	if strings.Contains(chart, "CodeCommit") {
		t.Errorf("the connection variant has no CodeCommit repository, but the diagram draws one:\n%s", chart)
	}
}

// The quick start is two commands: synthesize with the defaults, and run every
// test the way CI does.
func TestREADMEQuickStart(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Quick start\n")
	if !ok {
		t.Fatal("README.md has no Quick start section")
	}
	_, block, ok := strings.Cut(section, "```sh\n")
	block, _, closed := strings.Cut(block, "```")
	if !ok || !closed {
		t.Fatal("the Quick start section has no sh code block")
	}
	var commands []string
	for _, line := range strings.Split(block, "\n") {
		command, _, _ := strings.Cut(line, "#")
		if command = strings.TrimSpace(command); command != "" {
			commands = append(commands, command)
		}
	}
	want := []string{"npm ci && npx cdk synth", "bash .ci/run"}
	if strings.Join(commands, "\n") != strings.Join(want, "\n") {
		t.Errorf("Quick start commands %q, want %q", commands, want)
	}
	if _, err := os.Stat(".ci/run"); err != nil {
		t.Errorf("the Quick start runs .ci/run: %v", err)
	}
}

func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "README has " + strconv.Quote(gl) + ", the stack gives " + strconv.Quote(wl)
		}
	}
	return "none"
}

// The README's examples of Environments and of Accounts and regions are the
// configurations in examples/, which the tests synthesize: they cannot drift
// apart.
func TestREADMEExamplesAreTheTestedOnes(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for section, file := range map[string]string{"Environments": "examples/pipelines.json", "Accounts and regions": "examples/accounts.json"} {
		_, text, ok := strings.Cut(string(readme), "\n## "+section+"\n")
		if !ok {
			t.Errorf("README.md has no section %s", section)
			continue
		}
		_, block, _ := strings.Cut(text, "```json\n")
		block, _, _ = strings.Cut(block, "```")
		var doc struct {
			Context map[string]any `json:"context"`
		}
		if err := json.Unmarshal([]byte(block), &doc); err != nil {
			t.Errorf("README.md, %s: the example is not JSON: %v", section, err)
			continue
		}
		want := exampleContext(file)
		for _, key := range []string{"pipelines", "pipelineAccount", "pipelineRegion"} {
			if got := cdktest.JSON(doc.Context[key]); got != cdktest.JSON(want[key]) {
				t.Errorf("README.md, %s: %s differs from %s:\n%s\nwant\n%s", section, key, file, got, cdktest.JSON(want[key]))
			}
		}
	}
}
