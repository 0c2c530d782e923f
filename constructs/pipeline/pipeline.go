// Package pipeline provides the CodePipeline V2 pipeline:
// Source -> Build -> Validate -> [Approve] -> Deploy -> Verify.
package pipeline

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscodebuild"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscodecommit"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscodepipeline"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscodepipelineactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/build"
	"cicd/internal/suppress"
)

// SourceProvider is where the pipeline's source comes from.
type SourceProvider string

// Source providers.
const (
	// SourceCodeCommit creates a CodeCommit repository: no outside setup.
	SourceCodeCommit SourceProvider = "codecommit"
	// SourceConnection reads GitHub, GitLab or Bitbucket through an AWS
	// CodeConnections connection.
	SourceConnection SourceProvider = "connection"
)

// Namespaces of the action variables used across stages.
const (
	SourceNamespace = "SourceVariables"
	BuildNamespace  = "BuildVariables"
)

// Source configures the Source stage.
type Source struct {
	Provider SourceProvider
	// Branch that triggers the pipeline.
	Branch string
	// RepositoryName of the CodeCommit repository (SourceCodeCommit).
	RepositoryName string
	// ConnectionArn of the CodeConnections connection (SourceConnection).
	ConnectionArn string
	// Owner and Repo of the connected repository (SourceConnection).
	Owner, Repo string
}

// Props configures the pipeline.
type Props struct {
	// PipelineName is the CodePipeline name.
	PipelineName string
	Source       Source
	// ArtifactBucket stores artifacts between stages.
	ArtifactBucket awss3.IBucket
	// Project builds the image and writes imagedefinitions.json.
	Project awscodebuild.IProject
	// Validator gates the image (mode gate) and verifies the rollout (mode verify).
	Validator awslambda.IFunction
	// Service is the ECS service the Deploy stage updates.
	Service awsecs.IBaseService
	// RequireApproval adds a manual approval before Deploy.
	// Default: false.
	RequireApproval bool
	// DeploymentTimeout bounds the ECS rolling update.
	// Default: 20 minutes.
	DeploymentTimeout time.Duration
}

// Pipeline is the pipeline and, for SourceCodeCommit, its repository.
type Pipeline struct {
	constructs.Construct
	Pipeline awscodepipeline.Pipeline
	// Repository is nil unless the source provider is SourceCodeCommit.
	Repository awscodecommit.Repository
}

// New creates the pipeline. Stage and action names are part of what users
// see in the console and in failure messages; keep them stable.
func New(scope constructs.Construct, id string, props Props) *Pipeline {
	this := constructs.NewConstruct(scope, jsii.String(id))
	p := &Pipeline{Construct: this}
	timeout := props.DeploymentTimeout
	if timeout == 0 {
		timeout = 20 * time.Minute
	}

	source := awscodepipeline.NewArtifact(jsii.String("Source"), nil)
	image := awscodepipeline.NewArtifact(jsii.String("ImageDefinitions"), nil)
	sourceAction, commitID := p.sourceAction(props.Source, source)

	buildAction := awscodepipelineactions.NewCodeBuildAction(&awscodepipelineactions.CodeBuildActionProps{
		ActionName:         jsii.String("BuildAndTest"),
		Project:            props.Project,
		Input:              source,
		Outputs:            &[]awscodepipeline.Artifact{image},
		VariablesNamespace: jsii.String(BuildNamespace),
		EnvironmentVariables: &map[string]*awscodebuild.BuildEnvironmentVariable{
			build.VarCommitID: {Value: commitID},
		},
	})
	imageTag := buildAction.Variable(jsii.String(build.VarImageTag))

	stages := []*awscodepipeline.StageProps{
		{StageName: jsii.String("Source"), Actions: &[]awscodepipeline.IAction{sourceAction}},
		{StageName: jsii.String("Build"), Actions: &[]awscodepipeline.IAction{buildAction}},
		{StageName: jsii.String("Validate"), Actions: &[]awscodepipeline.IAction{
			validatorAction("ScanGate", "gate", props.Validator, imageTag),
		}},
	}
	if props.RequireApproval {
		stages = append(stages, &awscodepipeline.StageProps{
			StageName: jsii.String("Approve"),
			Actions: &[]awscodepipeline.IAction{awscodepipelineactions.NewManualApprovalAction(&awscodepipelineactions.ManualApprovalActionProps{
				ActionName:            jsii.String("Approve"),
				AdditionalInformation: jsii.String("Image " + *imageTag + " passed the scan gate. Approve to deploy it."),
			})},
		})
	}
	stages = append(stages,
		&awscodepipeline.StageProps{StageName: jsii.String("Deploy"), Actions: &[]awscodepipeline.IAction{
			awscodepipelineactions.NewEcsDeployAction(&awscodepipelineactions.EcsDeployActionProps{
				ActionName:        jsii.String("RollingUpdate"),
				Service:           props.Service,
				Input:             image,
				DeploymentTimeout: awscdk.Duration_Minutes(jsii.Number(timeout.Minutes())),
			}),
		}},
		&awscodepipeline.StageProps{StageName: jsii.String("Verify"), Actions: &[]awscodepipeline.IAction{
			validatorAction("VerifyRollout", "verify", props.Validator, imageTag),
		}},
	)

	var triggers *[]*awscodepipeline.TriggerProps
	if props.Source.Provider == SourceConnection {
		triggers = &[]*awscodepipeline.TriggerProps{{
			ProviderType: awscodepipeline.ProviderType_CODE_STAR_SOURCE_CONNECTION,
			GitConfiguration: &awscodepipeline.GitConfiguration{
				SourceAction: sourceAction,
				PushFilter: &[]*awscodepipeline.GitPushFilter{{
					BranchesIncludes: jsii.Strings(props.Source.Branch),
				}},
			},
		}}
	}

	p.Pipeline = awscodepipeline.NewPipeline(this, jsii.String("Pipeline"), &awscodepipeline.PipelineProps{
		PipelineName:             jsii.String(props.PipelineName),
		PipelineType:             awscodepipeline.PipelineType_V2,
		ArtifactBucket:           props.ArtifactBucket,
		CrossAccountKeys:         jsii.Bool(false),
		RestartExecutionOnUpdate: jsii.Bool(false),
		Stages:                   &stages,
		Triggers:                 triggers,
	})
	p.suppressGrantFindings(props)
	// CDK makes the pipeline depend on its role, which its RoleArn already
	// does: a redundant DependsOn (cfn-lint W3005), harmless.
	suppress.Lint(p.Pipeline, "W3005")
	return p
}

// suppressGrantFindings accepts the wildcards of the statements that CDK's
// pipeline and actions write into the roles they use.
func (p *Pipeline) suppressGrantFindings(props Props) {
	read := []string{"Action::s3:GetBucket*", "Action::s3:GetObject*", "Action::s3:List*"}
	if suppress.Owned(props.ArtifactBucket) {
		read = append(read, "Resource::"+suppress.GetAtt(props.ArtifactBucket, "Arn")+"/*")
	}
	readWrite := suppress.Nag{
		Rule: suppress.IAM5,
		Reason: "CDK's read/write grant on the artifact bucket, for a role that passes artifacts between stages: " +
			"object and multipart-upload actions on that one bucket and its objects",
		AppliesTo: append([]string{"Action::s3:Abort*", "Action::s3:DeleteObject*"}, read...),
	}
	var source constructs.IConstruct
	if props.Source.Provider == SourceConnection {
		source = suppress.Child(p.Construct, "SourceRole")
	} else {
		source = suppress.Child(p.Pipeline, "Source", "Checkout", "CodePipelineActionRole")
	}
	suppress.Policy(p.Pipeline.Role(), readWrite, suppress.KeyGrant)
	suppress.Policy(source, readWrite, suppress.KeyGrant)
	// The build action grants the project's role the same; the key grant
	// there is the project's own (see the build package).
	suppress.Policy(props.Project.Role(), readWrite)

	suppress.Policy(suppress.Child(p.Pipeline, "Deploy", "RollingUpdate", "CodePipelineActionRole"),
		suppress.Nag{
			Rule: suppress.IAM5,
			Reason: "CDK's read grant on the artifact bucket for the ECS deploy action, which reads imagedefinitions.json " +
				"from that one bucket",
			AppliesTo: read,
		},
		suppress.Nag{
			Rule: suppress.IAM5,
			Reason: "statements of CDK's ECS deploy action: ecs:RegisterTaskDefinition and ecs:DescribeTaskDefinition " +
				"have no resource-level permissions, and the new task definition's roles are not known in advance " +
				"(iam:PassRole is limited to ecs-tasks.amazonaws.com and ec2.amazonaws.com by iam:PassedToService)",
			AppliesTo: []string{"Resource::*"},
		})

	invoke := suppress.Nag{
		Rule: suppress.IAM5,
		Reason: "CDK's Lambda invoke action: lambda:ListFunctions has no resource-level permissions, and " +
			"lambda:InvokeFunction covers the validator's versions and aliases (ARN:*), that one function only",
		AppliesTo: []string{"Resource::*"},
	}
	if suppress.Owned(props.Validator) {
		invoke.AppliesTo = append(invoke.AppliesTo, "Resource::"+suppress.GetAtt(props.Validator, "Arn")+":*")
	}
	suppress.Policy(suppress.Child(p.Pipeline, "Validate", "ScanGate", "CodePipelineActionRole"), invoke)
	suppress.Policy(suppress.Child(p.Pipeline, "Verify", "VerifyRollout", "CodePipelineActionRole"), invoke)
}

// sourceAction returns the Source stage's action and the commit id variable.
func (p *Pipeline) sourceAction(src Source, output awscodepipeline.Artifact) (awscodepipeline.IAction, *string) {
	if src.Provider == SourceConnection {
		// CDK grants codestar-connections:UseConnection. A connection ARN of
		// the newer codeconnections service needs that prefix instead, so the
		// action gets its own role with the statement that matches the ARN.
		// Only the pipeline's role assumes it (CDK's default for a role it
		// makes trusts the whole account).
		role := awsiam.NewRole(p.Construct, jsii.String("SourceRole"), &awsiam.RoleProps{
			AssumedBy:   awsiam.NewArnPrincipal(awscdk.Lazy_String(&pipelineRoleArn{p}, nil)),
			Description: jsii.String("Source action of " + src.Owner + "/" + src.Repo),
		})
		if prefix := ConnectionService(src.ConnectionArn); prefix != "codestar-connections" {
			role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions:   jsii.Strings(prefix + ":UseConnection"),
				Resources: jsii.Strings(src.ConnectionArn),
			}))
		}
		action := awscodepipelineactions.NewCodeStarConnectionsSourceAction(&awscodepipelineactions.CodeStarConnectionsSourceActionProps{
			ActionName:         jsii.String("Checkout"),
			ConnectionArn:      jsii.String(src.ConnectionArn),
			Owner:              jsii.String(src.Owner),
			Repo:               jsii.String(src.Repo),
			Branch:             jsii.String(src.Branch),
			Output:             output,
			Role:               role,
			VariablesNamespace: jsii.String(SourceNamespace),
			// The pipeline's own V2 trigger starts executions on push.
			TriggerOnPush: jsii.Bool(false),
		})
		return action, action.Variables().CommitId
	}

	repo := awscodecommit.NewRepository(p.Construct, jsii.String("Repository"), &awscodecommit.RepositoryProps{
		RepositoryName: jsii.String(src.RepositoryName),
		Description:    jsii.String("Source of the service delivered by pipeline " + src.RepositoryName),
	})
	// Kept when the stack is deleted or the repository replaced (it holds
	// the source), but removed when the stack's first create rolls back, so
	// a failed first deploy does not leave its fixed name behind.
	repo.ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN_ON_UPDATE_OR_DELETE)
	awscdk.Aspects_Of(repo).Add(&branchesOnly{ruleSuffix: "EventRule"}, &awscdk.AspectOptions{Priority: awscdk.AspectPriority_MUTATING()})
	p.Repository = repo
	action := awscodepipelineactions.NewCodeCommitSourceAction(&awscodepipelineactions.CodeCommitSourceActionProps{
		ActionName: jsii.String("Checkout"),
		Repository: repo,
		Branch:     jsii.String(src.Branch),
		Output:     output,
		// An EventBridge rule starts the pipeline on a push to the branch.
		Trigger:            awscodepipelineactions.CodeCommitTrigger_EVENTS,
		VariablesNamespace: jsii.String(SourceNamespace),
	})
	return action, action.Variables().CommitId
}

// pipelineRoleArn is the ARN of the pipeline's role, read when the template
// is written: the source action's role is made before the pipeline.
type pipelineRoleArn struct{ p *Pipeline }

func (r *pipelineRoleArn) Produce() *string {
	if r.p.Pipeline == nil {
		panic("pipeline: the source action's role is trusted by the pipeline's role, but Pipeline.Pipeline was never set")
	}
	return r.p.Pipeline.Role().RoleArn()
}

// branchesOnly narrows the rule that the CodeCommit source action adds to
// the repository (a push to the branch) to branches: CodeCommit sends the
// same event for a tag, so a tag named like the branch would start the
// pipeline too. It runs as an aspect because the rule is made when the
// pipeline binds the action, after the action is returned.
type branchesOnly struct {
	// ruleSuffix ends the ID CDK gives the source action's rule:
	// "<pipeline><branch>EventRule".
	ruleSuffix string
}

func (b *branchesOnly) Visit(node constructs.IConstruct) {
	if rule, ok := node.(awsevents.Rule); ok && strings.HasSuffix(*rule.Node().Id(), b.ruleSuffix) {
		rule.AddEventPattern(&awsevents.EventPattern{
			Detail: &map[string]interface{}{"referenceType": []string{"branch"}},
		})
	}
}

// ConnectionService returns the IAM service prefix of a connection ARN:
// "codeconnections" or the legacy "codestar-connections".
func ConnectionService(arn string) string {
	parts := strings.SplitN(arn, ":", 4)
	if len(parts) < 3 {
		return ""
	}
	return parts[2]
}

// UserParameters is the validator's input: its mode, the image tag the build
// exported and the pipeline execution id, resolved by CodePipeline at run time.
func UserParameters(mode, imageTag string) string {
	out, _ := json.Marshal(struct {
		Mode        string `json:"mode"`
		ImageTag    string `json:"imageTag"`
		ExecutionID string `json:"executionId"`
	}{mode, imageTag, *awscodepipeline.GlobalVariables_ExecutionId()})
	return string(out)
}

func validatorAction(name, mode string, fn awslambda.IFunction, imageTag *string) awscodepipeline.IAction {
	return awscodepipelineactions.NewLambdaInvokeAction(&awscodepipelineactions.LambdaInvokeActionProps{
		ActionName: jsii.String(name),
		Lambda:     fn,
		// A string, not a map: Go map order would make the template differ
		// between synths.
		UserParametersString: jsii.String(UserParameters(mode, *imageTag)),
	})
}
