package notifications_test

import (
	"fmt"
	"slices"
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
	pipeline := awscodepipeline.Pipeline_FromPipelineArn(stack, jsii.String("Pipeline"),
		jsii.String("arn:aws:codepipeline:eu-west-1:123456789012:cicd-pipeline-test"))
	notes.NotifyBuildFailed(awscodebuild.NewPipelineProject(stack, jsii.String("Project"), nil))
	// The publishers are restricted before the last rule is added: the
	// policy must name every rule whatever the order of the calls.
	notes.NotifyPipelineFailed(pipeline)
	notes.RestrictPublishers(awsiam.NewRole(stack, jsii.String("Publisher"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
	}))
	notes.NotifySourceFailed(pipeline, "service-repo", "main")
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

// publishRequest is one sns:Publish call on the topic, as IAM sees it.
type publishRequest struct {
	name string
	// service is the calling service principal; empty for an IAM role.
	service string
	// context holds the request's condition keys, values as the template
	// writes them (a reference to a resource, or a literal).
	context map[string]any
	// identityAllows: the caller's own IAM policy allows the call (same
	// account), so only a deny in the topic policy stops it.
	identityAllows bool
	want           bool
}

// allowed evaluates the topic policy for r: a matching deny wins, then a
// matching allow or the caller's own policy. It knows the condition
// operators the policy may use and fails on any other.
func allowed(t *testing.T, statements []any, r publishRequest) bool {
	t.Helper()
	allow := r.identityAllows
	for _, s := range statements {
		st := s.(map[string]any)
		if !slices.Contains(stringList(st["Action"]), "sns:Publish") || !principalMatches(st["Principal"], r.service) {
			continue
		}
		if !conditionsHold(t, st["Condition"], r.context) {
			continue
		}
		if st["Effect"] == "Deny" {
			return false
		}
		allow = true
	}
	return allow
}

// principalMatches: "*" and {"AWS":"*"} are taken to match every caller,
// services included, so a deny cannot be evaded by a narrow reading.
func principalMatches(p any, service string) bool {
	switch p := p.(type) {
	case string:
		return p == "*"
	case map[string]any:
		if p["AWS"] == "*" {
			return true
		}
		return service != "" && slices.Contains(stringList(p["Service"]), service)
	}
	return false
}

func conditionsHold(t *testing.T, conditions any, context map[string]any) bool {
	t.Helper()
	if conditions == nil {
		return true
	}
	for op, block := range conditions.(map[string]any) {
		for key, values := range block.(map[string]any) {
			list, ok := values.([]any)
			if !ok {
				list = []any{values}
			}
			value, present := context[key]
			in := present && slices.ContainsFunc(list, func(v any) bool { return cdktest.JSON(v) == cdktest.JSON(value) })
			var holds bool
			switch op {
			case "ArnEquals", "StringEquals", "Bool":
				holds = in
			case "ArnNotEquals", "StringNotEquals":
				// A missing key makes a negated operator true.
				holds = !in
			default:
				t.Fatalf("the test cannot evaluate condition operator %s", op)
			}
			if !holds {
				return false
			}
		}
	}
	return true
}

func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, s := range v {
			out = append(out, fmt.Sprint(s))
		}
		return out
	}
	return nil
}

// EventBridge may publish only for this stack's rules, identified by
// aws:SourceArn (the documented confused-deputy pattern), the given role
// keeps its right, and nothing else may publish.
func TestOnlyThePipelineRulesAndThePublisherMayPublish(t *testing.T) {
	_, tpl := fixture.Template(t)
	statements := cdktest.Properties(t, tpl, "AWS::SNS::TopicPolicy")["PolicyDocument"].(map[string]any)["Statement"].([]any)
	getAtt := func(id string) map[string]any { return map[string]any{"Fn::GetAtt": []any{id, "Arn"}} }
	var publisher string
	for id := range cdktest.Resources(tpl, "AWS::IAM::Role") {
		if strings.HasPrefix(id, "Publisher") {
			publisher = id
		}
	}
	tls := func(extra map[string]any) map[string]any {
		ctx := map[string]any{"aws:SecureTransport": "true"}
		for k, v := range extra {
			ctx[k] = v
		}
		return ctx
	}
	var requests []publishRequest
	rules := cdktest.Resources(tpl, "AWS::Events::Rule")
	if len(rules) != 3 {
		t.Errorf("%d rules, want 3 (build, pipeline and Source stage failures)", len(rules))
	}
	for id := range rules {
		requests = append(requests, publishRequest{
			name: "EventBridge for rule " + id, service: "events.amazonaws.com",
			context: tls(map[string]any{"aws:SourceArn": getAtt(id)}), want: true,
		})
	}
	requests = append(requests,
		publishRequest{name: "EventBridge for a rule of another stack", service: "events.amazonaws.com",
			context: tls(map[string]any{"aws:SourceArn": "arn:aws:events:eu-west-1:123456789012:rule/other"})},
		publishRequest{name: "EventBridge for a rule of another account", service: "events.amazonaws.com",
			context: tls(map[string]any{"aws:SourceArn": "arn:aws:events:eu-west-1:999999999999:rule/other"})},
		publishRequest{name: "EventBridge without a source", service: "events.amazonaws.com", context: tls(nil)},
		publishRequest{name: "the publisher role", identityAllows: true, want: true,
			context: tls(map[string]any{"aws:PrincipalArn": getAtt(publisher)})},
		publishRequest{name: "the publisher role without TLS", identityAllows: true,
			context: map[string]any{"aws:SecureTransport": "false", "aws:PrincipalArn": getAtt(publisher)}},
		publishRequest{name: "another role of the account with sns:Publish", identityAllows: true,
			context: tls(map[string]any{"aws:PrincipalArn": "arn:aws:iam::123456789012:role/other"})},
		publishRequest{name: "another AWS service", service: "lambda.amazonaws.com",
			context: tls(map[string]any{"aws:SourceArn": "arn:aws:lambda:eu-west-1:123456789012:function:other"})},
	)
	for _, r := range requests {
		if got := allowed(t, statements, r); got != r.want {
			t.Errorf("%s: may publish %v, want %v", r.name, got, r.want)
		}
	}
	// The exemption rests on aws:SourceArn, which EventBridge's deliveries
	// carry by documentation; no statement relies on another key.
	for _, s := range statements {
		if c := cdktest.JSON(s.(map[string]any)["Condition"]); strings.Contains(c, "aws:PrincipalServiceName") {
			t.Errorf("a statement relies on aws:PrincipalServiceName: %s", c)
		}
	}
	if t.Failed() {
		t.Logf("topic policy: %s", cdktest.JSON(statements))
	}
}

func TestEventBridgeMayUseTheKey(t *testing.T) {
	_, tpl := fixture.Template(t)
	doc := cdktest.JSON(cdktest.Properties(t, tpl, "AWS::KMS::Key")["KeyPolicy"])
	if !strings.Contains(doc, `"Action":["kms:Decrypt","kms:GenerateDataKey*"],"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"}`) {
		t.Errorf("EventBridge cannot publish to the encrypted topic; key policy:\n%s", doc)
	}
}

// rule returns the rule whose event pattern has detailType.
func rule(t *testing.T, detailType string) map[string]any {
	t.Helper()
	_, tpl := fixture.Template(t)
	for _, r := range cdktest.Resources(tpl, "AWS::Events::Rule") {
		props := r["Properties"].(map[string]any)
		if cdktest.JSON(props["EventPattern"].(map[string]any)["detail-type"]) == `["`+detailType+`"]` {
			return props
		}
	}
	t.Fatalf("no rule for %s", detailType)
	return nil
}

func TestFailuresAreAnnouncedAsReadableText(t *testing.T) {
	for _, tc := range []struct {
		detailType, pattern, text string
	}{
		{"CodeBuild Build State Change", `"build-status":["FAILED"]`, `"[cicd-pipeline test] Build <detail-build-id> of project <detail-project-name> failed (status <detail-build-status>). Logs: <detail-additional-information-logs-deep-link>"`},
		{"CodePipeline Pipeline Execution State Change", `"state":["FAILED"]`, `"[cicd-pipeline test] Pipeline <detail-pipeline> execution <detail-execution-id> failed.`},
		{"CodePipeline Stage Execution State Change", `"detail":{"stage":["Source"],"state":["FAILED"]}`, `"[cicd-pipeline test] The Source stage of pipeline <detail-pipeline> failed (execution <detail-execution-id>): it could not read branch main of repository service-repo.`},
	} {
		props := rule(t, tc.detailType)
		if p := cdktest.JSON(props["EventPattern"]); !strings.Contains(p, tc.pattern) {
			t.Errorf("%s rule pattern %s lacks %s", tc.detailType, p, tc.pattern)
		}
		targets := props["Targets"].([]any)
		if len(targets) != 1 {
			t.Fatalf("%s rule: want one target, got %s", tc.detailType, cdktest.JSON(targets))
		}
		target := targets[0].(map[string]any)
		if cdktest.JSON(target["Arn"]) != `{"Ref":"NotificationsTopicAE679CBD"}` {
			t.Errorf("%s rule targets %s, want the topic", tc.detailType, cdktest.JSON(target["Arn"]))
		}
		if target["RoleArn"] != nil {
			t.Errorf("%s rule delivers with role %v; SNS targets rely on the topic policy", tc.detailType, target["RoleArn"])
		}
		transformer, _ := target["InputTransformer"].(map[string]any)
		if tmpl, _ := transformer["InputTemplate"].(string); !strings.HasPrefix(tmpl, tc.text) {
			t.Errorf("%s message template %q\nwant it to start %q", tc.detailType, tmpl, tc.text)
		}
	}
}

// The first run of a new pipeline on an empty repository fails in Source;
// its message says so and what to push, instead of a bare failure.
func TestSourceFailureNamesTheFirstRun(t *testing.T) {
	props := rule(t, "CodePipeline Stage Execution State Change")
	if got := cdktest.JSON(props["EventPattern"].(map[string]any)["resources"]); got != `["arn:aws:codepipeline:eu-west-1:123456789012:cicd-pipeline-test"]` {
		t.Errorf("Source failure rule watches %s, want the pipeline only", got)
	}
	tmpl := props["Targets"].([]any)[0].(map[string]any)["InputTransformer"].(map[string]any)["InputTemplate"].(string)
	for _, want := range []string{"expected when the repository is still empty", "runs once when it is created",
		"Push the service (its Dockerfile at the root) to branch main", "starts again by itself", "PENDING"} {
		if !strings.Contains(tmpl, want) {
			t.Errorf("Source failure message lacks %q:\n%s", want, tmpl)
		}
	}
}
