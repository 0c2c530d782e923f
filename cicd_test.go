package main

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"cicd/internal/cdktest"
)

func TestMain(m *testing.M) { cdktest.Main(m) }

// variant is one configuration of the stack, synthesized once per test binary
// with the cdk-nag AwsSolutions checks applied (security_test.go).
type variant struct {
	name    string
	context map[string]any
	once    sync.Once
	tpl     assertions.Template
	json    map[string]any
	// nag holds the unsuppressed cdk-nag findings (security_test.go).
	nag []string
}

var (
	devVariant  = &variant{name: "dev", context: map[string]any{}}
	prodVariant = &variant{name: "prod", context: map[string]any{"environmentSuffix": "prod"}}
	connVariant = &variant{name: "connection", context: map[string]any{
		"environmentSuffix":    "staging",
		"sourceProvider":       "connection",
		"connectionArn":        "arn:aws:codeconnections:eu-west-1:123456789012:connection/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
		"githubRepo":           "octo-org/service",
		"branch":               "release",
		"githubTokenParameter": "/cicd-pipeline/staging/github-token",
		"notificationEmail":    "team@example.com",
		"requireApproval":      "true",
		"tags":                 `{"CostCenter":"1234","Owner":"platform"}`,
	}}
)

func (v *variant) template(t *testing.T) (assertions.Template, map[string]any) {
	t.Helper()
	v.once.Do(func() {
		app := nagApp(t, v.context)
		cfg, err := LoadConfig(func(key string) any { return app.Node().TryGetContext(jsii.String(key)) })
		if err != nil {
			t.Fatalf("config of variant %s: %v", v.name, err)
		}
		stack := NewCicdStack(app, cfg, StackOptions{})
		v.tpl, v.json = cdktest.Template(stack)
		v.nag = nagFindings(stack)
	})
	if v.tpl == nil {
		t.Fatalf("variant %s did not synthesize", v.name)
	}
	return v.tpl, v.json
}

func stageNames(t *testing.T, v *variant) []string {
	t.Helper()
	_, j := v.template(t)
	var names []string
	for _, p := range cdktest.Resources(j, "AWS::CodePipeline::Pipeline") {
		stages := p["Properties"].(map[string]any)["Stages"].([]any)
		for _, s := range stages {
			names = append(names, s.(map[string]any)["Name"].(string))
		}
	}
	return names
}

func TestStageOrder(t *testing.T) {
	for _, tc := range []struct {
		v    *variant
		want string
	}{
		{devVariant, "Source,Build,Validate,Deploy,Verify"},
		{prodVariant, "Source,Build,Validate,Approve,Deploy,Verify"},
		{connVariant, "Source,Build,Validate,Approve,Deploy,Verify"},
	} {
		if got := strings.Join(stageNames(t, tc.v), ","); got != tc.want {
			t.Errorf("%s: stages %s, want %s", tc.v.name, got, tc.want)
		}
	}
}

func TestPipelineActions(t *testing.T) {
	tpl, _ := devVariant.template(t)
	tpl.HasResourceProperties(jsii.String("AWS::CodePipeline::Pipeline"), map[string]any{
		"PipelineType": "V2",
		"Stages": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{"Name": "Validate", "Actions": []any{assertions.Match_ObjectLike(&map[string]any{
				"Configuration": assertions.Match_ObjectLike(&map[string]any{
					"UserParameters": `{"mode":"gate","imageTag":"#{BuildVariables.IMAGE_TAG}","executionId":"#{codepipeline.PipelineExecutionId}"}`,
				}),
			})}}),
			assertions.Match_ObjectLike(&map[string]any{"Name": "Deploy", "Actions": []any{assertions.Match_ObjectLike(&map[string]any{
				"Configuration": map[string]any{"ClusterName": "production-cluster", "ServiceName": "cicd-pipeline-dev", "DeploymentTimeout": 20},
			})}}),
		}),
	})
}

func TestSourceProviders(t *testing.T) {
	dev, _ := devVariant.template(t)
	dev.HasResourceProperties(jsii.String("AWS::CodeCommit::Repository"), map[string]any{"RepositoryName": "cicd-pipeline-dev"})
	dev.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]any{
		"EventPattern": assertions.Match_ObjectLike(&map[string]any{"source": []any{"aws.codecommit"},
			"detail": assertions.Match_ObjectLike(&map[string]any{"referenceName": []any{"main"}})}),
	})

	conn, _ := connVariant.template(t)
	conn.ResourceCountIs(jsii.String("AWS::CodeCommit::Repository"), jsii.Number(0))
	conn.HasResourceProperties(jsii.String("AWS::CodePipeline::Pipeline"), map[string]any{
		"Triggers": []any{map[string]any{
			"ProviderType": "CodeStarSourceConnection",
			"GitConfiguration": map[string]any{
				"SourceActionName": "Checkout",
				"Push":             []any{map[string]any{"Branches": map[string]any{"Includes": []any{"release"}}}},
			},
		}},
	})
	_, connJSON := connVariant.template(t)
	found := false
	for _, p := range cdktest.Resources(connJSON, "AWS::IAM::Policy") {
		b, _ := json.Marshal(p)
		if strings.Contains(string(b), `"codeconnections:UseConnection"`) && strings.Contains(string(b), connVariant.context["connectionArn"].(string)) {
			found = true
		}
	}
	if !found {
		t.Error("no codeconnections:UseConnection grant on the connection ARN")
	}
}

func TestGitHubTokenReachesBuild(t *testing.T) {
	tpl, _ := connVariant.template(t)
	tpl.HasResourceProperties(jsii.String("AWS::CodeBuild::Project"), map[string]any{
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
	_, j := devVariant.template(t)
	outputs := j["Outputs"].(map[string]any)
	for _, id := range []string{"pipelineName", "ecrRepositoryUri", "artifactBucketName", "buildProjectName",
		"snsTopicArn", "validationLambdaArn", "stateTableName", "kmsKeyId"} {
		o, ok := outputs[id].(map[string]any)
		if !ok {
			t.Errorf("output %s missing", id)
			continue
		}
		if o["Description"] == nil || o["Export"].(map[string]any)["Name"] != "cicd-pipeline-dev-"+id {
			t.Errorf("output %s: description or export name wrong: %v", id, o)
		}
	}
}

func TestTagsOnEveryResource(t *testing.T) {
	_, j := connVariant.template(t)
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
	for _, v := range []*variant{devVariant, prodVariant, connVariant} {
		_, j := v.template(t)
		resources := j["Resources"].(map[string]any)
		for id, want := range stateful {
			typ := want.typ
			if v == connVariant && typ == "AWS::CodeCommit::Repository" {
				continue // the connection's repository lives outside the stack
			}
			r, ok := resources[id].(map[string]any)
			if !ok || r["Type"] != typ {
				t.Errorf("%s: %s (%s) is missing: a changed logical ID replaces the resource", v.name, id, typ)
				continue
			}
			if r["DeletionPolicy"] != want.deletion || r["UpdateReplacePolicy"] != "Retain" {
				t.Errorf("%s: %s: DeletionPolicy %v, UpdateReplacePolicy %v, want %s and Retain", v.name, id, r["DeletionPolicy"], r["UpdateReplacePolicy"], want.deletion)
			}
		}
	}

	// Only prod's table refuses deletion; other environments can be removed.
	protection := func(v *variant) any {
		_, j := v.template(t)
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
