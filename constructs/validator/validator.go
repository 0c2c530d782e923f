// Package validator provides the Lambda function that gates an image before
// deploy and verifies the rollout after it, recording every outcome in the
// state table. The function's code is lambda/validator, built by this
// construct as a linux/arm64 asset.
package validator

import (
	"cmp"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecr"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/encryption"
	"cicd/constructs/history"
	"cicd/constructs/registry"
	"cicd/internal/gobundle"
	"cicd/internal/gomod"
	"cicd/internal/suppress"
)

// Severity is the lowest ECR finding severity that rejects an image.
type Severity string

// Severities, from most to least severe; SeverityNone disables the check.
const (
	SeverityCritical Severity = "CRITICAL"
	SeverityHigh     Severity = "HIGH"
	SeverityMedium   Severity = "MEDIUM"
	SeverityLow      Severity = "LOW"
	SeverityNone     Severity = "NONE"
)

// Severities lists the allowed values, in order.
var Severities = []Severity{SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow, SeverityNone}

// UnscannedImages says what the gate does with an image that ECR cannot
// scan (scan status UNSUPPORTED_IMAGE, e.g. an image built FROM scratch).
type UnscannedImages string

const (
	// UnscannedReject rejects it, like any image whose scan did not finish.
	UnscannedReject UnscannedImages = "reject"
	// UnscannedAllow lets it pass; the history item and a notification
	// record that it was not scanned.
	UnscannedAllow UnscannedImages = "allow"
)

// ownModule is the path of the Go module that holds this package and the
// function's sources.
func ownModule() string {
	return strings.TrimSuffix(reflect.TypeOf(Validator{}).PkgPath(), "/constructs/validator")
}

// PackagePath is the function's Go package, relative to the module root.
const PackagePath = "lambda/validator"

// Props configures the validator.
type Props struct {
	// FunctionName is the Lambda function name.
	FunctionName string
	// PipelineName is the CodePipeline pipeline whose jobs the function
	// serves; it refuses every other pipeline's jobs.
	PipelineName string
	// Service is the pipeline's service: the history items' "pipeline" and
	// the notifications name it (a single-environment stack: its suffix).
	Service string
	// Environment names the environment the gate guards (the pipeline's
	// first) in notifications and history items.
	// Default: the first target's Environment.
	Environment string
	// Table records every outcome.
	Table awsdynamodb.ITable
	// Repository holds the images the gate inspects.
	Repository awsecr.IRepository
	// Topic receives rejections and errors.
	Topic awssns.ITopic
	// Key encrypts the function's logs. (The grants on the table and the
	// topic include their own keys.)
	Key awskms.IKey
	// Targets are the environments' ECS services that verify inspects, in
	// pipeline order; the first is the function's default (ECS_CLUSTER,
	// ECS_SERVICE, CONTAINER_NAME). At least one.
	Targets []Target
	// ScanFailSeverity is the lowest finding severity that rejects an image.
	// Default: CRITICAL.
	ScanFailSeverity Severity
	// UnscannedImages is what the gate does with an image ECR cannot scan.
	// Default: UnscannedReject.
	UnscannedImages UnscannedImages
	// ScanMaxWait bounds the total wait for a scan or a rollout.
	// Default: 15 minutes.
	ScanMaxWait time.Duration
	// LogGroupName of the function's log group.
	// Default: /aws/lambda/{FunctionName}.
	LogGroupName string
	// LogRetention of the function's logs.
	// Default: one week.
	LogRetention awslogs.RetentionDays
	// ModuleDir is the Go module root that holds lambda/validator.
	// Default: this module's folder as the working directory's module
	// builds it: its own root in this repository, or, in an app that
	// imports the constructs, the folder `go list -m` names (a replace
	// directive's target, or the module cache).
	ModuleDir string
}

// Target is one environment's ECS service, as verify reaches it.
type Target struct {
	// Environment is the environment's name.
	Environment string
	// Service is the environment's existing ECS service; its ARN names the
	// cluster, the account and the region.
	Service awsecs.IBaseService
	// ContainerName is the container that must run the new image.
	// Default: app.
	ContainerName string
	// Role is assumed to verify a service in another account; it must trust
	// the function's role and allow ecs:DescribeServices on the service and
	// ecs:DescribeTaskDefinition.
	// Default: none: same account, ECS called directly (possibly in another
	// region: the service ARN carries it).
	Role awsiam.IRole
}

// Validator is the function and its log group.
type Validator struct {
	constructs.Construct
	Function awslambda.Function
	LogGroup awslogs.LogGroup
}

// LogGroupName is the default log group name of a function.
func LogGroupName(functionName string) string {
	return "/aws/lambda/" + functionName
}

// New creates the function and grants it exactly the AWS operations its code
// calls (see lambda/validator/ports.go).
func New(scope constructs.Construct, id string, props Props) *Validator {
	s := props.settings()
	this := constructs.NewConstruct(scope, jsii.String(id))
	code, err := assetCode(props.ModuleDir)
	if err != nil {
		panic(fmt.Errorf("validator: %w", err))
	}
	logGroup := encryption.NewLogGroup(this, "LogGroup", s.logGroupName, props.Key, props.LogRetention)
	role := newRole(this, props.FunctionName, logGroup)
	fn := awslambda.NewFunction(this, jsii.String("Function"), &awslambda.FunctionProps{
		FunctionName: jsii.String(props.FunctionName),
		Description:  jsii.String("Gates images on their ECR scan before deploy and verifies the ECS rollout after it"),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         code,
		MemorySize:   jsii.Number(256),
		// Each invocation makes a handful of AWS calls; waits are continuation
		// tokens, not sleeps.
		Timeout:     awscdk.Duration_Seconds(jsii.Number(60)),
		LogGroup:    logGroup,
		Role:        role,
		Environment: s.variables(props),
	})
	grant(fn, role, props)
	suppressFindings(fn, role)
	return &Validator{Construct: this, Function: fn, LogGroup: logGroup}
}

// settings are the props checked, with their defaults.
type settings struct {
	unscanned    UnscannedImages
	first        Target
	environment  string
	severity     Severity
	maxWait      time.Duration
	logGroupName string
}

// settings checks the props, panicking with one line on the first that
// the function cannot work with, and fills in the defaults.
func (p Props) settings() settings {
	if p.PipelineName == "" {
		panic("validator: PipelineName is required: the function serves that pipeline's jobs only")
	}
	unscanned := cmp.Or(p.UnscannedImages, UnscannedReject)
	if unscanned != UnscannedReject && unscanned != UnscannedAllow {
		panic(fmt.Sprintf("validator: UnscannedImages %q is not %q or %q", unscanned, UnscannedReject, UnscannedAllow))
	}
	if p.Service == "" {
		panic("validator: Service is required: history items and notifications name the pipeline's service")
	}
	if len(p.Targets) == 0 {
		panic("validator: Targets is required: at least the first environment's ECS service")
	}
	for i, t := range p.Targets {
		if t.Service == nil {
			panic(fmt.Sprintf("validator: Targets[%d] (environment %q) has no Service", i, t.Environment))
		}
	}
	first := p.Targets[0]
	first.ContainerName = cmp.Or(first.ContainerName, "app")
	return settings{
		unscanned:    unscanned,
		first:        first,
		environment:  cmp.Or(p.Environment, first.Environment),
		severity:     cmp.Or(p.ScanFailSeverity, SeverityCritical),
		maxWait:      cmp.Or(p.ScanMaxWait, 15*time.Minute),
		logGroupName: cmp.Or(p.LogGroupName, LogGroupName(p.FunctionName)),
	}
}

// variables are the function's configuration (lambda/validator/config.go):
// the resources it uses, the gate's thresholds and the first environment's
// service, which verify checks when a pipeline action names none.
func (s settings) variables(p Props) *map[string]*string {
	return &map[string]*string{
		"STATE_TABLE":           p.Table.TableName(),
		"ECR_REPOSITORY":        p.Repository.RepositoryName(),
		"ECR_REPOSITORY_URI":    p.Repository.RepositoryUri(),
		"SNS_TOPIC_ARN":         p.Topic.TopicArn(),
		"SCAN_FAIL_SEVERITY":    jsii.String(string(s.severity)),
		"SCAN_MAX_WAIT_SECONDS": jsii.String(strconv.Itoa(int(s.maxWait.Seconds()))),
		"ECS_CLUSTER":           s.first.Service.Cluster().ClusterName(),
		"ECS_SERVICE":           s.first.Service.ServiceName(),
		"CONTAINER_NAME":        jsii.String(s.first.ContainerName),
		"ENVIRONMENT":           jsii.String(s.environment),
		"PIPELINE_NAME":         jsii.String(p.PipelineName),
		"SERVICE":               jsii.String(p.Service),
		"UNSCANNED_IMAGES":      jsii.String(string(s.unscanned)),
	}
}

// newRole is the function's role. The function writes only to its own log
// group, so the role gets just that instead of AWSLambdaBasicExecutionRole,
// which lets it create and write to any log group in the account.
func newRole(scope constructs.Construct, functionName string, logGroup awslogs.LogGroup) awsiam.Role {
	role := awsiam.NewRole(scope, jsii.String("ServiceRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Validator Lambda " + functionName),
	})
	logGroup.Grant(role, jsii.String("logs:CreateLogStream"), jsii.String("logs:PutLogEvents"))
	return role
}

// grant gives the function the operations of its ports, through the grants
// of the resources' owners where there is one.
func grant(fn awslambda.Function, role awsiam.IRole, props Props) {
	// gate: the scan's verdict; verify: a deployed tag on the running image.
	registry.GrantReadScanResults(props.Repository, fn)
	registry.GrantProtectDeployed(props.Repository, fn)
	// history: append only (and the table's key).
	history.GrantAppend(props.Table, fn)
	// notify: also grants the key actions SNS needs for an encrypted topic.
	props.Topic.GrantPublish(fn)
	// verify: each environment's service, directly in the pipeline's account
	// (any region), or through its role in another account.
	var services []*string
	for _, t := range props.Targets {
		if t.Role != nil {
			t.Role.GrantAssumeRole(role)
			continue
		}
		services = append(services, t.Service.ServiceArn())
	}
	if len(services) > 0 {
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("ecs:DescribeServices"),
			Resources: &services,
		}))
	}
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		// Neither has resource-level permissions. DescribeTaskDefinition:
		// verify reads the image a deployment runs. GetJobDetails: the job's
		// configuration comes from CodePipeline, not from the invocation
		// event, and the function refuses jobs of any pipeline but
		// PipelineName.
		Actions:   jsii.Strings("ecs:DescribeTaskDefinition", "codepipeline:GetJobDetails"),
		Resources: jsii.Strings("*"),
	}))
}

// suppressFindings accepts, with their reasons, the findings of cfn-lint and
// cdk-nag that the function's grants cannot avoid.
func suppressFindings(fn awslambda.Function, role awsiam.IRole) {
	// CDK makes the function depend on its role, which its Role property
	// already does: a redundant DependsOn (cfn-lint W3005), harmless.
	suppress.Lint(fn, "W3005")
	suppress.Policy(role,
		suppress.Nag{
			Rule: suppress.IAM5,
			Reason: "ecs:DescribeTaskDefinition, codepipeline:GetJobDetails, and codepipeline:PutJobSuccessResult " +
				"and PutJobFailureResult (added by the pipeline's Lambda invoke actions) have no resource-level " +
				"permissions; the function acts only on jobs of its own pipeline",
			AppliesTo: []string{"Resource::*"},
		},
		suppress.Nag{
			Rule: suppress.IAM5,
			Reason: "kms:GenerateDataKey* on the pipeline key only (CDK's grant for publishing to the encrypted topic): " +
				"the data keys SNS and DynamoDB use for what the function writes",
			AppliesTo: []string{"Action::kms:GenerateDataKey*"},
		})
}

func assetCode(moduleDir string) (awslambda.Code, error) {
	if moduleDir == "" {
		root, err := gomod.Dir(".", ownModule())
		if err != nil {
			return nil, err
		}
		moduleDir = root
	}
	bundler := gobundle.Bundler{ModuleDir: moduleDir, Pkg: PackagePath, Cache: gobundle.UserCache(bundleCacheName)}
	hash, err := bundler.SourceHash()
	if err != nil {
		return nil, err
	}
	return awslambda.Code_FromAsset(jsii.String(moduleDir), &awss3assets.AssetOptions{
		AssetHashType: awscdk.AssetHashType_CUSTOM,
		AssetHash:     jsii.String(hash),
		Bundling:      bundlingOptions(bundler),
	}), nil
}
