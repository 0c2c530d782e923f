// Package pipeline provides the CodePipeline V2 pipeline:
// Source -> Build -> Validate -> [Approve] -> Deploy -> Verify.
package pipeline

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
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

// Repository names the source repository as people know it: the CodeCommit
// repository's name, or owner/repo.
func (s Source) Repository() string {
	if s.Provider == SourceConnection {
		return s.Owner + "/" + s.Repo
	}
	return s.RepositoryName
}

// Props configures the pipeline.
type Props struct {
	// PipelineName is the CodePipeline name.
	PipelineName string
	Source       Source
	// ArtifactBucket stores artifacts between stages.
	ArtifactBucket awss3.IBucket
	// Project builds the image and writes the image definition files.
	Project awscodebuild.IProject
	// Validator gates the image (mode gate) and verifies each rollout (mode verify).
	Validator awslambda.IFunction
	// Environments receive the image in this order; a failed verify stops
	// the promotion before the next one.
	Environments []Environment
	// StagePerEnvironment gives each environment a stage named after it, with
	// the actions Approve, RollingUpdate and VerifyRollout in order. Without
	// it the one environment gets the stages Approve, Deploy and Verify.
	// Default: false.
	StagePerEnvironment bool
	// DeploymentTimeout bounds each ECS rolling update.
	// Default: 20 minutes.
	DeploymentTimeout time.Duration
	// Role is the pipeline's own role.
	// Default: a role CDK creates.
	Role awsiam.IRole
	// ReplicationBuckets hold the artifacts for actions in other regions, by
	// region.
	// Default: none (every environment in the pipeline's region).
	ReplicationBuckets map[string]awss3.IBucket
}

// Environment is one step of the promotion: an existing ECS service that
// gets the image, after an approval if required, and is then verified.
type Environment struct {
	// Name of the environment, in stage names and in what the validator records.
	Name string
	// Service is the ECS service the deploy action updates.
	Service awsecs.IBaseService
	// ImageFile is the file of the build output that names the image for the
	// service's container.
	// Default: imagedefinitions.json.
	ImageFile string
	// RequireApproval adds a manual approval before the deploy.
	// Default: false.
	RequireApproval bool
	// DeployRole is the role the deploy action uses, for a service in another
	// account.
	// Default: a role CDK creates in the pipeline's account.
	DeployRole awsiam.IRole
	// Verify tells the validator where the service runs. Its zero value
	// leaves the validator's own settings (ECS_CLUSTER, ECS_SERVICE,
	// CONTAINER_NAME) in force.
	Verify Target
}

// Target is the service a verify action checks, as the validator reads it
// from its UserParameters.
type Target struct {
	Cluster   string `json:"cluster,omitempty"`
	Service   string `json:"service,omitempty"`
	Container string `json:"container,omitempty"`
	// Account and Region of the service when they are not the pipeline's.
	Account string `json:"account,omitempty"`
	Region  string `json:"region,omitempty"`
	// RoleArn is the role the validator assumes to read the service, for an
	// account other than the pipeline's.
	RoleArn string `json:"roleArn,omitempty"`
}

// Pipeline is the pipeline and, for SourceCodeCommit, its repository.
type Pipeline struct {
	constructs.Construct
	Pipeline awscodepipeline.Pipeline
	// Repository is nil unless the source provider is SourceCodeCommit.
	Repository awscodecommit.Repository
	// InvokeRoles are the roles of the actions that invoke the validator.
	InvokeRoles []awsiam.IRole
}

// Stage and action names: part of what users see in the console and in
// failure messages; keep them stable.
const (
	stageApprove  = "Approve"
	stageDeploy   = "Deploy"
	stageVerify   = "Verify"
	actionGate    = "ScanGate"
	actionApprove = "Approve"
	actionDeploy  = "RollingUpdate"
	actionVerify  = "VerifyRollout"
)

// New creates the pipeline: Source, Build, Validate, then each environment
// in order.
func New(scope constructs.Construct, id string, props Props) *Pipeline {
	this := constructs.NewConstruct(scope, jsii.String(id))
	p := &Pipeline{Construct: this}
	if len(props.Environments) == 0 {
		panic("pipeline: no environments")
	}
	if len(props.Environments) > 1 && !props.StagePerEnvironment {
		panic("pipeline: several environments need StagePerEnvironment")
	}
	source := awscodepipeline.NewArtifact(jsii.String("Source"), nil)
	image := awscodepipeline.NewArtifact(jsii.String("ImageDefinitions"), nil)
	sourceAction, commitID := p.sourceAction(props.Source, source)
	buildAction := newBuildAction(props.Project, source, image, commitID)
	params := Parameters{
		ImageTag:    *buildAction.Variable(jsii.String(build.VarImageTag)),
		ImageDigest: *buildAction.Variable(jsii.String(build.VarImageDigest)),
		ExecutionID: *awscodepipeline.GlobalVariables_ExecutionId(),
		CommitTime:  commitTime(sourceAction),
	}
	gate := params
	gate.Mode = "gate"
	stages := []*awscodepipeline.StageProps{
		{StageName: jsii.String("Source"), Actions: &[]awscodepipeline.IAction{sourceAction}},
		{StageName: jsii.String("Build"), Actions: &[]awscodepipeline.IAction{buildAction}},
		{StageName: jsii.String("Validate"), Actions: &[]awscodepipeline.IAction{validatorAction(actionGate, props.Validator, gate, 0)}},
	}
	stages = append(stages, p.environmentStages(props, image, params)...)
	artifactBucket, replication := artifactStores(this, props)
	p.Pipeline = awscodepipeline.NewPipeline(this, jsii.String("Pipeline"), &awscodepipeline.PipelineProps{
		PipelineName:                  jsii.String(props.PipelineName),
		PipelineType:                  awscodepipeline.PipelineType_V2,
		ArtifactBucket:                artifactBucket,
		CrossAccountKeys:              jsii.Bool(false),
		CrossRegionReplicationBuckets: replication,
		RestartExecutionOnUpdate:      jsii.Bool(false),
		Role:                          props.Role,
		Stages:                        &stages,
		Triggers:                      triggers(props.Source, sourceAction),
	})
	p.suppressGrantFindings(props)
	// CDK makes the pipeline depend on its role, which its RoleArn already
	// does: a redundant DependsOn (cfn-lint W3005), harmless.
	suppress.Lint(p.Pipeline, "W3005")
	return p
}

// newBuildAction builds the commit into the image and writes the image
// definitions; its variables name the image for the later actions.
func newBuildAction(project awscodebuild.IProject, source, image awscodepipeline.Artifact, commitID *string) awscodepipelineactions.CodeBuildAction {
	return awscodepipelineactions.NewCodeBuildAction(&awscodepipelineactions.CodeBuildActionProps{
		ActionName:         jsii.String("BuildAndTest"),
		Project:            project,
		Input:              source,
		Outputs:            &[]awscodepipeline.Artifact{image},
		VariablesNamespace: jsii.String(BuildNamespace),
		EnvironmentVariables: &map[string]*awscodebuild.BuildEnvironmentVariable{
			build.VarCommitID: {Value: commitID},
		},
	})
}

// environmentStages are the stages of the environments, in order: each
// [Approve], Deploy and Verify, as a stage of its own or (one environment,
// without StagePerEnvironment) as the stages Approve, Deploy and Verify.
func (p *Pipeline) environmentStages(props Props, image awscodepipeline.Artifact, params Parameters) []*awscodepipeline.StageProps {
	timeout := cmp.Or(props.DeploymentTimeout, 20*time.Minute)
	var stages []*awscodepipeline.StageProps
	previous := "the scan gate"
	for _, env := range props.Environments {
		verify := params
		verify.Mode = "verify"
		if props.StagePerEnvironment {
			verify.Environment = env.Name
			if env.Verify != (Target{}) {
				target := env.Verify
				verify.Target = &target
			}
		}
		var approve awscodepipeline.IAction
		if env.RequireApproval {
			approve = awscodepipelineactions.NewManualApprovalAction(&awscodepipelineactions.ManualApprovalActionProps{
				ActionName: jsii.String(actionApprove),
				AdditionalInformation: jsii.String(fmt.Sprintf("Image %s (%s) passed %s. Approve to deploy it to %s.",
					params.ImageTag, params.ImageDigest, previous, env.Name)),
				RunOrder: jsii.Number(1),
			})
		}
		previous = "the checks of " + env.Name
		if !props.StagePerEnvironment {
			stages = append(stages, legacyStages(approve, p.deployAction(env, image, timeout, 0), validatorAction(actionVerify, props.Validator, verify, 0))...)
			continue
		}
		actions := []awscodepipeline.IAction{}
		order := 1
		if approve != nil {
			actions = append(actions, approve)
			order++
		}
		actions = append(actions, p.deployAction(env, image, timeout, order), validatorAction(actionVerify, props.Validator, verify, order+1))
		stages = append(stages, &awscodepipeline.StageProps{StageName: jsii.String(env.Name), Actions: &actions})
	}
	return stages
}

// triggers start the pipeline on a push to the branch of a connection's
// repository (a CodeCommit source has its own EventBridge rule).
func triggers(src Source, action awscodepipeline.IAction) *[]*awscodepipeline.TriggerProps {
	if src.Provider != SourceConnection {
		return nil
	}
	return &[]*awscodepipeline.TriggerProps{{
		ProviderType: awscodepipeline.ProviderType_CODE_STAR_SOURCE_CONNECTION,
		GitConfiguration: &awscodepipeline.GitConfiguration{
			SourceAction: action,
			PushFilter: &[]*awscodepipeline.GitPushFilter{{
				BranchesIncludes: jsii.Strings(src.Branch),
			}},
		},
	}}
}

// artifactStores are the pipeline's artifact bucket or, with replication
// buckets, the buckets by region: CDK takes one or the other, the
// pipeline's own region among the buckets.
func artifactStores(scope constructs.Construct, props Props) (awss3.IBucket, *map[string]awss3.IBucket) {
	if len(props.ReplicationBuckets) == 0 {
		return props.ArtifactBucket, nil
	}
	buckets := maps.Clone(props.ReplicationBuckets)
	buckets[*awscdk.Stack_Of(scope).Region()] = props.ArtifactBucket
	return nil, &buckets
}

// legacyStages are the single environment's stages: Approve (when
// required), Deploy and Verify.
func legacyStages(approve, deploy, verify awscodepipeline.IAction) []*awscodepipeline.StageProps {
	var stages []*awscodepipeline.StageProps
	if approve != nil {
		stages = append(stages, &awscodepipeline.StageProps{StageName: jsii.String(stageApprove), Actions: &[]awscodepipeline.IAction{approve}})
	}
	return append(stages,
		&awscodepipeline.StageProps{StageName: jsii.String(stageDeploy), Actions: &[]awscodepipeline.IAction{deploy}},
		&awscodepipeline.StageProps{StageName: jsii.String(stageVerify), Actions: &[]awscodepipeline.IAction{verify}},
	)
}

// deployAction rolls the environment's service onto the image its file
// names (by digest). order 0 leaves the run order to CDK.
func (p *Pipeline) deployAction(env Environment, image awscodepipeline.Artifact, timeout time.Duration, order int) awscodepipeline.IAction {
	props := &awscodepipelineactions.EcsDeployActionProps{
		ActionName:        jsii.String(actionDeploy),
		Service:           env.Service,
		DeploymentTimeout: awscdk.Duration_Minutes(jsii.Number(timeout.Minutes())),
		Role:              env.DeployRole,
	}
	if env.ImageFile == "" {
		props.Input = image
	} else {
		props.ImageFile = image.AtPath(jsii.String(env.ImageFile))
	}
	if order > 0 {
		props.RunOrder = jsii.Number(order)
	}
	return awscodepipelineactions.NewEcsDeployAction(props)
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

	deployFindings := []suppress.Nag{{
		Rule: suppress.IAM5,
		Reason: "CDK's read grant on the artifact bucket for the ECS deploy action, which reads the image definitions " +
			"from that one bucket",
		AppliesTo: read,
	}, {
		Rule: suppress.IAM5,
		Reason: "statements of CDK's ECS deploy action: ecs:RegisterTaskDefinition and ecs:DescribeTaskDefinition " +
			"have no resource-level permissions, and the new task definition's roles are not known in advance " +
			"(iam:PassRole is limited to ecs-tasks.amazonaws.com and ec2.amazonaws.com by iam:PassedToService)",
		AppliesTo: []string{"Resource::*"},
	}}
	invoke := suppress.Nag{
		Rule: suppress.IAM5,
		Reason: "CDK's Lambda invoke action: lambda:ListFunctions has no resource-level permissions, and " +
			"lambda:InvokeFunction covers the validator's versions and aliases (ARN:*), that one function only",
		AppliesTo: []string{"Resource::*"},
	}
	if suppress.Owned(props.Validator) {
		invoke.AppliesTo = append(invoke.AppliesTo, "Resource::"+suppress.GetAtt(props.Validator, "Arn")+":*")
	}
	p.InvokeRoles = append(p.InvokeRoles, p.actionRole("Validate", actionGate))
	suppress.Policy(p.InvokeRoles[0], invoke)
	for _, env := range props.Environments {
		deployStage, verifyStage := stageDeploy, stageVerify
		if props.StagePerEnvironment {
			deployStage, verifyStage = env.Name, env.Name
		}
		if env.DeployRole == nil {
			// An explicit role (another account) carries its own statements.
			suppress.Policy(p.actionRole(deployStage, actionDeploy), deployFindings...)
		}
		role := p.actionRole(verifyStage, actionVerify)
		suppress.Policy(role, invoke)
		p.InvokeRoles = append(p.InvokeRoles, role)
	}
}

// actionRole is the role CDK made for an action of the pipeline; nil when
// there is none.
func (p *Pipeline) actionRole(stage, action string) awsiam.IRole {
	role, _ := suppress.Child(p.Pipeline, stage, action, "CodePipelineActionRole").(awsiam.IRole)
	return role
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

// Parameters are the validator's UserParameters: what to check, resolved by
// CodePipeline at run time from the build's and the source's variables.
type Parameters struct {
	Mode        string `json:"mode"`
	ImageTag    string `json:"imageTag"`
	ImageDigest string `json:"imageDigest,omitempty"`
	ExecutionID string `json:"executionId"`
	// CommitTime is when the commit was made (ISO 8601), for lead time.
	CommitTime string `json:"commitTime,omitempty"`
	// Environment and Target name what a verify checks, in a pipeline of
	// several environments.
	Environment string  `json:"environment,omitempty"`
	Target      *Target `json:"target,omitempty"`
}

// JSON renders the parameters. A string, not a map: Go map order would make
// the template differ between synths.
func (p Parameters) JSON() string {
	out, _ := json.Marshal(p) // strings only: cannot fail
	return string(out)
}

// commitTime is the source action's commit date variable: the committer
// date for CodeCommit, the author date for a connection (which has no
// committer date).
func commitTime(action awscodepipeline.IAction) string {
	switch a := action.(type) {
	case awscodepipelineactions.CodeCommitSourceAction:
		return *a.Variables().CommitterDate
	case awscodepipelineactions.CodeStarConnectionsSourceAction:
		return *a.Variables().AuthorDate
	}
	return ""
}

// validatorAction invokes the validator; order 0 leaves the run order to CDK.
func validatorAction(name string, fn awslambda.IFunction, params Parameters, order int) awscodepipeline.IAction {
	props := &awscodepipelineactions.LambdaInvokeActionProps{
		ActionName:           jsii.String(name),
		Lambda:               fn,
		UserParametersString: jsii.String(params.JSON()),
	}
	if order > 0 {
		props.RunOrder = jsii.Number(order)
	}
	return awscodepipelineactions.NewLambdaInvokeAction(props)
}
