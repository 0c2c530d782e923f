package constructs_test

import (
	"slices"
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

const (
	connectionArn = "arn:aws:codeconnections:eu-west-1:123456789012:connection/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
	legacyArn     = "arn:aws:codestar-connections:eu-west-1:123456789012:connection/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
)

// The fixture holds three pipelines: CodeCommit without approval, a
// CodeConnections source with approval and a shorter deploy timeout, and a
// source on a connection ARN of the older codestar-connections prefix.
var pipelineFixture = cdktest.NewFixture("pipeline", nil, func(stack awscdk.Stack) {
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

// hasStage checks that the pipeline called name has a stage whose one action
// matches action; why says what breaks otherwise.
func hasStage(t *testing.T, name, stage string, action any, why string) {
	t.Helper()
	tpl, _ := pipelineFixture.Template(t)
	if !cdktest.HasResourceProperties(t, tpl, "AWS::CodePipeline::Pipeline", map[string]any{
		"Name": name,
		"Stages": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{"Name": stage, "Actions": []any{action}}),
		}),
	}) {
		t.Errorf("%s, stage %s: %s", name, stage, why)
	}
}

// configuration matches an action whose configuration has props.
func configuration(props map[string]any) any {
	return assertions.Match_ObjectLike(&map[string]any{"Configuration": assertions.Match_ObjectLike(&props)})
}

func TestStagesInOrder(t *testing.T) {
	tpl, _ := pipelineFixture.Template(t)
	for name, want := range map[string][]string{
		"p-codecommit": {"Source", "Build", "Validate", "Deploy", "Verify"},
		"p-connection": {"Source", "Build", "Validate", "Approve", "Deploy", "Verify"},
		"p-multi":      {"Source", "Build", "Validate", "dev", "staging", "prod"},
	} {
		stages := make([]any, len(want))
		for i, stage := range want {
			stages[i] = assertions.Match_ObjectLike(&map[string]any{"Name": stage})
		}
		if !cdktest.HasResourceProperties(t, tpl, "AWS::CodePipeline::Pipeline", map[string]any{
			"Name":         name,
			"PipelineType": "V2",
			"Stages":       stages,
			"ArtifactStore": assertions.Match_ObjectLike(&map[string]any{
				"Location":      map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^Artifacts"))},
				"EncryptionKey": assertions.Match_ObjectLike(&map[string]any{"Id": map[string]any{"Fn::GetAtt": []any{assertions.Match_StringLikeRegexp(jsii.String("^Key")), "Arn"}}}),
			}),
		}) {
			t.Errorf("%s: want a V2 pipeline with stages %v in this order, storing its artifacts in the artifact bucket with its key", name, want)
		}
	}
}

// userParameters is what a Lambda action of mode gets: the image the build
// made, the execution and the commit's time.
func userParameters(mode, commitTime string) string {
	return `{"mode":"` + mode + `","imageTag":"#{BuildVariables.IMAGE_TAG}","imageDigest":"#{BuildVariables.IMAGE_DIGEST}",` +
		`"executionId":"#{codepipeline.PipelineExecutionId}","commitTime":"` + commitTime + `"}`
}

func TestActionsPassTheImageAlong(t *testing.T) {
	hasStage(t, "p-codecommit", "Build", assertions.Match_ObjectLike(&map[string]any{
		"Namespace": pipeline.BuildNamespace,
		"Configuration": assertions.Match_ObjectLike(&map[string]any{
			"EnvironmentVariables": assertions.Match_SerializedJson(assertions.Match_ArrayWith(&[]any{
				map[string]any{"name": "COMMIT_ID", "type": "PLAINTEXT", "value": "#{SourceVariables.CommitId}"},
			})),
		}),
	}), "want the build in namespace "+pipeline.BuildNamespace+", given COMMIT_ID from the source action")
	for stage, mode := range map[string]string{"Validate": "gate", "Verify": "verify"} {
		hasStage(t, "p-codecommit", stage, configuration(map[string]any{
			"UserParameters": userParameters(mode, "#{SourceVariables.CommitterDate}"),
		}), "want the "+mode+" given the built image, the execution and the commit's time")
	}
	// A connection has no committer date: the author date is the commit's time.
	hasStage(t, "p-connection", "Validate", configuration(map[string]any{
		"UserParameters": assertions.Match_SerializedJson(assertions.Match_ObjectLike(&map[string]any{"commitTime": "#{SourceVariables.AuthorDate}"})),
	}), "want the author date as the commit time")
	hasStage(t, "p-codecommit", "Deploy", assertions.Match_ObjectLike(&map[string]any{
		"Configuration": assertions.Match_Exact(&map[string]any{"ClusterName": "production-cluster", "DeploymentTimeout": 20, "ServiceName": "web"}),
	}), "want the service and a 20-minute timeout")
	hasStage(t, "p-connection", "Deploy", configuration(map[string]any{"DeploymentTimeout": 10}),
		"want the configured 10-minute timeout")
}

func TestCodeCommitSource(t *testing.T) {
	tpl, _ := pipelineFixture.Template(t)
	if !cdktest.ResourceCountIs(t, tpl, "AWS::CodeCommit::Repository", 2) {
		t.Error("want one repository per CodeCommit pipeline")
	}
	// Retained on delete and replacement (it holds the source), not when
	// the first create rolls back: that would block every retry.
	cdktest.Retained(t, tpl, "AWS::CodeCommit::Repository", "RetainExceptOnCreate",
		"the source would be lost, or a failed first create would block every retry")
	hasStage(t, "p-codecommit", "Source", configuration(map[string]any{"BranchName": "main", "PollForSourceChanges": false}),
		"want branch main, triggered by events")
	// One rule per CodeCommit pipeline starts it on a push to main; a tag
	// named main must not start the pipeline: branches only.
	codecommit := map[string]any{"EventPattern": assertions.Match_ObjectLike(&map[string]any{"source": []any{"aws.codecommit"}})}
	pushToMain := map[string]any{"EventPattern": assertions.Match_ObjectLike(&map[string]any{
		"source": []any{"aws.codecommit"},
		"detail": assertions.Match_Exact(&map[string]any{
			"event": []any{"referenceCreated", "referenceUpdated"}, "referenceName": []any{"main"}, "referenceType": []any{"branch"},
		}),
	})}
	cdktest.ResourcePropertiesCountIs(t, tpl, "AWS::Events::Rule", codecommit, 2)
	if !cdktest.ResourcePropertiesCountIs(t, tpl, "AWS::Events::Rule", pushToMain, 2) {
		t.Error("want each CodeCommit rule to match a created or updated branch main, and no tag")
	}
}

func TestConnectionSource(t *testing.T) {
	tpl, j := pipelineFixture.Template(t)
	for name, arn := range map[string]string{"p-connection": connectionArn, "p-legacy": legacyArn} {
		if !cdktest.HasResourceProperties(t, tpl, "AWS::CodePipeline::Pipeline", map[string]any{
			"Name": name,
			"Triggers": assertions.Match_Exact(&[]any{map[string]any{
				"GitConfiguration": map[string]any{
					"Push":             []any{map[string]any{"Branches": map[string]any{"Includes": []any{"release"}}}},
					"SourceActionName": "Checkout",
				},
				"ProviderType": "CodeStarSourceConnection",
			}}),
		}) {
			t.Errorf("%s: want one push trigger, on release", name)
		}
		hasStage(t, name, "Source", configuration(map[string]any{"ConnectionArn": arn, "FullRepositoryId": "octo-org/service"}),
			"want the connection and octo-org/service")
	}

	// CDK's source action always adds codestar-connections:UseConnection;
	// the grant holds it next to the prefix of the ARN, on the connection.
	for prefix, want := range map[string]struct {
		action any
		arn    string
	}{
		"Connection": {[]any{"codeconnections:UseConnection", "codestar-connections:UseConnection"}, connectionArn},
		"Legacy":     {"codestar-connections:UseConnection", legacyArn},
	} {
		if !cdktest.HasResourceProperties(t, tpl, "AWS::IAM::Policy", map[string]any{
			"Roles": []any{map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^" + prefix + "SourceRole"))}},
			"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
				assertions.Match_ObjectLike(&map[string]any{"Action": want.action, "Effect": "Allow", "Resource": want.arn}),
			})}),
		}) {
			t.Errorf("the %s source role is not granted %v on %s only", prefix, want.action, want.arn)
		}
	}
	// No statement of a source role grants UseConnection next to another
	// action, or on another resource.
	arns := map[string]string{"Connection": connectionArn, "Legacy": legacyArn}
	for id, policy := range cdktest.Resources(j, "AWS::IAM::Policy") {
		for prefix, arn := range arns {
			if !strings.HasPrefix(id, prefix+"SourceRole") {
				continue
			}
			for _, s := range policy["Properties"].(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				st := s.(map[string]any)
				granted := cdktest.Strings(st["Action"])
				if !slices.ContainsFunc(granted, func(a string) bool { return strings.HasSuffix(a, ":UseConnection") }) {
					continue
				}
				for _, a := range granted {
					if a != "codeconnections:UseConnection" && a != "codestar-connections:UseConnection" {
						t.Errorf("%s grants %s next to UseConnection", id, a)
					}
				}
				if st["Resource"] != arn {
					t.Errorf("%s grants UseConnection on %v, want %s only", id, st["Resource"], arn)
				}
			}
		}
	}

	// The source role is assumed by the pipeline's role, not by anyone in
	// the account.
	roles := cdktest.Resources(j, "AWS::IAM::Role")
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
		cdktest.Matches(t, source+" trusts only the pipeline role "+pipelineRole,
			roles[source]["Properties"].(map[string]any)["AssumeRolePolicyDocument"],
			assertions.Match_Exact(&map[string]any{
				"Statement": []any{map[string]any{
					"Action": "sts:AssumeRole", "Effect": "Allow",
					"Principal": map[string]any{"AWS": map[string]any{"Fn::GetAtt": []any{pipelineRole, "Arn"}}},
				}},
				"Version": "2012-10-17",
			}))
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
	tpl, _ := pipelineFixture.Template(t)
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
