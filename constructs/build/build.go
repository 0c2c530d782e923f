// Package build provides the CodeBuild project that builds the service's
// image, runs its unit tests, pushes the image and writes
// imagedefinitions.json for the ECS deploy action.
package build

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscodebuild"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecr"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/encryption"
	"cicd/constructs/registry"
	"cicd/internal/suppress"
)

// Exported variables of the build, read by later pipeline actions.
const (
	// VarImageTag is the image's tag: the commit's first 12 characters.
	VarImageTag = "IMAGE_TAG"
	// VarImageURI is repository:tag.
	VarImageURI = "IMAGE_URI"
	// VarImageDigest is the image's digest in the repository, sha256:<64 hex
	// digits>, for a new push and for a reused image alike.
	VarImageDigest = "IMAGE_DIGEST"
	// VarCommitID is set by the pipeline's build action to the source commit.
	VarCommitID = "COMMIT_ID"
	// VarGitHubToken carries the optional token from Parameter Store.
	VarGitHubToken = "GITHUB_TOKEN"
	// SecretID is the BuildKit secret that carries the token into docker
	// build: RUN --mount=type=secret,id=github_token in the Dockerfile.
	SecretID = "github_token"
	// OutputFile is the artifact the ECS deploy action reads: the first
	// container's image definition, the image named by digest.
	OutputFile = "imagedefinitions.json"
)

const definitionsPrefix, definitionsSuffix = "imagedefinitions-", ".json"

// DefinitionsFile is the artifact file with the image definition of one
// container, written for each of Props.ContainerNames.
func DefinitionsFile(container string) string {
	return definitionsPrefix + container + definitionsSuffix
}

// Platform is the operating system and architecture of the image.
type Platform string

// Platforms. The build runs on a CodeBuild image of the same architecture,
// so the image is built natively.
const (
	// PlatformAMD64 builds on aws/codebuild/standard:7.0 (LINUX_CONTAINER).
	PlatformAMD64 Platform = "linux/amd64"
	// PlatformARM64 builds on aws/codebuild/amazonlinux-aarch64-standard:3.0
	// (ARM_CONTAINER), for Graviton tasks.
	PlatformARM64 Platform = "linux/arm64"
)

// Props configures the build project.
type Props struct {
	// ProjectName is the CodeBuild project name.
	ProjectName string
	// Repository receives the image.
	Repository awsecr.IRepository
	// Key encrypts the build's artifacts and logs.
	Key awskms.IKey
	// ContainerName is the container in the task definition that runs the
	// image; its definition is written to OutputFile.
	// Default: the first of ContainerNames.
	ContainerName string
	// ContainerNames, when set, are the containers of every environment's
	// task definition that run the image: each distinct name gets its own
	// DefinitionsFile, and the first is also written to OutputFile.
	// Default: OutputFile only, for ContainerName.
	ContainerNames []string
	// Platform of the image, and so of the build.
	// Default: PlatformAMD64.
	Platform Platform
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
	timeout := cmp.Or(props.Timeout, 15*time.Minute)
	logGroup := encryption.NewLogGroup(this, "LogGroup", props.LogGroupName, props.Key, props.LogRetention)

	containers := distinct(props.ContainerNames)
	container := props.ContainerName
	if len(containers) > 0 {
		if container != "" && container != containers[0] {
			panic(fmt.Sprintf("build: ContainerName %q is not the first of ContainerNames %q: set one of them", container, containers))
		}
		container = containers[0]
	}
	platform := cmp.Or(props.Platform, PlatformAMD64)
	image, ok := buildImages[platform]
	if !ok {
		panic(fmt.Sprintf("build: platform %q is not supported: use %s or %s", platform, PlatformAMD64, PlatformARM64))
	}

	env := map[string]*awscodebuild.BuildEnvironmentVariable{
		"REPOSITORY_URI":  {Value: props.Repository.RepositoryUri()},
		"REPOSITORY_NAME": {Value: props.Repository.RepositoryName()},
		"CONTAINER_NAME":  {Value: jsii.String(container)},
		"IMAGE_PLATFORM":  {Value: jsii.String(string(platform))},
	}
	artifacts := []string{OutputFile}
	if len(containers) > 0 {
		// Container names are letters, digits, hyphens and underscores: a
		// space separates them.
		env["CONTAINER_NAMES"] = &awscodebuild.BuildEnvironmentVariable{Value: jsii.String(strings.Join(containers, " "))}
		for _, name := range containers {
			artifacts = append(artifacts, DefinitionsFile(name))
		}
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
			BuildImage:  image(),
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
		BuildSpec: awscodebuild.BuildSpec_FromObjectToYaml(Spec().object(artifacts)),
	})

	props.Repository.GrantPullPush(project)
	// The re-run check asks whether the commit's image is already there.
	registry.GrantFindImages(props.Repository, project)
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
				"Resource::" + suppress.Arn(project, "logs", true, "log-group:/aws/codebuild/"+ref+":*"),
				"Resource::" + suppress.Arn(project, "codebuild", true, "report-group/"+ref+"-*"),
			},
		},
		suppress.KeyGrant)
	return &Build{Construct: this, Project: project, LogGroup: logGroup}
}

// buildImages are the CodeBuild images of each platform: current
// AWS-managed images whose architecture is the platform's, so docker build
// runs natively. The compute type (BUILD_GENERAL1_SMALL) exists for both.
var buildImages = map[Platform]func() awscodebuild.IBuildImage{
	PlatformAMD64: awscodebuild.LinuxBuildImage_STANDARD_7_0,
	PlatformARM64: awscodebuild.LinuxArmBuildImage_AMAZON_LINUX_2023_STANDARD_3_0,
}

// distinct returns names without repeats, in their first order.
func distinct(names []string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
