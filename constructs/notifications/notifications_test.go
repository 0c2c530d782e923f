package notifications_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscodebuild"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscodepipeline"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/notifications"
	"cicd/internal/cdktest"
)

func TestMain(m *testing.M) { cdktest.Main(m) }

var fixture = cdktest.NewFixture("notifications", nil, func(stack awscdk.Stack) {
	key := awskms.NewKey(stack, jsii.String("Key"), nil)
	notes := notifications.New(stack, "Notifications", notifications.Props{
		TopicName: "notes-test", Environment: "test", Key: key, Email: "team@example.com",
	})
	notes.NotifyBuildFailed(awscodebuild.NewPipelineProject(stack, jsii.String("Project"), nil))
	notes.NotifyPipelineFailed(awscodepipeline.Pipeline_FromPipelineArn(stack, jsii.String("Pipeline"),
		jsii.String("arn:aws:codepipeline:eu-west-1:123456789012:cicd-pipeline-test")))
	notes.RestrictPublishers(awsiam.NewRole(stack, jsii.String("Publisher"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
	}))
})

func TestTopicIsEncryptedAndSubscribed(t *testing.T) {
	_, tpl := fixture.Template(t)
	topic := cdktest.Properties(t, tpl, "AWS::SNS::Topic")
	if got := cdktest.JSON(topic["KmsMasterKeyId"]); !strings.Contains(got, `"Fn::GetAtt":["Key`) {
		t.Errorf("topic key %s, want the stack's KMS key", got)
	}
	if topic["TopicName"] != "notes-test" {
		t.Errorf("topic name %v", topic["TopicName"])
	}
	sub := cdktest.Properties(t, tpl, "AWS::SNS::Subscription")
	if sub["Protocol"] != "email" || sub["Endpoint"] != "team@example.com" {
		t.Errorf("subscription %s, want e-mail to team@example.com", cdktest.JSON(sub))
	}
}

func TestOnlyEventBridgeAndThePublisherMayPublish(t *testing.T) {
	_, tpl := fixture.Template(t)
	doc := cdktest.JSON(cdktest.Properties(t, tpl, "AWS::SNS::TopicPolicy")["PolicyDocument"])
	for _, want := range []string{
		`"Condition":{"Bool":{"aws:SecureTransport":"false"}},"Effect":"Deny"`,
		`"Action":"sns:Publish","Condition":{"ArnNotEquals":{"aws:PrincipalArn":[{"Fn::GetAtt":["Publisher`,
		`"StringNotEquals":{"aws:PrincipalServiceName":"events.amazonaws.com"}},"Effect":"Deny","Principal":{"AWS":"*"}`,
		`"Action":"sns:Publish","Effect":"Allow","Principal":{"Service":"events.amazonaws.com"}`,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("topic policy lacks %s:\n%s", want, doc)
		}
	}
}

func TestEventBridgeMayUseTheKey(t *testing.T) {
	_, tpl := fixture.Template(t)
	doc := cdktest.JSON(cdktest.Properties(t, tpl, "AWS::KMS::Key")["KeyPolicy"])
	if !strings.Contains(doc, `"Action":["kms:Decrypt","kms:GenerateDataKey*"],"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"}`) {
		t.Errorf("EventBridge cannot publish to the encrypted topic; key policy:\n%s", doc)
	}
}

// rule returns the rule whose event pattern has source.
func rule(t *testing.T, source string) map[string]any {
	t.Helper()
	_, tpl := fixture.Template(t)
	for _, r := range cdktest.Resources(tpl, "AWS::Events::Rule") {
		props := r["Properties"].(map[string]any)
		if cdktest.JSON(props["EventPattern"].(map[string]any)["source"]) == `["`+source+`"]` {
			return props
		}
	}
	t.Fatalf("no rule for %s", source)
	return nil
}

func TestFailuresAreAnnouncedAsReadableText(t *testing.T) {
	for _, tc := range []struct {
		source, pattern, text string
	}{
		{"aws.codebuild", `"build-status":["FAILED"]`, `"[cicd-pipeline test] Build <detail-build-id> of project <detail-project-name> failed (status <detail-build-status>). Logs: <detail-additional-information-logs-deep-link>"`},
		{"aws.codepipeline", `"state":["FAILED"]`, `"[cicd-pipeline test] Pipeline <detail-pipeline> execution <detail-execution-id> failed.`},
	} {
		props := rule(t, tc.source)
		if p := cdktest.JSON(props["EventPattern"]); !strings.Contains(p, tc.pattern) {
			t.Errorf("%s rule pattern %s lacks %s", tc.source, p, tc.pattern)
		}
		targets := props["Targets"].([]any)
		if len(targets) != 1 {
			t.Fatalf("%s rule: want one target, got %s", tc.source, cdktest.JSON(targets))
		}
		target := targets[0].(map[string]any)
		if !strings.Contains(cdktest.JSON(target["Arn"]), `"Ref":"NotificationsTopic`) {
			t.Errorf("%s rule targets %s, want the topic", tc.source, cdktest.JSON(target["Arn"]))
		}
		transformer, _ := target["InputTransformer"].(map[string]any)
		if tmpl, _ := transformer["InputTemplate"].(string); !strings.HasPrefix(tmpl, tc.text) {
			t.Errorf("%s message template %q\nwant it to start %q", tc.source, tmpl, tc.text)
		}
	}
}
