package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"

	"cicd/internal/cdktest"
)

func TestMain(m *testing.M) { cdktest.Main(m) }

// newVariant is one configuration of the app: every stack, built from
// context as the entry point builds it, with the cdk-nag AwsSolutions checks
// applied (security_test.go), synthesized once per test binary and
// validated as cdk synth does.
func newVariant(name string, context map[string]any) *cdktest.Fixture {
	return cdktest.NewAppFixture(name, nagOverrides(context), func(app awscdk.App) ([]awscdk.Stack, error) {
		addNagChecks(app)
		cfg, err := LoadConfig(appContext(app))
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		return NewStacks(app, cfg, StackOptions{}), nil
	}).Validated()
}

// connectionArn is the connection of connVariant.
const connectionArn = "arn:aws:codeconnections:eu-west-1:123456789012:connection/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"

var (
	devVariant  = newVariant("dev", map[string]any{})
	prodVariant = newVariant("prod", map[string]any{"environmentSuffix": "prod"})
	connVariant = newVariant("connection", map[string]any{
		"environmentSuffix":    "staging",
		"sourceProvider":       "connection",
		"connectionArn":        connectionArn,
		"githubRepo":           "octo-org/service",
		"branch":               "release",
		"githubTokenParameter": "/cicd-pipeline/staging/github-token",
		"notificationEmail":    "team@example.com",
		"requireApproval":      "true",
		"tags":                 `{"CostCenter":"1234","Owner":"platform"}`,
	})
	// The README's example (examples/pipelines.json): two services promoted
	// through three environments each, in one account and region, plus a
	// service with the longest service and environment names allowed.
	multiVariant = newVariant("multi", examplePipelines(map[string]any{
		"service": longService,
		"environments": []any{
			map[string]any{"name": "dev", "cluster": "apps-dev", "service": longService},
			map[string]any{"name": "qa", "cluster": "apps-dev", "service": longService + "-qa", "requireApproval": true},
			map[string]any{"name": longEnvironment, "cluster": "apps-prod", "service": longService, "requireApproval": false},
		},
	}))
)

// The README's example of accounts and regions (examples/accounts.json): a
// pipeline in account 111111111111 (eu-west-1) that deploys to dev there,
// to staging in 222222222222 and to prod in 333333333333 (us-east-1).
var crossVariant = newVariant("accounts", exampleContext("examples/accounts.json"))

func exampleContext(path string) map[string]any {
	data, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	var context map[string]any
	if err := json.Unmarshal(data, &context); err != nil {
		panic(fmt.Sprintf("%s: %v", path, err))
	}
	return context
}

// examplePipelines is the context of examples/pipelines.json with more
// pipelines and app-wide tags.
func examplePipelines(more ...any) map[string]any {
	context := exampleContext("examples/pipelines.json")
	context["pipelines"] = append(context["pipelines"].([]any), more...)
	context["tags"] = map[string]any{"CostCenter": "1234"}
	return context
}

// The longest names the configuration allows: 20 characters each.
const (
	longService     = "payments-settlement1"
	longEnvironment = "production-eu-west-1"
)

func stageNames(t *testing.T, tpl map[string]any) []string {
	t.Helper()
	var names []string
	for _, p := range cdktest.Resources(tpl, "AWS::CodePipeline::Pipeline") {
		stages := p["Properties"].(map[string]any)["Stages"].([]any)
		for _, s := range stages {
			names = append(names, s.(map[string]any)["Name"].(string))
		}
	}
	return names
}

func TestStageOrder(t *testing.T) {
	for _, tc := range []struct {
		v     *cdktest.Fixture
		stack string
		want  string
	}{
		{devVariant, "cicd-pipeline-dev", "Source,Build,Validate,Deploy,Verify"},
		{prodVariant, "cicd-pipeline-prod", "Source,Build,Validate,Approve,Deploy,Verify"},
		{connVariant, "cicd-pipeline-staging", "Source,Build,Validate,Approve,Deploy,Verify"},
		{multiVariant, "cicd-orders", "Source,Build,Validate,dev,staging,prod"},
		{multiVariant, "cicd-" + longService, "Source,Build,Validate,dev,qa," + longEnvironment},
	} {
		if got := strings.Join(stageNames(t, tc.v.Stack(t, tc.stack).JSON), ","); got != tc.want {
			t.Errorf("%s: stages %s, want %s", tc.stack, got, tc.want)
		}
	}
}

// The gate and the verify actions get what to check from the build's and
// the source's variables; the deploy action gets the image by digest.
func TestPipelineActions(t *testing.T) {
	tpl, _ := devVariant.Template(t)
	const vars = `"imageTag":"#{BuildVariables.IMAGE_TAG}","imageDigest":"#{BuildVariables.IMAGE_DIGEST}",` +
		`"executionId":"#{codepipeline.PipelineExecutionId}","commitTime":"#{SourceVariables.CommitterDate}"`
	cdktest.HasResourceProperties(t, tpl, "AWS::CodePipeline::Pipeline", map[string]any{
		"PipelineType": "V2",
		"Stages": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{"Name": "Validate", "Actions": []any{assertions.Match_ObjectLike(&map[string]any{
				"Configuration": assertions.Match_ObjectLike(&map[string]any{"UserParameters": `{"mode":"gate",` + vars + `}`}),
			})}}),
			assertions.Match_ObjectLike(&map[string]any{"Name": "Deploy", "Actions": []any{assertions.Match_ObjectLike(&map[string]any{
				"Configuration": map[string]any{"ClusterName": "dev", "ServiceName": "cicd-pipeline-dev", "DeploymentTimeout": 20},
			})}}),
			assertions.Match_ObjectLike(&map[string]any{"Name": "Verify", "Actions": []any{assertions.Match_ObjectLike(&map[string]any{
				"Configuration": assertions.Match_ObjectLike(&map[string]any{"UserParameters": `{"mode":"verify",` + vars + `}`}),
			})}}),
		}),
	})
}

// Each environment is one stage: [Approve], RollingUpdate, VerifyRollout in
// run order, so a failed verify ends the execution before the next
// environment's stage starts. Every deploy reads the file that names the
// image by digest for its container; every verify names its environment and
// service.
func TestPromotionThroughEnvironments(t *testing.T) {
	const vars = `"imageTag":"#{BuildVariables.IMAGE_TAG}","imageDigest":"#{BuildVariables.IMAGE_DIGEST}",` +
		`"executionId":"#{codepipeline.PipelineExecutionId}","commitTime":"#{SourceVariables.AuthorDate}"`
	stage := func(name string, approve bool, cluster, container string) any {
		var actions []any
		order := 1
		if approve {
			actions = append(actions, assertions.Match_ObjectLike(&map[string]any{
				"Name": "Approve", "RunOrder": 1, "ActionTypeId": assertions.Match_ObjectLike(&map[string]any{"Provider": "Manual"}),
			}))
			order++
		}
		actions = append(actions,
			assertions.Match_ObjectLike(&map[string]any{
				"Name": "RollingUpdate", "RunOrder": order,
				"ActionTypeId": assertions.Match_ObjectLike(&map[string]any{"Provider": "ECS"}),
				"Configuration": map[string]any{"ClusterName": cluster, "ServiceName": "orders", "DeploymentTimeout": 20,
					"FileName": "imagedefinitions-" + container + ".json"},
			}),
			assertions.Match_ObjectLike(&map[string]any{
				"Name": "VerifyRollout", "RunOrder": order + 1,
				"Configuration": assertions.Match_ObjectLike(&map[string]any{
					"UserParameters": `{"mode":"verify",` + vars + `,"environment":"` + name + `","target":{"cluster":"` + cluster +
						`","service":"orders","container":"` + container + `"}}`,
				}),
			}))
		return map[string]any{"Name": name, "Actions": actions}
	}
	orders := multiVariant.Stack(t, "cicd-orders")
	cdktest.HasResourceProperties(t, orders.Template, "AWS::CodePipeline::Pipeline", map[string]any{
		"Name": "cicd-orders",
		"Stages": []any{
			assertions.Match_ObjectLike(&map[string]any{"Name": "Source"}),
			assertions.Match_ObjectLike(&map[string]any{"Name": "Build"}),
			assertions.Match_ObjectLike(&map[string]any{"Name": "Validate", "Actions": []any{assertions.Match_ObjectLike(&map[string]any{
				"Name":          "ScanGate",
				"Configuration": assertions.Match_ObjectLike(&map[string]any{"UserParameters": `{"mode":"gate",` + vars + `}`}),
			})}}),
			stage("dev", false, "apps-dev", "app"),
			stage("staging", false, "apps", "app"),
			stage("prod", true, "apps-prod", "web"),
		},
	})
	// The build is the pipeline's only one: one image for every environment.
	cdktest.ResourceCountIs(t, orders.Template, "AWS::CodeBuild::Project", 1)

	// Approval placement follows the configuration: explicit on qa, and
	// turned off on the last environment.
	long := multiVariant.Stack(t, "cicd-"+longService)
	approvals := map[string]bool{}
	for _, p := range cdktest.Resources(long.JSON, "AWS::CodePipeline::Pipeline") {
		for _, s := range p["Properties"].(map[string]any)["Stages"].([]any) {
			for _, a := range s.(map[string]any)["Actions"].([]any) {
				if a.(map[string]any)["Name"] == "Approve" {
					approvals[s.(map[string]any)["Name"].(string)] = true
				}
			}
		}
	}
	if want := map[string]bool{"qa": true}; !reflect.DeepEqual(approvals, want) {
		t.Errorf("%s: approvals in %v, want only in qa", long.Name, approvals)
	}
}

// Two services with several environments each deploy side by side: no
// physical name, export or parameter of one stack is another's, and every
// name is within its AWS limit even for the longest names allowed.
func TestNamesCoexist(t *testing.T) {
	limits := map[string]int{
		"AWS::CodePipeline::Pipeline/Name":           100,
		"AWS::ECR::Repository/RepositoryName":        256,
		"AWS::CodeBuild::Project/Name":               255,
		"AWS::DynamoDB::Table/TableName":             255,
		"AWS::SNS::Topic/TopicName":                  256,
		"AWS::Lambda::Function/FunctionName":         64,
		"AWS::KMS::Alias/AliasName":                  256,
		"AWS::Logs::LogGroup/LogGroupName":           512,
		"AWS::SSM::Parameter/Name":                   1011,
		"AWS::CodeCommit::Repository/RepositoryName": 100,
		"AWS::IAM::Role/RoleName":                    64,
		"AWS::Events::Rule/Name":                     64,
	}
	owner := map[string]string{}
	for _, s := range multiVariant.Stacks(t) {
		if len(s.Name) > 128 {
			t.Errorf("stack name %s is longer than 128 characters", s.Name)
		}
		for id, r := range s.JSON["Resources"].(map[string]any) {
			res := r.(map[string]any)
			props, _ := res["Properties"].(map[string]any)
			for key, limit := range limits {
				typ, prop, _ := strings.Cut(key, "/")
				name, ok := props[prop].(string)
				if res["Type"] != typ || !ok {
					continue
				}
				if len(name) > limit {
					t.Errorf("%s/%s: %s %q is %d characters, over the limit of %d", s.Name, id, prop, name, len(name), limit)
				}
				if prev, dup := owner[typ+" "+name]; dup {
					t.Errorf("%s %q is in %s and %s/%s", typ, name, prev, s.Name, id)
				}
				owner[typ+" "+name] = s.Name + "/" + id
			}
		}
		for id, o := range s.JSON["Outputs"].(map[string]any) {
			export, _ := o.(map[string]any)["Export"].(map[string]any)
			name, _ := export["Name"].(string)
			if name == "" {
				continue
			}
			if prev, dup := owner["export "+name]; dup {
				t.Errorf("export %s is in %s and %s/%s", name, prev, s.Name, id)
			}
			owner["export "+name] = s.Name + "/" + id
		}
	}
	// A physical name is kept for every resource that has one, so the
	// check above saw them.
	for _, want := range []string{"AWS::DynamoDB::Table cicd-orders-history", "AWS::ECR::Repository cicd-" + longService,
		"AWS::Lambda::Function cicd-" + longService + "-validator", "AWS::SSM::Parameter /cicd/" + longService + "/environments",
		"export cicd-" + longService + "-stateTableName"} {
		if owner[want] == "" {
			t.Errorf("no %s in the app", want)
		}
	}
}

func TestSourceProviders(t *testing.T) {
	dev, _ := devVariant.Template(t)
	cdktest.HasResourceProperties(t, dev, "AWS::CodeCommit::Repository", map[string]any{"RepositoryName": "cicd-pipeline-dev"})
	cdktest.HasResourceProperties(t, dev, "AWS::Events::Rule", map[string]any{
		"EventPattern": assertions.Match_ObjectLike(&map[string]any{"source": []any{"aws.codecommit"},
			"detail": assertions.Match_ObjectLike(&map[string]any{"referenceName": []any{"main"}})}),
	})

	conn, _ := connVariant.Template(t)
	cdktest.ResourceCountIs(t, conn, "AWS::CodeCommit::Repository", 0)
	cdktest.HasResourceProperties(t, conn, "AWS::CodePipeline::Pipeline", map[string]any{
		"Triggers": []any{map[string]any{
			"ProviderType": "CodeStarSourceConnection",
			"GitConfiguration": map[string]any{
				"SourceActionName": "Checkout",
				"Push":             []any{map[string]any{"Branches": map[string]any{"Includes": []any{"release"}}}},
			},
		}},
	})
	// The source role may use the connection, and only the configured one.
	if !cdktest.HasResourceProperties(t, conn, "AWS::IAM::Policy", map[string]any{
		"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{
				"Action":   assertions.Match_ArrayWith(&[]any{"codeconnections:UseConnection"}),
				"Effect":   "Allow",
				"Resource": connectionArn,
			}),
		})}),
	}) {
		t.Error("no codeconnections:UseConnection grant on the connection ARN")
	}
}

func TestGitHubTokenReachesBuild(t *testing.T) {
	tpl, _ := connVariant.Template(t)
	cdktest.HasResourceProperties(t, tpl, "AWS::CodeBuild::Project", map[string]any{
		"Environment": assertions.Match_ObjectLike(&map[string]any{
			"Image": "aws/codebuild/standard:7.0", "ComputeType": "BUILD_GENERAL1_SMALL", "PrivilegedMode": true,
			"EnvironmentVariables": assertions.Match_ArrayWith(&[]any{map[string]any{
				"Name": "GITHUB_TOKEN", "Type": "PARAMETER_STORE", "Value": "/cicd-pipeline/staging/github-token",
			}}),
		}),
		"TimeoutInMinutes": 15,
	})
}

func TestOutputs(t *testing.T) {
	tpl, _ := devVariant.Template(t)
	for _, id := range []string{"pipelineName", "ecrRepositoryUri", "artifactBucketName", "buildProjectName",
		"snsTopicArn", "validationLambdaArn", "stateTableName", "kmsKeyId"} {
		cdktest.HasOutput(t, tpl, id, map[string]any{
			"Description": assertions.Match_AnyValue(),
			"Export":      map[string]any{"Name": "cicd-pipeline-dev-" + id},
		})
	}
}

func TestTagsOnEveryResource(t *testing.T) {
	_, j := connVariant.Template(t)
	want := map[string]string{"Environment": "staging", "Project": "cicd-pipeline", "ManagedBy": "CDK", "CostCenter": "1234", "Owner": "platform"}
	tagged := 0
	for id, r := range j["Resources"].(map[string]any) {
		props, _ := r.(map[string]any)["Properties"].(map[string]any)
		tags, ok := props["Tags"]
		if !ok {
			continue
		}
		tagged++
		got := map[string]string{}
		switch tags := tags.(type) {
		case []any:
			for _, tag := range tags {
				m := tag.(map[string]any)
				got[m["Key"].(string)] = m["Value"].(string)
			}
		case map[string]any:
			for k, v := range tags {
				got[k], _ = v.(string)
			}
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: tag %s=%q, want %q", id, k, got[k], v)
			}
		}
	}
	if tagged < 15 {
		t.Errorf("only %d resources carry tags", tagged)
	}
}

// Renaming these logical IDs makes CloudFormation replace the resource and
// lose its data; they are also retained when the stack is deleted. The IDs do
// not depend on the environment. Resources with a fixed name are removed when
// the stack's first create rolls back (RetainExceptOnCreate): they hold
// nothing yet, and their names would make every retry fail.
func TestStatefulResourcesKeepIdentity(t *testing.T) {
	stateful := map[string]struct{ typ, deletion string }{
		"EncryptionKey3A692D6E":       {"AWS::KMS::Key", "Retain"},
		"ArtifactsBucket88671897":     {"AWS::S3::Bucket", "Retain"},
		"ArtifactsAccessLogs4D97777C": {"AWS::S3::Bucket", "Retain"},
		"RegistryRepositoryC6C96DCD":  {"AWS::ECR::Repository", "RetainExceptOnCreate"},
		"HistoryTable4479EEA3":        {"AWS::DynamoDB::Table", "RetainExceptOnCreate"},
		"PipelineRepository8C6A768A":  {"AWS::CodeCommit::Repository", "RetainExceptOnCreate"},
	}
	for _, v := range []*cdktest.Fixture{devVariant, prodVariant, connVariant} {
		tpl, j := v.Template(t)
		resources := j["Resources"].(map[string]any)
		retained := map[string]string{} // deletion policy by type
		for id, want := range stateful {
			typ := want.typ
			if v == connVariant && typ == "AWS::CodeCommit::Repository" {
				continue // the connection's repository lives outside the stack
			}
			r, ok := resources[id].(map[string]any)
			if !ok || r["Type"] != typ {
				t.Errorf("%s: %s (%s) is missing: a changed logical ID replaces the resource", v.Name(), id, typ)
			}
			retained[typ] = want.deletion
		}
		// Every resource of these types, the ones above included.
		for _, typ := range slices.Sorted(maps.Keys(retained)) {
			cdktest.Retained(t, tpl, typ, retained[typ], v.Name()+": deleting or replacing it loses the data it holds")
		}
	}

	// Only prod's table refuses deletion; other environments can be removed.
	protection := func(v *cdktest.Fixture) any {
		_, j := v.Template(t)
		table, _ := j["Resources"].(map[string]any)["HistoryTable4479EEA3"].(map[string]any)
		props, _ := table["Properties"].(map[string]any)
		return props["DeletionProtectionEnabled"]
	}
	if got := protection(prodVariant); got != true {
		t.Errorf("prod: table DeletionProtectionEnabled=%v, want true", got)
	}
	if got := protection(devVariant); got == true {
		t.Errorf("dev: table DeletionProtectionEnabled=%v, want it off", got)
	}
}
