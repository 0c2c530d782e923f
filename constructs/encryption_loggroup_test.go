package constructs_test

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"cicd/internal/cdktest"
)

// TestLogGroupIsEncryptedAndShortLived: the group the build and the
// validator write to is encrypted with the key, keeps a week by default, and
// goes with the stack.
func TestLogGroupIsEncryptedAndShortLived(t *testing.T) {
	tpl, _ := encryptionFixture.Template(t)
	cdktest.ResourceCountIs(t, tpl, "AWS::Logs::LogGroup", 1)
	cdktest.HasResource(t, tpl, "AWS::Logs::LogGroup", map[string]any{
		"Properties": assertions.Match_ObjectEquals(&map[string]any{
			"LogGroupName":    "/aws/lambda/cicd-pipeline-validator-test",
			"RetentionInDays": 7,
			"KmsKeyId":        map[string]any{"Fn::GetAtt": []any{assertions.Match_StringLikeRegexp(jsii.String("^EncryptionKey")), "Arn"}},
		}),
		"DeletionPolicy":      "Delete",
		"UpdateReplacePolicy": "Delete",
	})
}
