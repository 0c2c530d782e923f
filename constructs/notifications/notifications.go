// Package notifications provides the SNS topic that announces pipeline
// failures, and the EventBridge rules that turn failure events into
// messages a person can read.
package notifications

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscodebuild"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscodepipeline"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawsevents"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// eventBridge is the service principal that delivers the rules' messages.
const eventBridge = "events.amazonaws.com"

// Props configures the topic.
type Props struct {
	// TopicName is the SNS topic name.
	TopicName string
	// Environment names the environment in every message.
	Environment string
	// Key encrypts the topic.
	Key awskms.IKey
	// Email, when set, is subscribed to the topic.
	// Default: no subscription.
	Email string
}

// Notifications is the failure topic.
type Notifications struct {
	constructs.Construct
	Topic       awssns.Topic
	environment string
	key         awskms.IKey
	// rules are the rules that publish to the topic: the only sources
	// EventBridge may publish for.
	rules []awsevents.IRule
	// sources are the other sources (ARN patterns) allowed to publish, by
	// a statement of their own: CloudWatch alarms.
	sources []*string
}

// New creates the KMS-encrypted topic, TLS only, with the optional e-mail
// subscription.
func New(scope constructs.Construct, id string, props Props) *Notifications {
	this := constructs.NewConstruct(scope, jsii.String(id))
	topic := awssns.NewTopic(this, jsii.String("Topic"), &awssns.TopicProps{
		TopicName:   jsii.String(props.TopicName),
		DisplayName: jsii.String("cicd-pipeline " + props.Environment),
		MasterKey:   props.Key,
		EnforceSSL:  jsii.Bool(true),
	})
	if props.Email != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(props.Email), nil))
	}
	return &Notifications{Construct: this, Topic: topic, environment: props.Environment, key: props.Key}
}

// NotifyBuildFailed sends a readable message for every failed build of project.
func (n *Notifications) NotifyBuildFailed(project awscodebuild.IProject) {
	text := fmt.Sprintf("[cicd-pipeline %s] Build %s of project %s failed (status %s). Logs: %s",
		n.environment,
		field("$.detail.build-id"),
		field("$.detail.project-name"),
		field("$.detail.build-status"),
		field("$.detail.additional-information.logs.deep-link"),
	)
	n.Announce(project.OnBuildFailed(jsii.String("BuildFailed"), &awsevents.OnEventOptions{
		Description: jsii.String("Announces failed builds of the pipeline's project"),
	}), text)
}

// NotifyPipelineFailed sends a readable message for every failed execution.
func (n *Notifications) NotifyPipelineFailed(pipeline awscodepipeline.IPipeline) {
	text := fmt.Sprintf("[cicd-pipeline %s] Pipeline %s execution %s failed. Open the pipeline in the CodePipeline console to see the failed action and its reason.",
		n.environment,
		field("$.detail.pipeline"),
		field("$.detail.execution-id"),
	)
	n.Announce(pipeline.OnStateChange(jsii.String("PipelineFailed"), &awsevents.OnEventOptions{
		Description: jsii.String("Announces failed executions of the pipeline"),
		EventPattern: &awsevents.EventPattern{
			Detail: &map[string]interface{}{"state": []string{"FAILED"}},
		},
	}), text)
}

// SourceStage is the name of the pipeline stage that NotifySourceFailed
// watches.
const SourceStage = "Source"

// NotifySourceFailed sends a message that names the likely cause when the
// Source stage fails. A new pipeline runs once as soon as it is created; on a
// new, empty repository the branch does not exist yet, so that first run
// fails here. repository and branch are what the pipeline reads.
func (n *Notifications) NotifySourceFailed(pipeline awscodepipeline.IPipeline, repository, branch string) {
	text := fmt.Sprintf("[cicd-pipeline %s] The Source stage of pipeline %s failed (execution %s): it could not read branch %s of repository %s. "+
		"On a new pipeline this is expected when the repository is still empty: the pipeline runs once when it is created, before anything is pushed. "+
		"Push the service (its Dockerfile at the root) to branch %s and the pipeline starts again by itself. "+
		"If the branch exists, open the execution in the CodePipeline console for the reason (with a connection source, the connection may still be PENDING).",
		n.environment,
		field("$.detail.pipeline"),
		field("$.detail.execution-id"),
		branch, repository, branch,
	)
	n.Announce(pipeline.OnEvent(jsii.String("SourceFailed"), &awsevents.OnEventOptions{
		Description: jsii.String("Announces a failed Source stage, with the first-run hint"),
		EventPattern: &awsevents.EventPattern{
			DetailType: jsii.Strings("CodePipeline Stage Execution State Change"),
			Detail:     &map[string]interface{}{"stage": []string{SourceStage}, "state": []string{"FAILED"}},
		},
	}), text)
}

// RestrictPublishers denies sns:Publish on the topic to every principal but
// the given roles and EventBridge delivering for this construct's rules, so
// nothing else can post messages that look like they came from the pipeline.
func (n *Notifications) RestrictPublishers(roles ...awsiam.IRole) {
	notEquals := map[string]interface{}{
		// Missing for any caller that is not an AWS service delivering for
		// one of the sources, and a missing key makes a negated condition
		// true.
		"aws:SourceArn": n.sourceArns(),
	}
	if len(roles) > 0 {
		arns := make([]*string, 0, len(roles))
		for _, role := range roles {
			arns = append(arns, role.RoleArn())
		}
		notEquals["aws:PrincipalArn"] = &arns
	}
	n.Topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("OnlyPipelineRulesAndRolesPublish"),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{n.Topic.TopicArn()},
		// Every key must hold to deny: the caller is none of the roles, and
		// not EventBridge delivering for one of the rules.
		Conditions: &map[string]interface{}{"ArnNotEquals": notEquals},
	}))
}

// GrantAlarmsPublish lets CloudWatch publish to topic for the alarms of the
// stack's account whose ARNs match alarmArns (a pattern may end in *), and
// nothing else: a statement of the topic's policy. For a topic encrypted with
// key it also lets CloudWatch make the data keys SNS encrypts each message
// with (kms:Decrypt, kms:GenerateDataKey*), a statement of the key's policy.
// With RestrictPublishers, the same ARNs go to AllowSource.
func GrantAlarmsPublish(topic awssns.ITopic, key awskms.IKey, alarmArns *string) {
	cloudWatch := awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Principals: &[]awsiam.IPrincipal{cloudWatch},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{topic.TopicArn()},
		Conditions: &map[string]any{
			"ArnLike":      map[string]any{"aws:SourceArn": alarmArns},
			"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Stack_Of(topic).Account()},
		},
	}))
	if key != nil {
		key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("CloudWatchAlarmsUseKeyForTopic"),
			Principals: &[]awsiam.IPrincipal{cloudWatch},
			Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
			Resources:  jsii.Strings("*"),
		}), jsii.Bool(false))
	}
}

// Announce makes the topic the target of rule, with text as the message (it
// may hold awsevents.EventField values), and lets EventBridge publish for
// that rule. Every rule that publishes to the topic must be added here: the
// topic policy names each one, and refuses EventBridge for any other.
func (n *Notifications) Announce(rule awsevents.Rule, text string) {
	if len(n.rules) == 0 {
		// CDK's SNS target would allow EventBridge to publish for any rule of
		// any account (and grant the key for it). Instead the topic trusts
		// EventBridge only for the rules made here: the confused-deputy
		// pattern of
		// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions
		// and https://docs.aws.amazon.com/eventbridge/latest/userguide/cross-service-confused-deputy-prevention.html
		n.Topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("EventBridgePublishesForPipelineRules"),
			Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String(eventBridge), nil)},
			Actions:    jsii.Strings("sns:Publish"),
			Resources:  &[]*string{n.Topic.TopicArn()},
			Conditions: &map[string]interface{}{"ArnEquals": map[string]interface{}{"aws:SourceArn": n.ruleArns()}},
		}))
		// SNS encrypts each message with a data key that EventBridge, the
		// publisher, must be allowed to make (what CDK's SNS target grants).
		// No aws:SourceAccount condition: EventBridge's deliveries to an
		// encrypted topic do not support it.
		if n.key != nil {
			n.key.Grant(awsiam.NewServicePrincipal(jsii.String(eventBridge), nil), jsii.String("kms:Decrypt"), jsii.String("kms:GenerateDataKey*"))
		}
	}
	n.rules = append(n.rules, rule)
	rule.AddTarget(&topicTarget{topic: n.Topic, message: awsevents.RuleTargetInput_FromText(jsii.String(text))})
}

// AllowSource exempts a source from RestrictPublishers' deny: an AWS service
// publishing on its behalf (aws:SourceArn; a pattern may end in *), such as
// CloudWatch for the alarms whose ARNs match. The service's own allow
// statement is the caller's to add.
func (n *Notifications) AllowSource(arn *string) {
	n.sources = append(n.sources, arn)
}

// sourceArns is ruleArns and the sources of AllowSource.
func (n *Notifications) sourceArns() *[]*string {
	return awscdk.Lazy_List(&ruleArns{n: n, more: true}, &awscdk.LazyListValueOptions{OmitEmpty: jsii.Bool(true)})
}

// ruleArns is the ARNs of the rules made here, read when the template is
// written, so rules added after a policy statement are in it too.
func (n *Notifications) ruleArns() *[]*string {
	return awscdk.Lazy_List(&ruleArns{n: n}, &awscdk.LazyListValueOptions{OmitEmpty: jsii.Bool(true)})
}

type ruleArns struct {
	n    *Notifications
	more bool // the sources of AllowSource too
}

func (r *ruleArns) Produce() *[]*string {
	arns := make([]*string, 0, len(r.n.rules)+len(r.n.sources))
	for _, rule := range r.n.rules {
		arns = append(arns, rule.RuleArn())
	}
	if r.more {
		arns = append(arns, r.n.sources...)
	}
	return &arns
}

// topicTarget is CDK's SNS target without its grant (see publish).
type topicTarget struct {
	topic   awssns.ITopic
	message awsevents.RuleTargetInput
}

func (t *topicTarget) Bind(_ interfacesawsevents.IRuleRef, _ *string) *awsevents.RuleTargetConfig {
	return &awsevents.RuleTargetConfig{Arn: t.topic.TopicArn(), Input: t.message, TargetResource: t.topic}
}

func field(path string) string { return *awsevents.EventField_FromPath(jsii.String(path)) }
