package encryption_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"cicd/constructs/encryption"
	"cicd/internal/cdktest"
)

func TestMain(m *testing.M) { cdktest.Main(m) }

var fixture = cdktest.NewFixture("encryption", nil, func(stack awscdk.Stack) {
	e := encryption.New(stack, "Encryption", encryption.Props{
		Alias:         "alias/cicd-pipeline-test",
		LogGroupNames: []string{"/aws/codebuild/cicd-pipeline-test", "/aws/lambda/cicd-pipeline-validator-test"},
	})
	encryption.NewLogGroup(stack, "LogGroup", "/aws/lambda/cicd-pipeline-validator-test", e.Key, "")
})

func TestKeyIsRotatedAndRetained(t *testing.T) {
	_, tpl := fixture.Template(t)
	keys := cdktest.Resources(tpl, "AWS::KMS::Key")
	if len(keys) != 1 {
		t.Fatalf("want one key, found %d", len(keys))
	}
	for id, key := range keys {
		props := key["Properties"].(map[string]any)
		if props["EnableKeyRotation"] != true {
			t.Errorf("%s: key rotation is off", id)
		}
		if props["PendingWindowInDays"] != 30.0 {
			t.Errorf("%s: pending window %v days, want 30", id, props["PendingWindowInDays"])
		}
		for _, policy := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
			if key[policy] != "Retain" {
				t.Errorf("%s: %s %v, want Retain: deleting the stack must not destroy data encrypted with the key", id, policy, key[policy])
			}
		}
	}
	alias := cdktest.Properties(t, tpl, "AWS::KMS::Alias")
	if alias["AliasName"] != "alias/cicd-pipeline-test" {
		t.Errorf("alias %v, want alias/cicd-pipeline-test", alias["AliasName"])
	}
}

// statements returns the key policy's statements.
func statements(t *testing.T) []map[string]any {
	t.Helper()
	_, tpl := fixture.Template(t)
	doc := cdktest.Properties(t, tpl, "AWS::KMS::Key")["KeyPolicy"].(map[string]any)
	var out []map[string]any
	for _, s := range doc["Statement"].([]any) {
		out = append(out, s.(map[string]any))
	}
	return out
}

func TestOnlyTheAccountRootGetsAllActions(t *testing.T) {
	for _, s := range statements(t) {
		actions, _ := json.Marshal(s["Action"])
		if !strings.Contains(string(actions), `"kms:*"`) {
			continue
		}
		principal, _ := json.Marshal(s["Principal"])
		if !strings.Contains(string(principal), `":root"`) || strings.Contains(string(principal), "Service") {
			t.Errorf("kms:* granted to %s; only the account root may hold it", principal)
		}
	}
}

func TestLogsMayUseTheKeyOnlyForThePipelineLogGroups(t *testing.T) {
	var logs map[string]any
	for _, s := range statements(t) {
		if s["Sid"] == "AllowCloudWatchLogsForPipelineLogGroups" {
			logs = s
		}
	}
	if logs == nil {
		t.Fatal("no key policy statement for CloudWatch Logs: encrypted log groups cannot be created")
	}
	principal, _ := json.Marshal(logs["Principal"])
	if !strings.Contains(string(principal), "logs.") {
		t.Errorf("logs statement principal %s, want the logs service principal", principal)
	}
	for _, a := range logs["Action"].([]any) {
		if a == "kms:*" || strings.HasPrefix(a.(string), "kms:Create") || strings.HasPrefix(a.(string), "kms:Put") {
			t.Errorf("logs statement grants %v, which CloudWatch Logs does not need", a)
		}
	}
	cond, _ := json.Marshal(logs["Condition"])
	for _, want := range []string{"kms:EncryptionContext:aws:logs:arn", ":log-group:/aws/codebuild/cicd-pipeline-test", ":log-group:/aws/lambda/cicd-pipeline-validator-test"} {
		if !strings.Contains(string(cond), want) {
			t.Errorf("logs statement condition %s lacks %q: any log group in the account could use the key", cond, want)
		}
	}
}
