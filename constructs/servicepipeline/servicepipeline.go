// Package servicepipeline provides the whole delivery pipeline of one
// service: the key, stores, build, validator, notifications and the
// CodePipeline that builds an image once and promotes it by digest through
// the service's environments. A platform team adds it to its own CDK app
// with New; the cicd app builds one per configured service.
package servicepipeline

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/artifacts"
	"cicd/constructs/build"
	"cicd/constructs/dashboard"
	"cicd/constructs/encryption"
	"cicd/constructs/history"
	"cicd/constructs/notifications"
	"cicd/constructs/parameters"
	"cicd/constructs/pipeline"
	"cicd/constructs/registry"
	"cicd/constructs/validator"
	"cicd/internal/suppress"
)

// Props configures a service's pipeline.
type Props struct {
	// Service identifies the pipeline in messages and metrics.
	Service string
	// Names of the resources.
	// Default: ServiceNames(Service).
	Names Names
	// Source is the repository and branch that start the pipeline.
	Source pipeline.Source
	// Environments receive the image in this order, each verified before the
	// next; at least one.
	Environments []Environment
	// SingleEnvironmentStages keeps the stages Approve, Deploy and Verify of
	// the single-environment stack (one environment only).
	// Default: false, a stage per environment named after it.
	SingleEnvironmentStages bool
	// ScanFailSeverity is the lowest finding severity that rejects an image.
	// Default: CRITICAL.
	ScanFailSeverity validator.Severity
	// NotificationEmail, when set, is subscribed to the topic.
	// Default: no subscription.
	NotificationEmail string
	// GitHubTokenParameter names an SSM SecureString parameter the build
	// reads as GITHUB_TOKEN.
	// Default: no token.
	GitHubTokenParameter string
	// Platform of the image: what the ECS tasks run on.
	// Default: linux/amd64.
	Platform build.Platform
	// UnscannedImages is what the gate does with an image ECR cannot scan.
	// Default: reject it.
	UnscannedImages validator.UnscannedImages
	// Alarms are the thresholds of the delivery alarms.
	// Default: those of the dashboard package.
	Alarms Alarms
	// ReplicationBuckets hold the artifacts of the environments in regions
	// other than the pipeline's, by region (see the replication package).
	// Default: none; every environment is in the pipeline's region.
	ReplicationBuckets map[string]awss3.IBucket
	// ModuleDir is the Go module root that holds lambda/validator.
	// Default: found from the working directory.
	ModuleDir string
}

// Alarms are the thresholds of the alarms on the delivery metrics; a zero
// field keeps the dashboard package's default.
type Alarms struct {
	// FailedDeployments is how many failed deployments in a row raise an
	// environment's alarm.
	FailedDeployments int
	// ValidatorErrors within ValidatorErrorPeriod raise the validator's.
	ValidatorErrors      int
	ValidatorErrorPeriod time.Duration
}

// Environment is one environment of the promotion: an existing ECS service.
type Environment struct {
	// Name of the environment: its stage, and what the history and the
	// messages call it.
	Name string
	// Service is the ECS service the environment runs; its ARN names the
	// account and region.
	Service awsecs.IBaseService
	// ClusterName and ServiceName of Service, as the validator checks them.
	ClusterName, ServiceName string
	// ContainerName is the container that runs the image.
	// Default: app.
	ContainerName string
	// Account and Region of the service, when they are not the pipeline's.
	// Default: the pipeline's.
	Account, Region string
	// RequireApproval adds a manual approval before the deploy.
	// Default: false.
	RequireApproval bool
	// DeployRole and VerifyRole are the roles in the service's account that
	// the deploy action and the validator assume, for an account other than
	// the pipeline's.
	// Default: none (same account).
	DeployRole, VerifyRole awsiam.IRole
}

// ServicePipeline is a service's pipeline and the resources it owns.
type ServicePipeline struct {
	constructs.Construct
	Names         Names
	Encryption    *encryption.Encryption
	Artifacts     *artifacts.Artifacts
	Registry      *registry.Registry
	History       *history.History
	Notifications *notifications.Notifications
	Build         *build.Build
	Validator     *validator.Validator
	Pipeline      *pipeline.Pipeline
	Dashboard     *dashboard.Dashboard
}

// New creates the pipeline of one service. With the ID "Default" its
// resources keep the logical IDs they would have at the stack's root.
func New(scope constructs.Construct, id string, props Props) *ServicePipeline {
	if err := props.validate(); err != nil {
		panic(err)
	}
	this := constructs.NewConstruct(scope, jsii.String(id))
	s := &ServicePipeline{Construct: this, Names: cmp.Or(props.Names, ServiceNames(props.Service))}
	envs := props.environments()
	s.newStores(props, envs)
	s.Build = build.New(this, "Build", s.buildProps(props, envs))
	s.Validator = validator.New(this, "Validator", s.validatorProps(props, envs))
	s.Pipeline = pipeline.New(this, "Pipeline", s.pipelineProps(props, envs))
	nameRole(s.Pipeline.Pipeline.Role(), s.Names.PipelineRole)
	s.acceptReplicaGrants(props.ReplicationBuckets)
	nameRole(s.Validator.Function.Role(), s.Names.ValidatorRole)
	s.grantOtherAccounts(envs)
	s.Notifications.NotifyBuildFailed(s.Build.Project)
	s.Notifications.NotifyPipelineFailed(s.Pipeline.Pipeline)
	s.Notifications.NotifySourceFailed(s.Pipeline.Pipeline, props.Source.Repository(), props.Source.Branch)
	// The validator reads the verdicts before a verify's, for the metrics.
	s.History.GrantQueryIndex(s.Validator.Function)
	s.Dashboard = dashboard.New(this, "Dashboard", dashboard.Props{
		Name:                         s.Names.Stack,
		Pipeline:                     s.Pipeline.Pipeline,
		Service:                      props.Service,
		Environments:                 envNames(envs),
		Topic:                        s.Notifications.Topic,
		Key:                          s.Encryption.Key,
		ConsecutiveFailedDeployments: props.Alarms.FailedDeployments,
		ValidatorErrors:              props.Alarms.ValidatorErrors,
		ValidatorErrorPeriod:         props.Alarms.ValidatorErrorPeriod,
	})
	s.Notifications.AllowSource(s.Dashboard.AlarmArns())
	s.Notifications.RestrictPublishers(s.Validator.Function.Role())
	s.publish(envs)
	return s
}

// newStores creates what holds the pipeline's data, all encrypted with its
// key: the key, the artifact bucket, the image repository, the history
// table and the notification topic.
func (s *ServicePipeline) newStores(props Props, envs []Environment) {
	this, names := s.Construct, s.Names
	s.Encryption = encryption.New(this, "Encryption", encryption.Props{
		Alias:         names.KeyAlias,
		Description:   "Encrypts artifacts, images, state, notifications and logs of " + names.Pipeline,
		LogGroupNames: []string{names.BuildLogGroup(), validator.LogGroupName(names.Validator)},
	})
	key := s.Encryption.Key
	s.Artifacts = artifacts.New(this, "Artifacts", artifacts.Props{
		Key: key,
		// Named only if a stack of another account refers to it (its deploy
		// role's policy): otherwise CloudFormation names it, as always.
		BucketName: awscdk.PhysicalName_GENERATE_IF_NEEDED(),
	})
	s.Registry = registry.New(this, "Registry", registry.Props{
		RepositoryName: names.Repository,
		Key:            key,
		Environments:   envNames(envs),
	})
	s.History = history.New(this, "History", history.Props{
		TableName: names.Table,
		Key:       key,
		// The history of a production environment outlives mistakes.
		DeletionProtection: slices.ContainsFunc(envs, func(e Environment) bool { return e.Name == "prod" || e.Name == "production" }),
	})
	s.Notifications = notifications.New(this, "Notifications", notifications.Props{
		TopicName:   names.Topic,
		Environment: props.Service,
		Key:         key,
		Email:       props.NotificationEmail,
	})
}

// buildProps build the image once for every environment.
func (s *ServicePipeline) buildProps(props Props, envs []Environment) build.Props {
	p := build.Props{
		ProjectName:          s.Names.Project,
		Repository:           s.Registry.Repository,
		Key:                  s.Encryption.Key,
		ContainerName:        envs[0].ContainerName,
		Platform:             props.Platform,
		LogGroupName:         s.Names.BuildLogGroup(),
		GitHubTokenParameter: props.GitHubTokenParameter,
	}
	if !props.SingleEnvironmentStages {
		// One image definitions file per container name: each environment's
		// deploy reads the one of its container.
		for _, e := range envs {
			p.ContainerNames = append(p.ContainerNames, e.ContainerName)
		}
	}
	return p
}

// validatorProps gate the image and verify each environment's service.
func (s *ServicePipeline) validatorProps(props Props, envs []Environment) validator.Props {
	targets := make([]validator.Target, len(envs))
	for i, e := range envs {
		targets[i] = validator.Target{Environment: e.Name, Service: e.Service, ContainerName: e.ContainerName}
		if e.VerifyRole != nil {
			targets[i].Role = e.VerifyRole
		}
	}
	return validator.Props{
		FunctionName:     s.Names.Validator,
		PipelineName:     s.Names.Pipeline,
		Service:          props.Service,
		Table:            s.History.Table,
		Repository:       s.Registry.Repository,
		Topic:            s.Notifications.Topic,
		Key:              s.Encryption.Key,
		Targets:          targets,
		ScanFailSeverity: props.ScanFailSeverity,
		UnscannedImages:  props.UnscannedImages,
		ModuleDir:        props.ModuleDir,
	}
}

// pipelineProps promote the image through the environments, each deployed
// by its container's image file and verified where its service runs.
func (s *ServicePipeline) pipelineProps(props Props, envs []Environment) pipeline.Props {
	stages := make([]pipeline.Environment, len(envs))
	for i, e := range envs {
		stages[i] = pipeline.Environment{
			Name:            e.Name,
			Service:         e.Service,
			RequireApproval: e.RequireApproval,
			DeployRole:      e.DeployRole,
		}
		if !props.SingleEnvironmentStages {
			stages[i].ImageFile = build.DefinitionsFile(e.ContainerName)
			stages[i].Verify = pipeline.Target{Cluster: e.ClusterName, Service: e.ServiceName, Container: e.ContainerName,
				Account: e.Account, Region: e.Region}
			if e.VerifyRole != nil {
				stages[i].Verify.RoleArn = *e.VerifyRole.RoleArn()
			}
		}
	}
	return pipeline.Props{
		PipelineName:        s.Names.Pipeline,
		Source:              props.Source,
		ArtifactBucket:      s.Artifacts.Bucket,
		Project:             s.Build.Project,
		Validator:           s.Validator.Function,
		Environments:        stages,
		StagePerEnvironment: !props.SingleEnvironmentStages,
		ReplicationBuckets:  props.ReplicationBuckets,
	}
}

// grantOtherAccounts lets the environments in other accounts pull the image
// from the pipeline account's repository. (The validator reads their
// services through their verify roles, the deploy actions read the
// artifacts through the pipeline's own grants.)
func (s *ServicePipeline) grantOtherAccounts(envs []Environment) {
	pulled := map[string]bool{}
	for _, e := range envs {
		if e.Account != "" && !pulled[e.Account] {
			pulled[e.Account] = true
			s.Registry.Repository.GrantPull(awsiam.NewAccountPrincipal(jsii.String(e.Account)))
		}
	}
}

// acceptReplicaGrants accepts the wildcards of CDK's grants to the
// pipeline's role on the artifact stores of the other regions: their
// buckets have generated names, their keys are known by alias only.
func (s *ServicePipeline) acceptReplicaGrants(buckets map[string]awss3.IBucket) {
	if len(buckets) == 0 {
		return
	}
	stack := awscdk.Stack_Of(s.Construct)
	findings := []string{"Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*"}
	for _, region := range slices.Sorted(maps.Keys(buckets)) {
		findings = append(findings, "Resource::arn:"+*stack.Partition()+":kms:"+region+":"+*stack.Account()+":key/*")
	}
	suppress.Policy(s.Pipeline.Pipeline.Role(), suppress.Nag{
		Rule: suppress.IAM5,
		Reason: "the artifact stores of the other regions: their buckets' objects (/*; generated names), and the keys " +
			"there that carry the alias " + s.Names.ReplicaKeyAlias() + " (kms:ResourceAliases condition), whose ARNs are not known here",
		AppliesTo:        findings,
		AppliesToPattern: []string{`Resource::arn:[a-z-]+:s3:::[a-z0-9.-]+\/\*`},
	})
}

// nameRole gives a role CDK made a fixed name, which roles in other accounts
// can trust before this stack exists.
func nameRole(role awsiam.IRole, name string) {
	if name == "" {
		return
	}
	if cfn, ok := role.Node().DefaultChild().(awsiam.CfnRole); ok {
		cfn.SetRoleName(jsii.String(name))
	}
}

func envNames(envs []Environment) []string {
	names := make([]string, len(envs))
	for i, e := range envs {
		names[i] = e.Name
	}
	return names
}

// environments are the props' environments with their defaults.
func (p Props) environments() []Environment {
	envs := slices.Clone(p.Environments)
	for i := range envs {
		envs[i].ContainerName = cmp.Or(envs[i].ContainerName, "app")
	}
	return envs
}

func (p Props) validate() error {
	switch {
	case p.Service == "":
		return fmt.Errorf("servicepipeline: Service is empty")
	case len(p.Environments) == 0:
		return fmt.Errorf("servicepipeline %s: no environments", p.Service)
	case p.SingleEnvironmentStages && len(p.Environments) != 1:
		return fmt.Errorf("servicepipeline %s: SingleEnvironmentStages takes one environment, got %d", p.Service, len(p.Environments))
	}
	seen := map[string]bool{}
	for _, e := range p.Environments {
		if e.Name == "" || e.Service == nil {
			return fmt.Errorf("servicepipeline %s: an environment needs a Name and a Service", p.Service)
		}
		if seen[e.Name] {
			return fmt.Errorf("servicepipeline %s: environment %s appears twice", p.Service, e.Name)
		}
		seen[e.Name] = true
	}
	return nil
}

// publish makes the pipeline's coordinates findable: SSM parameters for
// tools, stack outputs (with exports) for people and other stacks.
func (s *ServicePipeline) publish(envs []Environment) {
	repo := s.Registry.Repository
	table := s.History.Table
	topic := s.Notifications.Topic
	pipe := s.Pipeline.Pipeline
	names := envNames(envs)
	parameters.New(s.Construct, "Parameters", parameters.Props{
		Prefix: s.Names.ParameterPrefix,
		Parameters: []parameters.Parameter{
			{ID: "RepositoryUri", Name: "ecr-repository-uri", Value: repo.RepositoryUri(), Description: "URI of the service's ECR repository"},
			{ID: "StateTable", Name: "state-table-name", Value: table.TableName(), Description: "DynamoDB table with the deployment history"},
			{ID: "Topic", Name: "sns-topic-arn", Value: topic.TopicArn(), Description: "SNS topic that announces pipeline failures"},
			{ID: "Pipeline", Name: "pipeline-name", Value: pipe.PipelineName(), Description: "Name of the CodePipeline pipeline"},
			{ID: "Environments", Name: "environments", Value: jsii.String(strings.Join(names, ",")), Description: "The pipeline's environments, in promotion order"},
		},
	})

	for _, o := range []struct {
		id, description string
		value           *string
	}{
		{"pipelineName", "Name of the CodePipeline pipeline", pipe.PipelineName()},
		{"ecrRepositoryUri", "URI of the ECR repository that receives the images", repo.RepositoryUri()},
		{"artifactBucketName", "S3 bucket that holds the pipeline artifacts", s.Artifacts.Bucket.BucketName()},
		{"buildProjectName", "CodeBuild project that builds and tests the image", s.Build.Project.ProjectName()},
		{"snsTopicArn", "SNS topic that announces failures", topic.TopicArn()},
		{"validationLambdaArn", "ARN of the validator Lambda (scan gate and rollout check)", s.Validator.Function.FunctionArn()},
		{"stateTableName", "DynamoDB table with the deployment history", table.TableName()},
		{"kmsKeyId", "ID of the KMS key that encrypts the pipeline's data", s.Encryption.Key.KeyId()},
		{"dashboardUrl", "CloudWatch dashboard of the pipeline's delivery metrics", s.Dashboard.URL()},
	} {
		awscdk.NewCfnOutput(s.Construct, jsii.String(o.id), &awscdk.CfnOutputProps{
			Value:       o.value,
			Description: jsii.String(o.description),
			ExportName:  jsii.String(s.Names.Stack + "-" + o.id),
		})
	}
}
