// Package notifications provides the SNS topic that announces pipeline
// failures, and the EventBridge rules that turn failure events into
// messages a person can read.
package notifications

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2/awscodebuild"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscodepipeline"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

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
	return &Notifications{Construct: this, Topic: topic, environment: props.Environment}
}

// NotifyBuildFailed sends a readable message for every failed build of project.
func (n *Notifications) NotifyBuildFailed(project awscodebuild.IProject) {
	text := fmt.Sprintf("[cicd-pipeline %s] Build %s of project %s failed (status %s). Logs: %s",
		n.environment,
		*awsevents.EventField_FromPath(jsii.String("$.detail.build-id")),
		*awsevents.EventField_FromPath(jsii.String("$.detail.project-name")),
		*awsevents.EventField_FromPath(jsii.String("$.detail.build-status")),
		*awsevents.EventField_FromPath(jsii.String("$.detail.additional-information.logs.deep-link")),
	)
	project.OnBuildFailed(jsii.String("BuildFailed"), &awsevents.OnEventOptions{
		Description: jsii.String("Announces failed builds of the pipeline's project"),
		Target:      n.target(text),
	})
}

// NotifyPipelineFailed sends a readable message for every failed execution.
func (n *Notifications) NotifyPipelineFailed(pipeline awscodepipeline.IPipeline) {
	text := fmt.Sprintf("[cicd-pipeline %s] Pipeline %s execution %s failed. Open the pipeline in the CodePipeline console to see the failed action and its reason.",
		n.environment,
		*awsevents.EventField_FromPath(jsii.String("$.detail.pipeline")),
		*awsevents.EventField_FromPath(jsii.String("$.detail.execution-id")),
	)
	pipeline.OnStateChange(jsii.String("PipelineFailed"), &awsevents.OnEventOptions{
		Description: jsii.String("Announces failed executions of the pipeline"),
		EventPattern: &awsevents.EventPattern{
			Detail: &map[string]interface{}{"state": []string{"FAILED"}},
		},
		Target: n.target(text),
	})
}

// RestrictPublishers denies sns:Publish on the topic to every principal but
// EventBridge and the given roles, so nothing else can post messages that
// look like they came from the pipeline.
func (n *Notifications) RestrictPublishers(roles ...awsiam.IRole) {
	arns := make([]*string, 0, len(roles))
	for _, role := range roles {
		arns = append(arns, role.RoleArn())
	}
	n.Topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("OnlyEventBridgeAndPipelineRolesPublish"),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{n.Topic.TopicArn()},
		Conditions: &map[string]interface{}{
			// Both must hold to deny: the caller is not EventBridge and not one
			// of the roles. A missing key makes a negated condition true.
			"StringNotEquals": map[string]interface{}{"aws:PrincipalServiceName": "events.amazonaws.com"},
			"ArnNotEquals":    map[string]interface{}{"aws:PrincipalArn": &arns},
		},
	}))
}

func (n *Notifications) target(text string) awsevents.IRuleTarget {
	return awseventstargets.NewSnsTopic(n.Topic, &awseventstargets.SnsTopicProps{
		Message: awsevents.RuleTargetInput_FromText(jsii.String(text)),
	})
}
