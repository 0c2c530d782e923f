// Package encryption provides the one customer managed KMS key that encrypts
// every store of the pipeline: artifacts, images, state, topic and logs.
package encryption

import (
	"cmp"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Props configures the key.
type Props struct {
	// Alias of the key, including the "alias/" prefix.
	Alias string
	// Description shown in the KMS console.
	// Default: "cicd pipeline key".
	Description string
	// LogGroupNames are the CloudWatch Logs groups allowed to encrypt with the
	// key. The logs service principal is limited to these through the
	// kms:EncryptionContext:aws:logs:arn condition.
	LogGroupNames []string
}

// Encryption is the pipeline's KMS key and its alias.
type Encryption struct {
	constructs.Construct
	Key   awskms.Key
	Alias awskms.Alias
}

// New creates the key with rotation on and a key policy that lets CloudWatch
// Logs use it for the named log groups, which CDK does not add by itself,
// and lets only AWS services create grants on it.
// The EventBridge statement for the encrypted topic is added by CDK when a
// rule targets the topic (see the stack test that pins it).
func New(scope constructs.Construct, id string, props Props) *Encryption {
	this := constructs.NewConstruct(scope, jsii.String(id))
	key := awskms.NewKey(this, jsii.String("Key"), &awskms.KeyProps{
		Description:       jsii.String(cmp.Or(props.Description, "cicd pipeline key")),
		EnableKeyRotation: jsii.Bool(true),
		PendingWindow:     awscdk.Duration_Days(jsii.Number(30)),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})
	stack := awscdk.Stack_Of(this)

	if len(props.LogGroupNames) > 0 {
		arns := make([]*string, 0, len(props.LogGroupNames))
		for _, name := range props.LogGroupNames {
			arns = append(arns, stack.FormatArn(&awscdk.ArnComponents{
				Service:      jsii.String("logs"),
				Resource:     jsii.String("log-group"),
				ResourceName: jsii.String(name),
				ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
			}))
		}
		key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String("AllowCloudWatchLogsForPipelineLogGroups"),
			Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(
				jsii.String("logs."+*stack.Region()+".amazonaws.com"), nil)},
			Actions:   jsii.Strings("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"),
			Resources: jsii.Strings("*"),
			Conditions: &map[string]interface{}{
				"ArnLike": map[string]interface{}{"kms:EncryptionContext:aws:logs:arn": &arns},
			},
		}), jsii.Bool(false))
	}

	// Only AWS services may create grants on the key, on behalf of a caller
	// (DynamoDB and ECR do, for the table and the repository): a principal
	// that may use the key cannot hand that use on to others by a grant.
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("DenyGrantsNotForAwsServices"),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("kms:CreateGrant"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]interface{}{
			"BoolIfExists": map[string]interface{}{
				"kms:GrantIsForAWSResource": "false",
				"aws:PrincipalIsAWSService": "false",
			},
		},
	}), jsii.Bool(false))

	alias := awskms.NewAlias(this, jsii.String("Alias"), &awskms.AliasProps{
		AliasName: jsii.String(props.Alias),
		TargetKey: key,
	})
	return &Encryption{Construct: this, Key: key, Alias: alias}
}

// NewLogGroup creates the log group name, encrypted with key (whose policy
// must name the group: Props.LogGroupNames), keeping its events for
// retention (Default: one week). The logs of a build or an invocation are
// short-lived: the group is destroyed with the stack, so the stack can be
// deleted and deployed again under the same name.
func NewLogGroup(scope constructs.Construct, id, name string, key awskms.IKey, retention awslogs.RetentionDays) awslogs.LogGroup {
	return awslogs.NewLogGroup(scope, jsii.String(id), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String(name),
		Retention:     cmp.Or(retention, awslogs.RetentionDays_ONE_WEEK),
		EncryptionKey: key,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
}
