package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func fullEnv() map[string]string {
	return map[string]string{
		"STATE_TABLE":        "cicd-pipeline-dev-state",
		"ECR_REPOSITORY":     "cicd-pipeline-dev",
		"ECR_REPOSITORY_URI": testRepoURI,
		"SNS_TOPIC_ARN":      "arn:aws:sns:us-east-1:123456789012:cicd-pipeline-dev",
		"SCAN_FAIL_SEVERITY": "CRITICAL",
		"ECS_CLUSTER":        "production-cluster",
		"ECS_SERVICE":        "cicd-pipeline-dev",
		"CONTAINER_NAME":     "app",
		"ENVIRONMENT":        "dev",
		"PIPELINE_NAME":      "cicd-pipeline-dev",
		"SERVICE":            "dev",
	}
}

func TestLoadConfig(t *testing.T) {
	cases := []struct {
		name    string
		change  map[string]string // "" deletes
		wantErr []string          // substrings; nil means valid
		check   func(t *testing.T, c Config)
	}{
		{name: "the stack's environment", check: func(t *testing.T, c Config) {
			if c.Threshold != SeverityCritical || c.MaxWait != 900*time.Second || c.Container != "app" || c.Environment != "dev" {
				t.Errorf("%+v", c)
			}
		}},
		{name: "lower-case severity", change: map[string]string{"SCAN_FAIL_SEVERITY": "high"},
			check: func(t *testing.T, c Config) {
				if c.Threshold != SeverityHigh {
					t.Errorf("threshold %s", c.Threshold)
				}
			}},
		{name: "NONE disables the severity check", change: map[string]string{"SCAN_FAIL_SEVERITY": "NONE"}},
		{name: "a wait bound", change: map[string]string{"SCAN_MAX_WAIT_SECONDS": "120"},
			check: func(t *testing.T, c Config) {
				if c.MaxWait != 2*time.Minute {
					t.Errorf("max wait %s", c.MaxWait)
				}
			}},
		{name: "a trailing slash on the repository URI", change: map[string]string{"ECR_REPOSITORY_URI": testRepoURI + "/"},
			check: func(t *testing.T, c Config) {
				if c.RepositoryURI != testRepoURI {
					t.Errorf("uri %s", c.RepositoryURI)
				}
			}},
		{name: "missing variables are all named", change: map[string]string{"STATE_TABLE": "", "CONTAINER_NAME": "  "},
			wantErr: []string{"missing environment variables: STATE_TABLE, CONTAINER_NAME"}},
		{name: "an unknown severity", change: map[string]string{"SCAN_FAIL_SEVERITY": "SEVERE"},
			wantErr: []string{`SCAN_FAIL_SEVERITY "SEVERE" is not one of CRITICAL, HIGH, MEDIUM, LOW, NONE`}},
		{name: "a wait that is not a number", change: map[string]string{"SCAN_MAX_WAIT_SECONDS": "15m"},
			wantErr: []string{`SCAN_MAX_WAIT_SECONDS "15m"`}},
		{name: "a zero wait", change: map[string]string{"SCAN_MAX_WAIT_SECONDS": "0"}, wantErr: []string{"SCAN_MAX_WAIT_SECONDS"}},
		{name: "several problems at once", change: map[string]string{"ECS_SERVICE": "", "SCAN_FAIL_SEVERITY": "x"},
			wantErr: []string{"ECS_SERVICE", `"x"`, "; "}},
		{name: "nothing set", change: map[string]string{"STATE_TABLE": "", "ECR_REPOSITORY": "", "ECR_REPOSITORY_URI": "",
			"SNS_TOPIC_ARN": "", "SCAN_FAIL_SEVERITY": "", "ECS_CLUSTER": "", "ECS_SERVICE": "", "CONTAINER_NAME": "", "ENVIRONMENT": "", "PIPELINE_NAME": "", "SERVICE": ""},
			wantErr: []string{"STATE_TABLE, ECR_REPOSITORY, ECR_REPOSITORY_URI, SNS_TOPIC_ARN, SCAN_FAIL_SEVERITY, ECS_CLUSTER, ECS_SERVICE, CONTAINER_NAME, ENVIRONMENT, PIPELINE_NAME, SERVICE"}},
		{name: "unscanned images are rejected by default", check: func(t *testing.T, c Config) {
			if c.Unscanned != UnscannedReject {
				t.Errorf("unscanned %q", c.Unscanned)
			}
		}},
		{name: "unscanned images allowed", change: map[string]string{"UNSCANNED_IMAGES": "Allow"}, check: func(t *testing.T, c Config) {
			if c.Unscanned != UnscannedAllow {
				t.Errorf("unscanned %q", c.Unscanned)
			}
		}},
		{name: "an unknown unscanned setting", change: map[string]string{"UNSCANNED_IMAGES": "skip"},
			wantErr: []string{`UNSCANNED_IMAGES "skip" is not reject or allow`}},
		{name: "the pipeline and the function", change: map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "fn"}, check: func(t *testing.T, c Config) {
			if c.Pipeline != "cicd-pipeline-dev" || c.ServiceName != "dev" || c.FunctionName != "fn" {
				t.Errorf("%+v", c)
			}
		}},
		{name: "the function's account and region come from the repository", check: func(t *testing.T, c Config) {
			if c.Account != "123456789012" || c.Region != "us-east-1" {
				t.Errorf("account %q, region %q", c.Account, c.Region)
			}
		}},
		{name: "AWS_REGION is the function's region", change: map[string]string{"AWS_REGION": "eu-west-1"}, check: func(t *testing.T, c Config) {
			if c.Account != "123456789012" || c.Region != "eu-west-1" {
				t.Errorf("account %q, region %q", c.Account, c.Region)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := fullEnv()
			for k, v := range tc.change {
				env[k] = v
			}
			c, err := LoadConfig(func(k string) string { return env[k] })
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("LoadConfig() = %v", err)
				}
				if tc.check != nil {
					tc.check(t, c)
				}
				return
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("LoadConfig() = %v, want ErrConfig", err)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans lines", err)
			}
		})
	}
}
