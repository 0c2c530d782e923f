package main

import (
	"strings"
	"testing"
)

func TestLoadConfig(t *testing.T) {
	arn := "arn:aws:codestar-connections:us-east-1:123456789012:connection/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
	for _, tc := range []struct {
		name string
		ctx  map[string]any
		want string // substring of the error; empty means valid
	}{
		{"defaults", nil, ""},
		{"prod approval", map[string]any{"environmentSuffix": "prod"}, ""},
		{"connection", map[string]any{"sourceProvider": "connection", "connectionArn": arn, "githubRepo": "o/r"}, ""},
		{"empty suffix", map[string]any{"environmentSuffix": ""}, "environmentSuffix"},
		{"suffix case", map[string]any{"environmentSuffix": "Prod"}, `environmentSuffix="Prod"`},
		{"suffix shape", map[string]any{"environmentSuffix": "-dev"}, "environmentSuffix"},
		{"provider", map[string]any{"sourceProvider": "CodeCommit"}, "use codecommit or connection"},
		{"repo name", map[string]any{"repositoryName": "a b"}, "repositoryName"},
		{"no arn", map[string]any{"sourceProvider": "connection", "githubRepo": "o/r"}, "missing context value connectionArn"},
		{"bad arn", map[string]any{"sourceProvider": "connection", "connectionArn": "arn:aws:s3:::x", "githubRepo": "o/r"}, "connectionArn"},
		{"no repo", map[string]any{"sourceProvider": "connection", "connectionArn": arn}, "missing context value githubRepo"},
		{"repo shape", map[string]any{"sourceProvider": "connection", "connectionArn": arn, "githubRepo": "service"}, "githubRepo"},
		{"branch", map[string]any{"branch": "a..b"}, "branch"},
		{"token", map[string]any{"githubTokenParameter": "aws/x"}, "githubTokenParameter"},
		{"cluster", map[string]any{"ecsClusterName": "a/b"}, "ecsClusterName"},
		{"service", map[string]any{"ecsServiceName": ""}, "ecsServiceName"},
		{"container", map[string]any{"containerName": "a b"}, "containerName"},
		{"severity", map[string]any{"scanFailSeverity": "SEVERE"}, "CRITICAL, HIGH, MEDIUM, LOW, NONE"},
		{"email", map[string]any{"notificationEmail": "not-an-email"}, "notificationEmail"},
		{"approval", map[string]any{"requireApproval": "yes"}, "use true or false"},
		{"tags json", map[string]any{"tags": "{"}, "tags"},
		{"tags value", map[string]any{"tags": `{"a":1}`}, "is not a string"},
		{"tags reserved", map[string]any{"tags": `{"Project":"x"}`}, "cannot be replaced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(func(k string) any { return tc.ctx[k] })
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
	cfg, _ := LoadConfig(func(k string) any { return map[string]any{"environmentSuffix": "prod"}[k] })
	if !cfg.RequireApproval {
		t.Error("prod must require approval by default")
	}
}

func TestEveryKeySaysWhatIsAllowed(t *testing.T) {
	for _, key := range ConfigKeys {
		if allowed[key] == "" {
			t.Errorf("%s: no description of its allowed values for error messages", key)
		}
	}
}
