// Package build provides the CodeBuild project that builds the service's
// image, runs its unit tests, pushes the image and writes
// imagedefinitions.json for the ECS deploy action.
package build

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscodebuild"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecr"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"cicd/internal/suppress"
)

// Exported variables of the build, read by later pipeline actions.
const (
	VarImageTag = "IMAGE_TAG"
	VarImageURI = "IMAGE_URI"
	// VarImageDigest is the pushed image's digest (sha256:...): what every
	// environment deploys.
	VarImageDigest = "IMAGE_DIGEST"
	// VarCommitID is set by the pipeline's build action to the source commit.
	VarCommitID = "COMMIT_ID"
	// VarGitHubToken carries the optional token from Parameter Store.
	VarGitHubToken = "GITHUB_TOKEN"
	// OutputFile is the artifact the ECS deploy action reads.
	OutputFile = "imagedefinitions.json"
)

// ImageDefinitionsFile is the file of the build output that names the image
// (by digest) for one container, for an ECS deploy action.
func ImageDefinitionsFile(container string) string {
	return "imagedefinitions-" + container + ".json"
}

// Props configures the build project.
type Props struct {
	// ProjectName is the CodeBuild project name.
	ProjectName string
	// Repository receives the image.
	Repository awsecr.IRepository
	// Key encrypts the build's artifacts and logs.
	Key awskms.IKey
	// ContainerName is the container in the task definition that runs the image.
	ContainerName string
	// LogGroupName is the name of the build log group.
	LogGroupName string
	// LogRetention of the build logs.
	// Default: one week.
	LogRetention awslogs.RetentionDays
	// GitHubTokenParameter is the name of an SSM SecureString parameter
	// exposed to the build as GITHUB_TOKEN.
	// Default: no token.
	GitHubTokenParameter string
	// Timeout of one build.
	// Default: 15 minutes.
	Timeout time.Duration
}

// Build is the project and its log group.
type Build struct {
	constructs.Construct
	Project  awscodebuild.PipelineProject
	LogGroup awslogs.LogGroup
}

// New creates the project on a current AWS-managed image, privileged for
// Docker, with a Docker layer cache and KMS-encrypted logs.
func New(scope constructs.Construct, id string, props Props) *Build {
	this := constructs.NewConstruct(scope, jsii.String(id))
	retention := props.LogRetention
	if retention == "" {
		retention = awslogs.RetentionDays_ONE_WEEK
	}
	timeout := props.Timeout
	if timeout == 0 {
		timeout = 15 * time.Minute
	}

	logGroup := awslogs.NewLogGroup(this, jsii.String("LogGroup"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String(props.LogGroupName),
		Retention:     retention,
		EncryptionKey: props.Key,
		// Build logs are short-lived; destroying the group lets the stack be
		// deleted and deployed again under the same name.
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})

	env := map[string]*awscodebuild.BuildEnvironmentVariable{
		"REPOSITORY_URI":  {Value: props.Repository.RepositoryUri()},
		"REPOSITORY_NAME": {Value: props.Repository.RepositoryName()},
		"CONTAINER_NAME":  {Value: jsii.String(props.ContainerName)},
	}
	if props.GitHubTokenParameter != "" {
		// CDK grants ssm:GetParameters on exactly this parameter.
		env[VarGitHubToken] = &awscodebuild.BuildEnvironmentVariable{
			Type:  awscodebuild.BuildEnvironmentVariableType_PARAMETER_STORE,
			Value: jsii.String(props.GitHubTokenParameter),
		}
	}

	project := awscodebuild.NewPipelineProject(this, jsii.String("Project"), &awscodebuild.PipelineProjectProps{
		ProjectName: jsii.String(props.ProjectName),
		Description: jsii.String("Builds, unit-tests and pushes the service image for " + props.ProjectName),
		Environment: &awscodebuild.BuildEnvironment{
			BuildImage:  awscodebuild.LinuxBuildImage_STANDARD_7_0(),
			ComputeType: awscodebuild.ComputeType_SMALL,
			Privileged:  jsii.Bool(true),
		},
		EnvironmentVariables: &env,
		EncryptionKey:        props.Key,
		Timeout:              awscdk.Duration_Minutes(jsii.Number(timeout.Minutes())),
		Cache:                awscodebuild.Cache_Local(awscodebuild.LocalCacheMode_DOCKER_LAYER),
		Logging: &awscodebuild.LoggingOptions{
			CloudWatch: &awscodebuild.CloudWatchLoggingOptions{LogGroup: logGroup},
		},
		BuildSpec: awscodebuild.BuildSpec_FromObjectToYaml(Spec().object()),
	})

	props.Repository.GrantPullPush(project)
	// The re-run check asks whether the commit's image is already there.
	props.Repository.Grant(project, jsii.String("ecr:DescribeImages"))
	if props.GitHubTokenParameter != "" {
		// The SecureString parameter is encrypted with the pipeline key.
		props.Key.GrantDecrypt(project)
	}
	ref := suppress.Ref(project)
	suppress.Policy(project.Role(),
		suppress.Nag{
			Rule:      suppress.IAM5,
			Reason:    "ecr:GetAuthorizationToken (CDK's pull/push grant) has no resource-level permissions",
			AppliesTo: []string{"Resource::*"},
		},
		suppress.Nag{
			Rule: suppress.IAM5,
			Reason: "CodeBuild's default grants for the project's own log group (the streams in it, :*) and its own " +
				"report groups (named after the project, -*), which CDK adds to every project",
			AppliesTo: []string{
				"Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/codebuild/" + ref + ":*",
				"Resource::arn:<AWS::Partition>:codebuild:<AWS::Region>:<AWS::AccountId>:report-group/" + ref + "-*",
			},
		},
		suppress.KeyGrant)
	return &Build{Construct: this, Project: project, LogGroup: logGroup}
}
