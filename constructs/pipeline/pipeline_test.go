package pipeline_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscodebuild"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/pipeline"
	"cicd/internal/cdktest"
)

func TestMain(m *testing.M) { cdktest.Main(m) }

const (
	connectionArn = "arn:aws:codeconnections:eu-west-1:123456789012:connection/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
	legacyArn     = "arn:aws:codestar-connections:eu-west-1:123456789012:connection/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
)

// The fixture holds three pipelines: CodeCommit without approval, a
// CodeConnections source with approval and a shorter deploy timeout, and a
// source on a connection ARN of the older codestar-connections prefix.
var fixture = cdktest.NewFixture("pipeline", nil, func(stack awscdk.Stack) {
	key := awskms.NewKey(stack, jsii.String("Key"), nil)
	bucket := awss3.NewBucket(stack, jsii.String("Artifacts"), &awss3.BucketProps{EncryptionKey: key})
	project := awscodebuild.NewPipelineProject(stack, jsii.String("Project"), nil)
	fn := awslambda.NewFunction(stack, jsii.String("Validator"), &awslambda.FunctionProps{
		Runtime: awslambda.Runtime_NODEJS_22_X(),
		Handler: jsii.String("index.handler"),
		Code:    awslambda.Code_FromInline(jsii.String("stub")),
	})
	service := awsecs.BaseService_FromServiceArnWithCluster(stack, jsii.String("Service"), stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("ecs"), Resource: jsii.String("service"), ResourceName: jsii.String("production-cluster/web"),
	}))
	base := pipeline.Props{ArtifactBucket: bucket, Project: project, Validator: fn,
		Environments: []pipeline.Environment{{Name: "prod", Service: service}}}

	codecommit := base
	codecommit.PipelineName = "p-codecommit"
	codecommit.Source = pipeline.Source{Provider: pipeline.SourceCodeCommit, Branch: "main", RepositoryName: "service-repo"}
	pipeline.New(stack, "CodeCommit", codecommit)

	connection := base
	connection.PipelineName = "p-connection"
	connection.Source = pipeline.Source{Provider: pipeline.SourceConnection, Branch: "release", ConnectionArn: connectionArn, Owner: "octo-org", Repo: "service"}
	connection.Environments = []pipeline.Environment{{Name: "prod", Service: service, RequireApproval: true}}
	connection.DeploymentTimeout = 10 * time.Minute
	pipeline.New(stack, "Connection", connection)

	legacy := connection
	legacy.PipelineName = "p-legacy"
	legacy.Source.ConnectionArn = legacyArn
	pipeline.New(stack, "Legacy", legacy)

	// Three environments, one stage each; the second deploys with a role of
	// its own, the third waits for an approval.
	service2 := awsecs.BaseService_FromServiceArnWithCluster(stack, jsii.String("Service2"), stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("ecs"), Resource: jsii.String("service"), ResourceName: jsii.String("apps/web"),
	}))
	service3 := awsecs.BaseService_FromServiceArnWithCluster(stack, jsii.String("Service3"), stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("ecs"), Resource: jsii.String("service"), ResourceName: jsii.String("apps-prod/web"),
	}))
	deployRole := awsiam.NewRole(stack, jsii.String("StagingDeployRole"), &awsiam.RoleProps{AssumedBy: awsiam.NewAccountRootPrincipal()})
	multi := codecommit
	multi.PipelineName = "p-multi"
	multi.Source.RepositoryName = "multi-repo"
	multi.StagePerEnvironment = true
	multi.Environments = []pipeline.Environment{
		{Name: "dev", Service: service, ImageFile: "imagedefinitions-app.json",
			Verify: pipeline.Target{Cluster: "production-cluster", Service: "web", Container: "app"}},
		{Name: "staging", Service: service2, ImageFile: "imagedefinitions-app.json", DeployRole: deployRole,
			Verify: pipeline.Target{Cluster: "apps", Service: "web", Container: "app"}},
		{Name: "prod", Service: service3, ImageFile: "imagedefinitions-web.json", RequireApproval: true,
			Verify: pipeline.Target{Cluster: "apps-prod", Service: "web", Container: "web", Region: "eu-west-1"}},
	}
	pipeline.New(stack, "Multi", multi)
})

// pipelines returns each pipeline's properties by pipeline name.
func pipelines(t *testing.T) map[string]map[string]any {
	t.Helper()
	_, tpl := fixture.Template(t)
	out := map[string]map[string]any{}
	for _, p := range cdktest.Resources(tpl, "AWS::CodePipeline::Pipeline") {
		props := p["Properties"].(map[string]any)
		out[props["Name"].(string)] = props
	}
	return out
}

// actions returns the actions of one pipeline by stage name.
func actions(props map[string]any) map[string][]map[string]any {
	out := map[string][]map[string]any{}
	for _, s := range props["Stages"].([]any) {
		stage := s.(map[string]any)
		for _, a := range stage["Actions"].([]any) {
			out[stage["Name"].(string)] = append(out[stage["Name"].(string)], a.(map[string]any))
		}
	}
	return out
}

func TestStagesInOrder(t *testing.T) {
	got := pipelines(t)
	for name, want := range map[string]string{
		"p-codecommit": "Source,Build,Validate,Deploy,Verify",
		"p-connection": "Source,Build,Validate,Approve,Deploy,Verify",
		"p-multi":      "Source,Build,Validate,dev,staging,prod",
	} {
		props, ok := got[name]
		if !ok {
			t.Fatalf("no pipeline %s", name)
		}
		var stages []string
		for _, s := range props["Stages"].([]any) {
			stages = append(stages, s.(map[string]any)["Name"].(string))
		}
		if strings.Join(stages, ",") != want {
			t.Errorf("%s stages %v, want %s", name, stages, want)
		}
		if props["PipelineType"] != "V2" {
			t.Errorf("%s type %v, want V2", name, props["PipelineType"])
		}
		store := cdktest.JSON(props["ArtifactStore"])
		if !strings.Contains(store, `"Location":{"Ref":"Artifacts`) || !strings.Contains(store, `"EncryptionKey":{"Id":{"Fn::GetAtt":["Key`) {
			t.Errorf("%s artifact store %s, want the artifact bucket and its key", name, store)
		}
	}
}

func TestActionsPassTheImageAlong(t *testing.T) {
	got := actions(pipelines(t)["p-codecommit"])
	build := cdktest.JSON(got["Build"][0]["Configuration"])
	if !strings.Contains(build, `\"name\":\"COMMIT_ID\",\"type\":\"PLAINTEXT\",\"value\":\"#{SourceVariables.CommitId}\"`) {
		t.Errorf("build action configuration %s, want COMMIT_ID from the source action", build)
	}
	if got["Build"][0]["Namespace"] != pipeline.BuildNamespace {
		t.Errorf("build namespace %v, want %s", got["Build"][0]["Namespace"], pipeline.BuildNamespace)
	}
	for stage, mode := range map[string]string{"Validate": "gate", "Verify": "verify"} {
		params := got[stage][0]["Configuration"].(map[string]any)["UserParameters"]
		want := `{"mode":"` + mode + `","imageTag":"#{BuildVariables.IMAGE_TAG}","imageDigest":"#{BuildVariables.IMAGE_DIGEST}",` +
			`"executionId":"#{codepipeline.PipelineExecutionId}","commitTime":"#{SourceVariables.CommitterDate}"}`
		if params != want {
			t.Errorf("%s user parameters %v, want %s", stage, params, want)
		}
	}
	// A connection has no committer date: the author date is the commit's time.
	conn := actions(pipelines(t)["p-connection"])["Validate"][0]["Configuration"].(map[string]any)["UserParameters"].(string)
	if !strings.Contains(conn, `"commitTime":"#{SourceVariables.AuthorDate}"`) {
		t.Errorf("connection gate parameters %s, want the author date as the commit time", conn)
	}
	deploy := cdktest.JSON(got["Deploy"][0]["Configuration"])
	if deploy != `{"ClusterName":"production-cluster","DeploymentTimeout":20,"ServiceName":"web"}` {
		t.Errorf("deploy configuration %s, want the service and a 20-minute timeout", deploy)
	}
	if got := cdktest.JSON(actions(pipelines(t)["p-connection"])["Deploy"][0]["Configuration"]); !strings.Contains(got, `"DeploymentTimeout":10`) {
		t.Errorf("deploy configuration %s, want the configured 10-minute timeout", got)
	}
}

func TestCodeCommitSource(t *testing.T) {
	_, tpl := fixture.Template(t)
	repos := cdktest.Resources(tpl, "AWS::CodeCommit::Repository")
	if len(repos) != 2 {
		t.Fatalf("want one repository per CodeCommit pipeline (2), found %d", len(repos))
	}
	for id, repo := range repos {
		// Retained on delete and replacement (it holds the source), not when
		// the first create rolls back: that would block every retry.
		if repo["DeletionPolicy"] != "RetainExceptOnCreate" || repo["UpdateReplacePolicy"] != "Retain" {
			t.Errorf("%s: DeletionPolicy %v, UpdateReplacePolicy %v, want RetainExceptOnCreate and Retain",
				id, repo["DeletionPolicy"], repo["UpdateReplacePolicy"])
		}
	}
	source := cdktest.JSON(actions(pipelines(t)["p-codecommit"])["Source"][0]["Configuration"])
	if !strings.Contains(source, `"BranchName":"main"`) || !strings.Contains(source, `"PollForSourceChanges":false`) {
		t.Errorf("source configuration %s, want branch main triggered by events", source)
	}
	rules := 0
	for id, r := range cdktest.Resources(tpl, "AWS::Events::Rule") {
		pattern := r["Properties"].(map[string]any)["EventPattern"].(map[string]any)
		if cdktest.JSON(pattern["source"]) != `["aws.codecommit"]` {
			continue
		}
		rules++
		// A tag named main must not start the pipeline: branches only.
		want := `{"event":["referenceCreated","referenceUpdated"],"referenceName":["main"],"referenceType":["branch"]}`
		if got := cdktest.JSON(pattern["detail"]); got != want {
			t.Errorf("%s matches %s, want %s", id, got, want)
		}
	}
	if rules != 2 {
		t.Errorf("%d CodeCommit rules, want one per CodeCommit pipeline (2) that starts it on a push to main", rules)
	}
}

func TestConnectionSource(t *testing.T) {
	for name, arn := range map[string]string{"p-connection": connectionArn, "p-legacy": legacyArn} {
		props := pipelines(t)[name]
		triggers := cdktest.JSON(props["Triggers"])
		if triggers != `[{"GitConfiguration":{"Push":[{"Branches":{"Includes":["release"]}}],"SourceActionName":"Checkout"},"ProviderType":"CodeStarSourceConnection"}]` {
			t.Errorf("%s triggers %s, want a push trigger on release", name, triggers)
		}
		source := cdktest.JSON(actions(props)["Source"][0]["Configuration"])
		if !strings.Contains(source, `"ConnectionArn":"`+arn+`"`) || !strings.Contains(source, `"FullRepositoryId":"octo-org/service"`) {
			t.Errorf("%s source %s", name, source)
		}
	}
	_, tpl := fixture.Template(t)
	want := map[string]string{"Connection": "codeconnections:UseConnection", "Legacy": "codestar-connections:UseConnection"}
	arns := map[string]string{"Connection": connectionArn, "Legacy": legacyArn}
	for id, policy := range cdktest.Resources(tpl, "AWS::IAM::Policy") {
		for prefix, action := range want {
			if !strings.HasPrefix(id, prefix+"SourceRole") {
				continue
			}
			for _, s := range policy["Properties"].(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				st := s.(map[string]any)
				if !strings.Contains(cdktest.JSON(st["Action"]), "UseConnection") {
					continue
				}
				// CDK's source action always adds codestar-connections:UseConnection;
				// the statement may hold it next to the prefix of the ARN, nothing else.
				granted := cdktest.JSON(st["Action"])
				for _, a := range strings.Split(strings.Trim(granted, `[]`), ",") {
					if a != `"codeconnections:UseConnection"` && a != `"codestar-connections:UseConnection"` {
						t.Errorf("%s grants %s next to UseConnection", id, a)
					}
				}
				if !strings.Contains(granted, `"`+action+`"`) || st["Resource"] != arns[prefix] {
					t.Errorf("%s grants %s on %v, want %s on %s only", id, granted, st["Resource"], action, arns[prefix])
				}
				delete(want, prefix)
			}
		}
	}
	for prefix, action := range want {
		t.Errorf("the %s source role is not granted %s", prefix, action)
	}

	// The source role is assumed by the pipeline's role, not by anyone in
	// the account.
	roles := cdktest.Resources(tpl, "AWS::IAM::Role")
	for _, prefix := range []string{"Connection", "Legacy"} {
		var source, pipelineRole string
		for id := range roles {
			switch {
			case strings.HasPrefix(id, prefix+"SourceRole"):
				source = id
			case strings.HasPrefix(id, prefix+"PipelineRole"):
				pipelineRole = id
			}
		}
		if source == "" || pipelineRole == "" {
			t.Fatalf("%s: source role %q or pipeline role %q not found", prefix, source, pipelineRole)
		}
		trust := cdktest.JSON(roles[source]["Properties"].(map[string]any)["AssumeRolePolicyDocument"])
		want := `{"Statement":[{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"AWS":{"Fn::GetAtt":["` + pipelineRole + `","Arn"]}}}],"Version":"2012-10-17"}`
		if trust != want {
			t.Errorf("%s trusts %s\nwant only the pipeline role: %s", source, trust, want)
		}
	}
}

func TestConnectionService(t *testing.T) {
	for arn, want := range map[string]string{
		connectionArn: "codeconnections",
		legacyArn:     "codestar-connections",
		"nonsense":    "",
	} {
		if got := pipeline.ConnectionService(arn); got != want {
			t.Errorf("ConnectionService(%q) = %q, want %q", arn, got, want)
		}
	}
}

// With a stage per environment, each stage runs [Approve], RollingUpdate and
// VerifyRollout in order; the deploy reads the environment's image file,
// uses the environment's role when it has one, and the verify names the
// environment and its service.
func TestStagePerEnvironment(t *testing.T) {
	tpl, _ := fixture.Template(t)
	verify := func(env, target string) any {
		return assertions.Match_ObjectLike(&map[string]any{
			"UserParameters": `{"mode":"verify","imageTag":"#{BuildVariables.IMAGE_TAG}","imageDigest":"#{BuildVariables.IMAGE_DIGEST}",` +
				`"executionId":"#{codepipeline.PipelineExecutionId}","commitTime":"#{SourceVariables.CommitterDate}",` +
				`"environment":"` + env + `","target":` + target + `}`,
		})
	}
	cdktest.HasResourceProperties(t, tpl, "AWS::CodePipeline::Pipeline", map[string]any{
		"Name": "p-multi",
		"Stages": assertions.Match_ArrayWith(&[]any{
			map[string]any{"Name": "dev", "Actions": []any{
				assertions.Match_ObjectLike(&map[string]any{"Name": "RollingUpdate", "RunOrder": 1,
					"Configuration": map[string]any{"ClusterName": "production-cluster", "ServiceName": "web", "DeploymentTimeout": 20, "FileName": "imagedefinitions-app.json"}}),
				assertions.Match_ObjectLike(&map[string]any{"Name": "VerifyRollout", "RunOrder": 2,
					"Configuration": verify("dev", `{"cluster":"production-cluster","service":"web","container":"app"}`)}),
			}},
			map[string]any{"Name": "staging", "Actions": []any{
				assertions.Match_ObjectLike(&map[string]any{"Name": "RollingUpdate", "RunOrder": 1,
					"RoleArn": map[string]any{"Fn::GetAtt": []any{assertions.Match_StringLikeRegexp(jsii.String("^StagingDeployRole")), "Arn"}}}),
				assertions.Match_ObjectLike(&map[string]any{"Name": "VerifyRollout", "RunOrder": 2}),
			}},
			map[string]any{"Name": "prod", "Actions": []any{
				assertions.Match_ObjectLike(&map[string]any{"Name": "Approve", "RunOrder": 1,
					"Configuration": map[string]any{"CustomData": "Image #{BuildVariables.IMAGE_TAG} (#{BuildVariables.IMAGE_DIGEST}) passed the checks of staging. Approve to deploy it to prod."}}),
				assertions.Match_ObjectLike(&map[string]any{"Name": "RollingUpdate", "RunOrder": 2,
					"Configuration": assertions.Match_ObjectLike(&map[string]any{"FileName": "imagedefinitions-web.json"})}),
				assertions.Match_ObjectLike(&map[string]any{"Name": "VerifyRollout", "RunOrder": 3,
					"Configuration": verify("prod", `{"cluster":"apps-prod","service":"web","container":"web","region":"eu-west-1"}`)}),
			}},
		}),
	})
}
