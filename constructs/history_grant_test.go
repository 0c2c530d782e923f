package constructs_test

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"cicd/internal/cdktest"
)

// TestGrantAppendIsPutAndGetOnly: appending to the history is PutItem and
// GetItem on the table and the key's data-key actions, and nothing that
// updates or deletes an item, or reaches the index.
func TestGrantAppendIsPutAndGetOnly(t *testing.T) {
	tpl, _ := historyFixture.Template(t)
	getAtt := func(prefix string) map[string]any {
		return map[string]any{"Fn::GetAtt": []any{assertions.Match_StringLikeRegexp(jsii.String("^" + prefix)), "Arn"}}
	}
	cdktest.HasResourceProperties(t, tpl, "AWS::IAM::Policy", map[string]any{
		"Roles": []any{map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^Appender"))}},
		"PolicyDocument": map[string]any{"Statement": []any{
			assertions.Match_ObjectEquals(&map[string]any{
				"Action": []any{"dynamodb:GetItem", "dynamodb:PutItem"}, "Effect": "Allow", "Resource": getAtt("DevTable"),
			}),
			assertions.Match_ObjectEquals(&map[string]any{
				"Action": []any{"kms:Decrypt", "kms:GenerateDataKey*"}, "Effect": "Allow", "Resource": getAtt("Key"),
			}),
		}},
	})
}
