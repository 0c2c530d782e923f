package main

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"cicd/internal/diagram"
)

// The README's architecture diagram is drawn from the default stack; when the
// stack changes, the diagram must be regenerated with it.
func TestREADMEDiagramMatchesStack(t *testing.T) {
	_, tpl := devVariant.template(t)
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
	// The diagram shows the whole way from a push to a verified deploy.
	for _, part := range []string{"git push to main", "CodeCommit repository", "CodeBuild project", "ECR repository",
		"DynamoDB table", "SNS topic", "EventBridge rule", "KMS key", "S3 bucket", "SSM parameters", "ECS service",
		`["Source"]`, `["Build"]`, `["Validate"]`, `["Deploy"]`, `["Verify"]`, "checks the rollout"} {
		if !strings.Contains(chart, part) {
			t.Errorf("the diagram lacks %q", part)
		}
	}
}

// The connection variant draws its own source and trigger, and the approval.
func TestDiagramOfConnectionVariant(t *testing.T) {
	_, tpl := connVariant.template(t)
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
