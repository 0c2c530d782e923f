package constructs_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"

	"cicd/constructs/encryption"
	"cicd/internal/cdktest"
)

var encryptionFixture = cdktest.NewFixture("encryption", nil, func(stack awscdk.Stack) {
	e := encryption.New(stack, "Encryption", encryption.Props{
		Alias:         "alias/cicd-pipeline-test",
		LogGroupNames: []string{"/aws/codebuild/cicd-pipeline-test", "/aws/lambda/cicd-pipeline-validator-test"},
	})
	encryption.NewLogGroup(stack, "LogGroup", "/aws/lambda/cicd-pipeline-validator-test", e.Key, "")
})

func TestKeyIsRotatedAndRetained(t *testing.T) {
	tpl, _ := encryptionFixture.Template(t)
	cdktest.ResourceCountIs(t, tpl, "AWS::KMS::Key", 1)
	cdktest.HasResourceProperties(t, tpl, "AWS::KMS::Key", map[string]any{
		"EnableKeyRotation":   true,
		"PendingWindowInDays": 30,
	})
	cdktest.Retained(t, tpl, "AWS::KMS::Key", "Retain", "deleting the stack destroys data encrypted with the key")
	cdktest.ResourceCountIs(t, tpl, "AWS::KMS::Alias", 1)
	cdktest.HasResourceProperties(t, tpl, "AWS::KMS::Alias", map[string]any{"AliasName": "alias/cicd-pipeline-test"})
}

// statements returns the key policy's statements.
func statements(t *testing.T) []map[string]any {
	t.Helper()
	_, tpl := encryptionFixture.Template(t)
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

// logGroupArn is the ARN of a log group of the stack's account and region,
// as the template writes it.
func logGroupArn(name string) map[string]any {
	return map[string]any{"Fn::Join": []any{"", []any{
		"arn:", map[string]any{"Ref": "AWS::Partition"}, ":logs:", map[string]any{"Ref": "AWS::Region"}, ":",
		map[string]any{"Ref": "AWS::AccountId"}, ":log-group:" + name,
	}}}
}

func TestLogsMayUseTheKeyOnlyForThePipelineLogGroups(t *testing.T) {
	tpl, _ := encryptionFixture.Template(t)
	if !cdktest.HasResourceProperties(t, tpl, "AWS::KMS::Key", map[string]any{
		"KeyPolicy": assertions.Match_ObjectLike(&map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{
				"Sid":    "AllowCloudWatchLogsForPipelineLogGroups",
				"Effect": "Allow",
				"Principal": map[string]any{"Service": map[string]any{"Fn::Join": []any{"", []any{
					"logs.", map[string]any{"Ref": "AWS::Region"}, ".amazonaws.com"}}}},
				"Condition": map[string]any{"ArnLike": map[string]any{"kms:EncryptionContext:aws:logs:arn": []any{
					logGroupArn("/aws/codebuild/cicd-pipeline-test"),
					logGroupArn("/aws/lambda/cicd-pipeline-validator-test"),
				}}},
			}),
		})}),
	}) {
		t.Error("without the statement encrypted log groups cannot be created; without its condition any log group in the account could use the key")
	}
	for _, s := range statements(t) {
		if s["Sid"] != "AllowCloudWatchLogsForPipelineLogGroups" {
			continue
		}
		actions, ok := s["Action"].([]any)
		if !ok {
			actions = []any{s["Action"]}
		}
		for _, a := range actions {
			if a, _ := a.(string); a == "kms:*" || strings.HasPrefix(a, "kms:Create") || strings.HasPrefix(a, "kms:Put") {
				t.Errorf("logs statement grants %v, which CloudWatch Logs does not need", a)
			}
		}
	}
}
