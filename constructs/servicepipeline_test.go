package constructs_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/pipeline"
	"cicd/constructs/servicepipeline"
	"cicd/internal/cdktest"
)

// A platform team's own stack with the pipeline of one service, built
// through the package's exported API only, as another CDK Go app would.
var servicepipelineFixture = cdktest.NewFixture("servicepipeline", nil, func(stack awscdk.Stack) {
	service := func(id, cluster, name string) awsecs.IBaseService {
		return awsecs.BaseService_FromServiceArnWithCluster(stack, jsii.String(id), stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("ecs"), Resource: jsii.String("service"), ResourceName: jsii.String(cluster + "/" + name),
			ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		}))
	}
	servicepipeline.New(stack, "Checkout", servicepipeline.Props{
		Service: "checkout",
		Source:  pipeline.Source{Provider: pipeline.SourceCodeCommit, Branch: "trunk", RepositoryName: "checkout"},
		Environments: []servicepipeline.Environment{
			{Name: "test", Service: service("Test", "apps-test", "checkout"), ClusterName: "apps-test", ServiceName: "checkout"},
			{Name: "live", Service: service("Live", "apps-live", "checkout"), ClusterName: "apps-live", ServiceName: "checkout",
				ContainerName: "web", RequireApproval: true},
		},
	})
})

func TestPipelineOfOneService(t *testing.T) {
	tpl, _ := servicepipelineFixture.Template(t)
	cdktest.HasResourceProperties(t, tpl, "AWS::CodePipeline::Pipeline", map[string]any{
		"Name": "cicd-checkout",
		"Stages": []any{
			assertions.Match_ObjectLike(&map[string]any{"Name": "Source"}),
			assertions.Match_ObjectLike(&map[string]any{"Name": "Build"}),
			assertions.Match_ObjectLike(&map[string]any{"Name": "Validate"}),
			assertions.Match_ObjectLike(&map[string]any{"Name": "test", "Actions": []any{
				assertions.Match_ObjectLike(&map[string]any{"Name": "RollingUpdate"}),
				assertions.Match_ObjectLike(&map[string]any{"Name": "VerifyRollout"}),
			}}),
			assertions.Match_ObjectLike(&map[string]any{"Name": "live", "Actions": []any{
				assertions.Match_ObjectLike(&map[string]any{"Name": "Approve"}),
				assertions.Match_ObjectLike(&map[string]any{"Name": "RollingUpdate",
					"Configuration": assertions.Match_ObjectLike(&map[string]any{"FileName": "imagedefinitions-web.json"})}),
				assertions.Match_ObjectLike(&map[string]any{"Name": "VerifyRollout"}),
			}}),
		},
	})
	// Names come from the service: cicd-{service}.
	cdktest.HasResourceProperties(t, tpl, "AWS::DynamoDB::Table", map[string]any{"TableName": "cicd-checkout-history"})
	cdktest.HasResourceProperties(t, tpl, "AWS::ECR::Repository", map[string]any{"RepositoryName": "cicd-checkout"})
	cdktest.HasResourceProperties(t, tpl, "AWS::Lambda::Function", map[string]any{"FunctionName": "cicd-checkout-validator"})
	cdktest.HasResourceProperties(t, tpl, "AWS::SSM::Parameter", map[string]any{"Name": "/cicd/checkout/environments", "Value": "test,live"})
	cdktest.HasResourceProperties(t, tpl, "AWS::CodeCommit::Repository", map[string]any{"RepositoryName": "checkout"})
	// Neither environment is called prod: the table may be deleted.
	cdktest.HasResourceProperties(t, tpl, "AWS::DynamoDB::Table", map[string]any{"DeletionProtectionEnabled": false})
}

func TestOutputsAreExported(t *testing.T) {
	tpl, _ := servicepipelineFixture.Template(t)
	for _, id := range []string{"pipelineName", "ecrRepositoryUri", "artifactBucketName", "buildProjectName",
		"snsTopicArn", "validationLambdaArn", "stateTableName", "kmsKeyId"} {
		cdktest.HasOutput(t, tpl, "*", map[string]any{
			"Export":      map[string]any{"Name": "cicd-checkout-" + id},
			"Description": assertions.Match_AnyValue(),
			"Value":       assertions.Match_AnyValue(),
		})
	}
}

// The props are checked before anything is built.
func TestPropsAreChecked(t *testing.T) {
	stack := cdktest.NewStack(t)
	svc := awsecs.BaseService_FromServiceArnWithCluster(stack, jsii.String("Svc"),
		jsii.String("arn:aws:ecs:eu-west-1:123456789012:service/apps/web"))
	for _, tc := range []struct {
		name  string
		props servicepipeline.Props
		want  string
	}{
		{"no service", servicepipeline.Props{Environments: []servicepipeline.Environment{{Name: "dev", Service: svc}}}, "Service is empty"},
		{"no environments", servicepipeline.Props{Service: "web"}, "no environments"},
		{"twice", servicepipeline.Props{Service: "web", Environments: []servicepipeline.Environment{{Name: "dev", Service: svc}, {Name: "dev", Service: svc}}}, "environment dev appears twice"},
		{"single stages", servicepipeline.Props{Service: "web", SingleEnvironmentStages: true,
			Environments: []servicepipeline.Environment{{Name: "dev", Service: svc}, {Name: "prod", Service: svc}}}, "takes one environment, got 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(strings.TrimPrefix(toString(r), "Error: "), tc.want) {
					t.Errorf("panic %v, want one saying %q", r, tc.want)
				}
			}()
			servicepipeline.New(stack, tc.name, tc.props)
		})
	}
}

func toString(r any) string {
	if err, ok := r.(error); ok {
		return err.Error()
	}
	s, _ := r.(string)
	return s
}

// The names of two services never collide, and fit the AWS limits for the
// longest service name the configuration allows (20 characters).
func TestNames(t *testing.T) {
	a, b := servicepipeline.ServiceNames("orders"), servicepipeline.ServiceNames("payments")
	if a.Table == b.Table || a.Repository == b.Repository || a.ParameterPrefix == b.ParameterPrefix || a.Stack == b.Stack {
		t.Errorf("names collide: %+v and %+v", a, b)
	}
	single := servicepipeline.SingleEnvironmentNames("dev")
	if single != (servicepipeline.Names{Stack: "cicd-pipeline-dev", Pipeline: "cicd-pipeline-dev", Repository: "cicd-pipeline-dev",
		Project: "cicd-pipeline-dev", Table: "cicd-pipeline-state-dev", Topic: "cicd-pipeline-notifications-dev",
		Validator: "cicd-pipeline-validator-dev", KeyAlias: "alias/cicd-pipeline-dev", ParameterPrefix: "/cicd-pipeline/dev"}) {
		t.Errorf("the single-environment names changed: %+v", single)
	}
	long := servicepipeline.ServiceNames(strings.Repeat("s", 20))
	for name, limit := range map[string]int{long.Stack: 128, long.Pipeline: 100, long.Validator: 64, long.Table: 255,
		long.Topic: 256, long.Project: 255, long.Repository: 256, long.KeyAlias: 256} {
		if len(name) > limit {
			t.Errorf("%s is %d characters, over %d", name, len(name), limit)
		}
	}
}
