// Command cicd is the CDK app: it reads the configuration from the CDK
// context once, validates it, and builds one pipeline stack per environment.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/artifacts"
	"cicd/constructs/build"
	"cicd/constructs/encryption"
	"cicd/constructs/history"
	"cicd/constructs/notifications"
	"cicd/constructs/parameters"
	"cicd/constructs/pipeline"
	"cicd/constructs/registry"
	"cicd/constructs/validator"
)

// StackOptions are the app-level choices that are not user configuration.
type StackOptions struct {
	// ModuleDir is the Go module root (it holds lambda/validator).
	// Default: found from the working directory.
	ModuleDir string
}

// NewCicdStack composes the pipeline stack of one environment.
func NewCicdStack(scope constructs.Construct, cfg Config, opts StackOptions) awscdk.Stack {
	name := cfg.Name()
	stack := awscdk.NewStack(scope, jsii.String(name), &awscdk.StackProps{
		Description: jsii.String(fmt.Sprintf(
			"cicd: delivery pipeline for ECS service %s/%s (environment %s): build, test, scan gate, deploy, verify",
			cfg.ClusterName, cfg.ServiceName, cfg.EnvironmentSuffix)),
	})
	buildLogGroup := "/aws/codebuild/" + name
	validatorName := "cicd-pipeline-validator-" + cfg.EnvironmentSuffix

	enc := encryption.New(stack, "Encryption", encryption.Props{
		Alias:         "alias/" + name,
		Description:   "Encrypts artifacts, images, state, notifications and logs of " + name,
		LogGroupNames: []string{buildLogGroup, validator.LogGroupName(validatorName)},
	})
	store := artifacts.New(stack, "Artifacts", artifacts.Props{Key: enc.Key})
	images := registry.New(stack, "Registry", registry.Props{RepositoryName: name, Key: enc.Key, Environments: []string{cfg.EnvironmentSuffix}})
	state := history.New(stack, "History", history.Props{
		TableName:          "cicd-pipeline-state-" + cfg.EnvironmentSuffix,
		Key:                enc.Key,
		DeletionProtection: cfg.EnvironmentSuffix == "prod",
	})
	notes := notifications.New(stack, "Notifications", notifications.Props{
		TopicName:   "cicd-pipeline-notifications-" + cfg.EnvironmentSuffix,
		Environment: cfg.EnvironmentSuffix,
		Key:         enc.Key,
		Email:       cfg.NotificationEmail,
	})
	builder := build.New(stack, "Build", build.Props{
		ProjectName:          name,
		Repository:           images.Repository,
		Key:                  enc.Key,
		ContainerName:        cfg.ContainerName,
		LogGroupName:         buildLogGroup,
		GitHubTokenParameter: cfg.GitHubTokenParameter,
	})
	// The service exists already; its ARN in the cluster-name format carries
	// both names, which is all the deploy action and the validator need.
	service := awsecs.BaseService_FromServiceArnWithCluster(stack, jsii.String("Service"), stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("ecs"),
		Resource:     jsii.String("service"),
		ResourceName: jsii.String(cfg.ClusterName + "/" + cfg.ServiceName),
		ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	}))
	check := validator.New(stack, "Validator", validator.Props{
		FunctionName:     validatorName,
		PipelineName:     name,
		Environment:      cfg.EnvironmentSuffix,
		Table:            state.Table,
		Repository:       images.Repository,
		Topic:            notes.Topic,
		Key:              enc.Key,
		Service:          cfg.EnvironmentSuffix,
		Targets:          []validator.Target{{Environment: cfg.EnvironmentSuffix, Service: service, ContainerName: cfg.ContainerName}},
		ScanFailSeverity: cfg.ScanFailSeverity,
		ModuleDir:        opts.ModuleDir,
	})
	flow := pipeline.New(stack, "Pipeline", pipeline.Props{
		PipelineName:    name,
		Source:          cfg.Source,
		ArtifactBucket:  store.Bucket,
		Project:         builder.Project,
		Validator:       check.Function,
		Service:         service,
		RequireApproval: cfg.RequireApproval,
	})
	notes.NotifyBuildFailed(builder.Project)
	notes.NotifyPipelineFailed(flow.Pipeline)
	notes.RestrictPublishers(check.Function.Role())

	parameters.New(stack, "Parameters", parameters.Props{
		Prefix: "/cicd-pipeline/" + cfg.EnvironmentSuffix,
		Parameters: []parameters.Parameter{
			{ID: "RepositoryUri", Name: "ecr-repository-uri", Value: images.Repository.RepositoryUri(), Description: "URI of the service's ECR repository"},
			{ID: "StateTable", Name: "state-table-name", Value: state.Table.TableName(), Description: "DynamoDB table with the deployment history"},
			{ID: "Topic", Name: "sns-topic-arn", Value: notes.Topic.TopicArn(), Description: "SNS topic that announces pipeline failures"},
			{ID: "Pipeline", Name: "pipeline-name", Value: flow.Pipeline.PipelineName(), Description: "Name of the CodePipeline pipeline"},
		},
	})

	output := func(id string, value *string, description string) {
		awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{
			Value:       value,
			Description: jsii.String(description),
			ExportName:  jsii.String(name + "-" + id),
		})
	}
	output("pipelineName", flow.Pipeline.PipelineName(), "Name of the CodePipeline pipeline")
	output("ecrRepositoryUri", images.Repository.RepositoryUri(), "URI of the ECR repository that receives the images")
	output("artifactBucketName", store.Bucket.BucketName(), "S3 bucket that holds the pipeline artifacts")
	output("buildProjectName", builder.Project.ProjectName(), "CodeBuild project that builds and tests the image")
	output("snsTopicArn", notes.Topic.TopicArn(), "SNS topic that announces failures")
	output("validationLambdaArn", check.Function.FunctionArn(), "ARN of the validator Lambda (scan gate and rollout check)")
	output("stateTableName", state.Table.TableName(), "DynamoDB table with the deployment history")
	output("kmsKeyId", enc.Key.KeyId(), "ID of the KMS key that encrypts the pipeline's data")

	tags := awscdk.Tags_Of(stack)
	tags.Add(jsii.String("Environment"), jsii.String(cfg.EnvironmentSuffix), nil)
	tags.Add(jsii.String("Project"), jsii.String("cicd-pipeline"), nil)
	tags.Add(jsii.String("ManagedBy"), jsii.String("CDK"), nil)
	keys := make([]string, 0, len(cfg.Tags))
	for k := range cfg.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		tags.Add(jsii.String(k), jsii.String(cfg.Tags[k]), nil)
	}
	return stack
}

func main() {
	code := run(os.Stderr)
	jsii.Close()
	os.Exit(code)
}

// run synthesizes the app, with the context the CDK CLI passes in
// CDK_CONTEXT_JSON, and returns the exit code. Every failure is one line on
// stderr: a bad configuration value, or the first line of an error raised
// while building the stack; never a Go or jsii stack trace.
func run(stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintln(stderr, "error: "+firstLine(fmt.Sprint(r)))
			code = 1
		}
	}()
	// A bad value in the context the CLI passes fails here, before the jsii
	// kernel starts: in milliseconds rather than after Node's start-up.
	if context, ok := cliContext(os.Getenv); ok {
		if _, err := LoadConfig(func(key string) any { return context[key] }); err != nil {
			fmt.Fprintln(stderr, "error: "+err.Error())
			return 1
		}
	}
	app := awscdk.NewApp(&awscdk.AppProps{
		// A slow synth (a cold Go build cache) would otherwise leave a file
		// of timings in cdk.out, and two synths of one commit would differ.
		PerformanceReporting: jsii.Bool(false),
	})
	cfg, err := LoadConfig(func(key string) any { return app.Node().TryGetContext(jsii.String(key)) })
	if err != nil {
		fmt.Fprintln(stderr, "error: "+err.Error())
		return 1
	}
	NewCicdStack(app, cfg, StackOptions{})
	app.Synth(nil)
	return 0
}

// cliContext is the context the CDK CLI hands the app: the JSON object in
// CDK_CONTEXT_JSON plus the keys it moved to the file named by
// CONTEXT_OVERFLOW_LOCATION_ENV when the environment would grow too large.
// ok is false when there is none or it cannot be read; aws-cdk-lib then reads
// it, and its own message is the one the user sees.
func cliContext(getenv func(string) string) (context map[string]any, ok bool) {
	raw := getenv("CDK_CONTEXT_JSON")
	if raw == "" || json.Unmarshal([]byte(raw), &context) != nil || context == nil {
		return nil, false
	}
	if path := getenv("CONTEXT_OVERFLOW_LOCATION_ENV"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, false
		}
		var overflow map[string]any
		if json.Unmarshal(data, &overflow) != nil {
			return nil, false
		}
		for k, v := range overflow {
			context[k] = v
		}
	}
	return context, true
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
