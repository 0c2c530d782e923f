// Package target provides what a pipeline needs in the account of an
// environment it does not share: the role its ECS deploy action assumes and
// the read-only role its validator assumes to verify the rollout. Nothing
// else of the pipeline lives there.
package target

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"cicd/internal/suppress"
)

// Props configures the roles of one environment.
type Props struct {
	// Environment names the environment, in role descriptions.
	Environment string
	// PipelineAccount is where the pipeline runs.
	PipelineAccount string
	// PipelineRoleName and ValidatorRoleName are the names of the pipeline's
	// role and of the validator's role in PipelineAccount: the only
	// principals that may assume the deploy and the verify role.
	PipelineRoleName, ValidatorRoleName string
	// Cluster and Service name the environment's ECS service, in the
	// account and region of the stack.
	Cluster, Service string
	// TaskRoles are the names or ARNs of the roles the service's task
	// definition uses (task role, execution role): the deploy registers a
	// new revision with them, so it may pass exactly these.
	// Default: any role of the account, passed to ECS tasks only.
	TaskRoles []string
}

// Target holds the environment's roles.
type Target struct {
	constructs.Construct
	// DeployRole is assumed by the pipeline's ECS deploy action.
	DeployRole awsiam.Role
	// VerifyRole is assumed by the validator to read the service.
	VerifyRole awsiam.Role
}

// New creates the roles in the stack's account and region. Each trusts the
// pipeline's account only for the one role named (aws:PrincipalArn), which
// need not exist yet: this stack deploys before the pipeline's.
func New(scope constructs.Construct, id string, props Props) *Target {
	this := constructs.NewConstruct(scope, jsii.String(id))
	stack := awscdk.Stack_Of(this)
	arn := func(service, resource, name string) *string {
		return stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String(service), Resource: jsii.String(resource), ResourceName: jsii.String(name),
			ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		})
	}
	pipelineRole := func(name string) *string {
		return jsii.String("arn:" + *awscdk.Aws_PARTITION() + ":iam::" + props.PipelineAccount + ":role/" + name)
	}
	trust := func(name string) awsiam.IPrincipal {
		return awsiam.NewAccountPrincipal(jsii.String(props.PipelineAccount)).WithConditions(&map[string]any{
			"ArnEquals": map[string]any{"aws:PrincipalArn": pipelineRole(name)},
		})
	}
	serviceArn := arn("ecs", "service", props.Cluster+"/"+props.Service)
	clusterArn := arn("ecs", "cluster", props.Cluster)

	deploy := awsiam.NewRole(this, jsii.String("DeployRole"), &awsiam.RoleProps{
		RoleName:    awscdk.PhysicalName_GENERATE_IF_NEEDED(),
		AssumedBy:   trust(props.PipelineRoleName),
		Description: jsii.String("ECS deploy of environment " + props.Environment + " by pipeline role " + props.PipelineRoleName + " of account " + props.PipelineAccount),
	})
	deploy.AddToPolicy(statement([]string{"ecs:DescribeServices", "ecs:UpdateService"}, []*string{serviceArn}, nil))
	// Task definitions have no resource-level permissions for these.
	deploy.AddToPolicy(statement([]string{"ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"}, []*string{jsii.String("*")}, nil))
	// Tags are copied to the new revision: tag task definitions only as
	// they are registered.
	deploy.AddToPolicy(statement([]string{"ecs:TagResource"}, []*string{arn("ecs", "task-definition", "*")},
		map[string]any{"StringEquals": map[string]any{"ecs:CreateAction": "RegisterTaskDefinition"}}))
	// The action watches the rollout's tasks, in this cluster only.
	deploy.AddToPolicy(statement([]string{"ecs:DescribeTasks"}, []*string{arn("ecs", "task", props.Cluster+"/*")}, nil))
	deploy.AddToPolicy(statement([]string{"ecs:ListTasks"}, []*string{jsii.String("*")},
		map[string]any{"ArnEquals": map[string]any{"ecs:cluster": clusterArn}}))
	role := func(name string) *string {
		if strings.HasPrefix(name, "arn:") {
			return jsii.String(name)
		}
		// IAM is global: its ARNs name no region.
		return stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("iam"), Region: jsii.String(""), Resource: jsii.String("role"),
			ResourceName: jsii.String(name), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		})
	}
	passed := []*string{role("*")}
	if len(props.TaskRoles) > 0 {
		passed = nil
		for _, r := range props.TaskRoles {
			passed = append(passed, role(r))
		}
	}
	deploy.AddToPolicy(statement([]string{"iam:PassRole"}, passed,
		map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "ecs-tasks.amazonaws.com"}}))

	verify := awsiam.NewRole(this, jsii.String("VerifyRole"), &awsiam.RoleProps{
		RoleName:    awscdk.PhysicalName_GENERATE_IF_NEEDED(),
		AssumedBy:   trust(props.ValidatorRoleName),
		Description: jsii.String("Read-only check of the rollout in environment " + props.Environment + " by validator role " + props.ValidatorRoleName + " of account " + props.PipelineAccount),
	})
	verify.AddToPolicy(statement([]string{"ecs:DescribeServices"}, []*string{serviceArn}, nil))
	verify.AddToPolicy(statement([]string{"ecs:DescribeTaskDefinition"}, []*string{jsii.String("*")}, nil))

	deployFindings := []suppress.Nag{{
		Rule: suppress.IAM5,
		Reason: "ecs:DescribeTaskDefinition and ecs:RegisterTaskDefinition have no resource-level permissions; " +
			"ecs:TagResource is limited to task definitions being registered, ecs:DescribeTasks to this cluster's tasks, " +
			"ecs:ListTasks to this cluster (ecs:cluster condition)",
		AppliesTo: []string{"Resource::*", "Resource::" + suppress.Arn(this, "ecs", true, "task-definition/*"),
			"Resource::" + suppress.Arn(this, "ecs", true, "task/"+props.Cluster+"/*")},
	}}
	if len(props.TaskRoles) == 0 {
		deployFindings = append(deployFindings, suppress.Nag{
			Rule: suppress.IAM5,
			Reason: "the task definition's roles are not configured (taskRoles), so iam:PassRole covers the account's roles, " +
				"passed to ECS tasks only (iam:PassedToService); set taskRoles to name them",
			AppliesTo: []string{"Resource::" + suppress.Arn(this, "iam", false, "role/*")},
		})
	}
	suppress.Policy(deploy, deployFindings...)
	suppress.Policy(verify, suppress.Nag{
		Rule:      suppress.IAM5,
		Reason:    "ecs:DescribeTaskDefinition has no resource-level permissions",
		AppliesTo: []string{"Resource::*"},
	})
	return &Target{Construct: this, DeployRole: deploy, VerifyRole: verify}
}

// ReadArtifacts lets the deploy role read the image definitions from bucket,
// of the pipeline's account, encrypted with a key of that account in region.
// Across accounts both sides must allow it: this is the role's side; the
// bucket's and the key's policies name the role.
func (t *Target) ReadArtifacts(bucket awss3.IBucket, pipelineAccount, region string) {
	t.DeployRole.AddToPolicy(statement([]string{"s3:GetBucket*", "s3:GetObject*", "s3:List*"},
		[]*string{bucket.BucketArn(), bucket.ArnForObjects(jsii.String("*"))}, nil))
	// The key's ARN is not known here; which key may be used is decided by
	// the key policies of the pipeline's account, and ours names this role.
	keys := "arn:" + *awscdk.Stack_Of(t.Construct).Partition() + ":kms:" + region + ":" + pipelineAccount + ":key/*"
	t.DeployRole.AddToPolicy(statement([]string{"kms:Decrypt", "kms:DescribeKey"}, []*string{jsii.String(keys)}, nil))
	suppress.Policy(t.DeployRole, suppress.Nag{
		Rule: suppress.IAM5,
		Reason: "read access to the pipeline's artifact bucket (its objects, /*) and decryption with keys of the pipeline's " +
			"account in that region: the key and bucket policies there name this role alone",
		AppliesTo: []string{"Action::s3:GetBucket*", "Action::s3:GetObject*", "Action::s3:List*",
			"Resource::" + keys},
		// The bucket's name is generated: the one bucket's objects.
		AppliesToPattern: []string{`Resource::arn:[a-z-]+:s3:::[a-z0-9.-]+\/\*`},
	})
}

func statement(actions []string, resources []*string, conditions map[string]any) awsiam.PolicyStatement {
	props := &awsiam.PolicyStatementProps{Actions: jsii.Strings(actions...), Resources: &resources}
	if conditions != nil {
		props.Conditions = &conditions
	}
	return awsiam.NewPolicyStatement(props)
}
