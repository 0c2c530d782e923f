package constructs_test

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscodebuild"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscodepipeline"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/notifications"
	"cicd/internal/cdktest"
)

var notificationsFixture = cdktest.NewFixture("notifications", nil, func(stack awscdk.Stack) {
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
	tpl, _ := notificationsFixture.Template(t)
	cdktest.ResourceCountIs(t, tpl, "AWS::SNS::Topic", 1)
	if !cdktest.HasResourceProperties(t, tpl, "AWS::SNS::Topic", map[string]any{
		"TopicName":      "notes-test",
		"KmsMasterKeyId": map[string]any{"Fn::GetAtt": []any{assertions.Match_StringLikeRegexp(jsii.String("^Key")), "Arn"}},
	}) {
		t.Error("want topic notes-test encrypted with the stack's KMS key")
	}
	cdktest.ResourceCountIs(t, tpl, "AWS::SNS::Subscription", 1)
	if !cdktest.HasResourceProperties(t, tpl, "AWS::SNS::Subscription", map[string]any{"Protocol": "email", "Endpoint": "team@example.com"}) {
		t.Error("want e-mail to team@example.com")
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
		if !slices.Contains(cdktest.Strings(st["Action"]), "sns:Publish") || !principalMatches(st["Principal"], r.service) {
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
		return service != "" && slices.Contains(cdktest.Strings(p["Service"]), service)
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

// EventBridge may publish only for this stack's rules, identified by
// aws:SourceArn (the documented confused-deputy pattern), the given role
// keeps its right, and nothing else may publish.
func TestOnlyThePipelineRulesAndThePublisherMayPublish(t *testing.T) {
	_, tpl := notificationsFixture.Template(t)
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
	tpl, _ := notificationsFixture.Template(t)
	if !cdktest.HasResourceProperties(t, tpl, "AWS::KMS::Key", map[string]any{
		"KeyPolicy": assertions.Match_ObjectLike(&map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{
				"Action":    []any{"kms:Decrypt", "kms:GenerateDataKey*"},
				"Effect":    "Allow",
				"Principal": assertions.Match_Exact(&map[string]any{"Service": "events.amazonaws.com"}),
				"Condition": assertions.Match_Absent(),
			}),
		})}),
	}) {
		t.Error("EventBridge cannot publish to the encrypted topic")
	}
}

// hasRule checks that the rule whose event pattern has detailType matches
// props; why says what breaks otherwise.
func hasRule(t *testing.T, detailType string, props map[string]any, why string) {
	t.Helper()
	tpl, _ := notificationsFixture.Template(t)
	pattern := map[string]any{"detail-type": []any{detailType}}
	if p, ok := props["EventPattern"].(map[string]any); ok {
		for k, v := range p {
			pattern[k] = v
		}
	}
	all := map[string]any{}
	for k, v := range props {
		all[k] = v
	}
	all["EventPattern"] = assertions.Match_ObjectLike(&pattern)
	if !cdktest.HasResourceProperties(t, tpl, "AWS::Events::Rule", all) {
		t.Errorf("%s rule: %s", detailType, why)
	}
}

func TestFailuresAreAnnouncedAsReadableText(t *testing.T) {
	for _, tc := range []struct {
		detailType string
		detail     any
		text       string
	}{
		{"CodeBuild Build State Change", assertions.Match_ObjectLike(&map[string]any{"build-status": []any{"FAILED"}}), `"[cicd-pipeline test] Build <detail-build-id> of project <detail-project-name> failed (status <detail-build-status>). Logs: <detail-additional-information-logs-deep-link>"`},
		{"CodePipeline Pipeline Execution State Change", assertions.Match_ObjectLike(&map[string]any{"state": []any{"FAILED"}}), `"[cicd-pipeline test] Pipeline <detail-pipeline> execution <detail-execution-id> failed.`},
		{"CodePipeline Stage Execution State Change", assertions.Match_Exact(&map[string]any{"stage": []any{"Source"}, "state": []any{"FAILED"}}), `"[cicd-pipeline test] The Source stage of pipeline <detail-pipeline> failed (execution <detail-execution-id>): it could not read branch main of repository service-repo.`},
	} {
		hasRule(t, tc.detailType, map[string]any{"EventPattern": map[string]any{"detail": tc.detail}},
			"want it to match failures only")
		// SNS targets rely on the topic policy, not on a role.
		hasRule(t, tc.detailType, map[string]any{"Targets": []any{assertions.Match_ObjectLike(&map[string]any{
			"Arn":     assertions.Match_Exact(&map[string]any{"Ref": "NotificationsTopicAE679CBD"}),
			"RoleArn": assertions.Match_Absent(),
			"InputTransformer": assertions.Match_ObjectLike(&map[string]any{
				"InputTemplate": startsWith(tc.text),
			}),
		})}}, "want one target, the topic, without a role, and a message that starts "+tc.text)
	}
}

// startsWith matches a string that begins with text. The matcher's regular
// expression is multi-line: ^ alone would match after any newline.
func startsWith(text string) any {
	return assertions.Match_StringLikeRegexp(jsii.String(`^(?<![\s\S])` + regexp.QuoteMeta(text)))
}

// The first run of a new pipeline on an empty repository fails in Source;
// its message says so and what to push, instead of a bare failure.
func TestSourceFailureNamesTheFirstRun(t *testing.T) {
	const detailType = "CodePipeline Stage Execution State Change"
	hasRule(t, detailType, map[string]any{"EventPattern": map[string]any{
		"resources": assertions.Match_Exact(&[]any{"arn:aws:codepipeline:eu-west-1:123456789012:cicd-pipeline-test"}),
	}}, "want it to watch the pipeline only")
	for _, want := range []string{"expected when the repository is still empty", "runs once when it is created",
		"Push the service (its Dockerfile at the root) to branch main", "starts again by itself", "PENDING"} {
		hasRule(t, detailType, map[string]any{"Targets": []any{assertions.Match_ObjectLike(&map[string]any{
			"InputTransformer": assertions.Match_ObjectLike(&map[string]any{
				"InputTemplate": assertions.Match_StringLikeRegexp(jsii.String(regexp.QuoteMeta(want))),
			}),
		})}}, "the Source failure message lacks "+strconv.Quote(want))
	}
}
