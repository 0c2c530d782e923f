package constructs_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecr"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"
	"go.yaml.in/yaml/v3"

	"cicd/constructs/build"
	"cicd/internal/cdktest"
)

const (
	testProject   = "cicd-pipeline-test"
	testContainer = "web"
	testLogGroup  = "/aws/codebuild/cicd-pipeline-test"
	testToken     = "/cicd-pipeline/test/github-token"
)

// The construct in a throwaway stack with the key and repository it needs,
// each synthesized once per test binary: with the defaults, and with every
// option (the token, arm64, a container name per environment).
var (
	buildDefaults = buildFixture("build", build.Props{ContainerName: testContainer})
	buildOptions  = buildFixture("build-options", build.Props{
		GitHubTokenParameter: testToken,
		Platform:             build.PlatformARM64,
		ContainerNames:       []string{testContainer, "worker", testContainer},
	})
)

func buildFixture(name string, props build.Props) *cdktest.Fixture {
	return cdktest.NewFixture(name, nil, func(stack awscdk.Stack) {
		props.ProjectName = testProject
		props.Repository = awsecr.NewRepository(stack, jsii.String("Repository"), nil)
		props.Key = awskms.NewKey(stack, jsii.String("Key"), nil)
		props.LogGroupName = testLogGroup
		build.New(stack, "Build", props)
	})
}

// one returns the only resource of a type and its logical ID.
func one(t *testing.T, tpl map[string]any, typ string) (string, map[string]any) {
	t.Helper()
	found := cdktest.Resources(tpl, typ)
	if len(found) != 1 {
		t.Fatalf("%d resources of type %s, want 1", len(found), typ)
	}
	for id, r := range found {
		return id, r
	}
	return "", nil
}

func logicalID(t *testing.T, tpl map[string]any, typ string) string {
	t.Helper()
	id, _ := one(t, tpl, typ)
	return id
}

func TestProject(t *testing.T) {
	tpl, j := buildDefaults.Template(t)
	key := logicalID(t, j, "AWS::KMS::Key")
	logs := logicalID(t, j, "AWS::Logs::LogGroup")
	cdktest.HasResourceProperties(t, tpl, "AWS::CodeBuild::Project", map[string]any{
		"Name": testProject,
		"Environment": assertions.Match_ObjectLike(&map[string]any{
			"Type":           "LINUX_CONTAINER",
			"Image":          "aws/codebuild/standard:7.0",
			"ComputeType":    "BUILD_GENERAL1_SMALL",
			"PrivilegedMode": true,
		}),
		"TimeoutInMinutes": 15,
		"Cache":            map[string]any{"Type": "LOCAL", "Modes": []any{"LOCAL_DOCKER_LAYER_CACHE"}},
		"EncryptionKey":    map[string]any{"Fn::GetAtt": []any{key, "Arn"}},
		"LogsConfig": map[string]any{"CloudWatchLogs": map[string]any{
			"Status":    "ENABLED",
			"GroupName": map[string]any{"Ref": logs},
		}},
	})
}

func TestBuildLogGroup(t *testing.T) {
	tpl, j := buildDefaults.Template(t)
	key := logicalID(t, j, "AWS::KMS::Key")
	cdktest.ResourceCountIs(t, tpl, "AWS::Logs::LogGroup", 1)
	cdktest.HasResource(t, tpl, "AWS::Logs::LogGroup", map[string]any{"Properties": assertions.Match_Exact(&map[string]any{
		"LogGroupName":    testLogGroup,
		"RetentionInDays": 7,
		"KmsKeyId":        map[string]any{"Fn::GetAtt": []any{key, "Arn"}},
	})})
}

// envVars returns the project's environment variables by name.
func envVars(t *testing.T, j map[string]any) map[string]map[string]any {
	t.Helper()
	_, project := one(t, j, "AWS::CodeBuild::Project")
	env := project["Properties"].(map[string]any)["Environment"].(map[string]any)
	out := map[string]map[string]any{}
	vars, _ := env["EnvironmentVariables"].([]any)
	for _, v := range vars {
		m := v.(map[string]any)
		out[m["Name"].(string)] = m
	}
	return out
}

// hasEnv checks that the project of fixture has environment variables
// like vars, in this order.
func hasEnv(t *testing.T, fixture *cdktest.Fixture, vars ...any) bool {
	t.Helper()
	tpl, _ := fixture.Template(t)
	return cdktest.HasResourceProperties(t, tpl, "AWS::CodeBuild::Project", map[string]any{
		"Environment": assertions.Match_ObjectLike(&map[string]any{"EnvironmentVariables": assertions.Match_ArrayWith(&vars)}),
	})
}

// variable matches a variable of the build's environment.
func variable(name, typ string, value any) any {
	return assertions.Match_Exact(&map[string]any{"Name": name, "Type": typ, "Value": value})
}

func TestEnvironmentVariables(t *testing.T) {
	tpl, j := buildDefaults.Template(t)
	repo := logicalID(t, j, "AWS::ECR::Repository")
	repoArn := map[string]any{"Fn::GetAtt": []any{repo, "Arn"}}
	arnPart := func(i int) any {
		return map[string]any{"Fn::Select": []any{i, map[string]any{"Fn::Split": []any{":", repoArn}}}}
	}
	// These variables, all plain text, and no others.
	cdktest.HasResourceProperties(t, tpl, "AWS::CodeBuild::Project", map[string]any{
		"Environment": assertions.Match_ObjectLike(&map[string]any{"EnvironmentVariables": []any{
			variable("CONTAINER_NAME", "PLAINTEXT", testContainer),
			variable("IMAGE_PLATFORM", "PLAINTEXT", assertions.Match_AnyValue()),
			variable("REPOSITORY_NAME", "PLAINTEXT", map[string]any{"Ref": repo}),
			// The repository's URI: <account>.dkr.ecr.<region>.<suffix>/<name>.
			variable("REPOSITORY_URI", "PLAINTEXT", map[string]any{"Fn::Join": []any{"", []any{
				arnPart(4), ".dkr.ecr.", arnPart(3), ".", map[string]any{"Ref": "AWS::URLSuffix"}, "/", map[string]any{"Ref": repo},
			}}}),
		}}),
	})
}

// statements returns every IAM statement of the template's policies.
func buildStatements(j map[string]any) []map[string]any {
	var out []map[string]any
	for _, p := range cdktest.Resources(j, "AWS::IAM::Policy") {
		doc := p["Properties"].(map[string]any)["PolicyDocument"].(map[string]any)
		for _, s := range doc["Statement"].([]any) {
			out = append(out, s.(map[string]any))
		}
	}
	return out
}

func actions(s map[string]any) []string {
	switch a := s["Action"].(type) {
	case string:
		return []string{a}
	case []any:
		out := make([]string, len(a))
		for i, v := range a {
			out[i], _ = v.(string)
		}
		return out
	}
	return nil
}

func TestGitHubToken(t *testing.T) {
	t.Run("absent unless configured", func(t *testing.T) {
		_, j := buildDefaults.Template(t)
		if _, ok := envVars(t, j)[build.VarGitHubToken]; ok {
			t.Error("GITHUB_TOKEN is set although no parameter is configured")
		}
		for _, s := range buildStatements(j) {
			for _, a := range actions(s) {
				if strings.HasPrefix(a, "ssm:") {
					t.Errorf("%s granted although no parameter is configured", a)
				}
			}
		}
	})

	t.Run("from Parameter Store when configured", func(t *testing.T) {
		tpl, j := buildOptions.Template(t)
		if !hasEnv(t, buildOptions, variable(build.VarGitHubToken, "PARAMETER_STORE", testToken)) {
			t.Fatalf("want GITHUB_TOKEN, a PARAMETER_STORE variable of %s", testToken)
		}
		var readers int
		for _, s := range buildStatements(j) {
			for _, a := range actions(s) {
				if !strings.HasPrefix(a, "ssm:") {
					continue
				}
				readers++
				if a != "ssm:GetParameters" {
					t.Errorf("%s granted, want only ssm:GetParameters", a)
				}
				cdktest.Matches(t, "ssm:GetParameters on exactly the parameter "+testToken, s["Resource"],
					assertions.Match_Exact(&map[string]any{"Fn::Join": []any{"", []any{
						"arn:", map[string]any{"Ref": "AWS::Partition"}, ":ssm:", map[string]any{"Ref": "AWS::Region"}, ":",
						map[string]any{"Ref": "AWS::AccountId"}, ":parameter" + testToken,
					}}}))
			}
		}
		if readers == 0 {
			t.Error("no read access to the token parameter")
		}
		// The SecureString is encrypted with the pipeline key.
		key := logicalID(t, j, "AWS::KMS::Key")
		if !cdktest.HasResourceProperties(t, tpl, "AWS::IAM::Policy", map[string]any{
			"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
				assertions.Match_ObjectLike(&map[string]any{
					"Action":   assertions.Match_ArrayWith(&[]any{"kms:Decrypt"}),
					"Effect":   "Allow",
					"Resource": map[string]any{"Fn::GetAtt": []any{key, "Arn"}},
				}),
			})}),
		}) {
			t.Error("the build cannot decrypt the token with the pipeline key")
		}
	})
}

func TestRepositoryAccess(t *testing.T) {
	_, j := buildDefaults.Template(t)
	repo := logicalID(t, j, "AWS::ECR::Repository")
	granted := map[string]bool{}
	for _, s := range buildStatements(j) {
		res, _ := json.Marshal(s["Resource"])
		for _, a := range actions(s) {
			if strings.HasPrefix(a, "ecr:") && a != "ecr:GetAuthorizationToken" && !strings.Contains(string(res), repo) {
				t.Errorf("%s on %s, want the repository only", a, res)
			}
			granted[a] = true
		}
	}
	for _, a := range []string{"ecr:GetAuthorizationToken", "ecr:DescribeImages", "ecr:PutImage", "ecr:BatchGetImage"} {
		if !granted[a] {
			t.Errorf("%s is not granted", a)
		}
	}
}

// deployedSpec is the buildspec of the synthesized project, parsed.
type deployedSpec struct {
	Version string `yaml:"version"`
	Env     struct {
		Shell     string            `yaml:"shell"`
		Variables map[string]string `yaml:"variables"`
		Exported  []string          `yaml:"exported-variables"`
	} `yaml:"env"`
	Phases map[string]struct {
		OnFailure string   `yaml:"on-failure"`
		Commands  []string `yaml:"commands"`
	} `yaml:"phases"`
	Artifacts struct {
		Files []string `yaml:"files"`
	} `yaml:"artifacts"`
}

func buildspec(t *testing.T, j map[string]any) deployedSpec {
	t.Helper()
	_, project := one(t, j, "AWS::CodeBuild::Project")
	source := project["Properties"].(map[string]any)["Source"].(map[string]any)
	text, ok := source["BuildSpec"].(string)
	if !ok {
		t.Fatalf("the project's buildspec is not inline text: %v", source["BuildSpec"])
	}
	var spec deployedSpec
	if err := yaml.Unmarshal([]byte(text), &spec); err != nil {
		t.Fatalf("the deployed buildspec is not YAML: %v\n%s", err, text)
	}
	return spec
}

// The deployed buildspec is Spec(), so the tests that run Spec() run what
// CodeBuild runs.
func TestDeployedBuildspecIsSpec(t *testing.T) {
	_, j := buildDefaults.Template(t)
	got := buildspec(t, j)
	want := build.Spec()
	if got.Version != "0.2" || got.Env.Shell != "bash" {
		t.Errorf("buildspec version %q shell %q, want 0.2 and bash (commands share one shell session)", got.Version, got.Env.Shell)
	}
	for name, commands := range map[string][]string{"pre_build": want.PreBuild, "build": want.Build, "post_build": want.PostBuild} {
		if !reflect.DeepEqual(got.Phases[name].Commands, commands) {
			t.Errorf("deployed %s commands differ from Spec():\n got %q\nwant %q", name, got.Phases[name].Commands, commands)
		}
	}
	if len(got.Phases) != 3 {
		t.Errorf("deployed phases %v, want pre_build, build and post_build", got.Phases)
	}
	// A failed login, tag or test stops the build before anything is pushed,
	// and the push guard stops post_build.
	for _, name := range []string{"pre_build", "build", "post_build"} {
		if got.Phases[name].OnFailure != "ABORT" {
			t.Errorf("%s on-failure %q, want ABORT", name, got.Phases[name].OnFailure)
		}
	}
	if !reflect.DeepEqual(got.Env.Exported, []string{build.VarImageTag, build.VarImageURI, build.VarImageDigest}) {
		t.Errorf("exported variables %v, want IMAGE_TAG, IMAGE_URI and IMAGE_DIGEST", got.Env.Exported)
	}
	if !reflect.DeepEqual(got.Env.Variables, want.Variables) || got.Env.Variables["DOCKER_BUILDKIT"] != "1" {
		t.Errorf("buildspec variables %v, want %v with DOCKER_BUILDKIT=1 (docker build --secret needs BuildKit)", got.Env.Variables, want.Variables)
	}
	if !reflect.DeepEqual(got.Artifacts.Files, []string{build.OutputFile}) {
		t.Errorf("artifact files %v, want %s", got.Artifacts.Files, build.OutputFile)
	}
}

// Each platform builds on a CodeBuild image of its own architecture, so
// docker build runs natively and a Graviton task gets an arm64 image.
func TestPlatform(t *testing.T) {
	for _, tc := range []struct {
		fixture                       *cdktest.Fixture
		typ, image, compute, platform string
	}{
		{buildDefaults, "LINUX_CONTAINER", "aws/codebuild/standard:7.0", "BUILD_GENERAL1_SMALL", "linux/amd64"},
		{buildOptions, "ARM_CONTAINER", "aws/codebuild/amazonlinux-aarch64-standard:3.0", "BUILD_GENERAL1_SMALL", "linux/arm64"},
	} {
		tpl, _ := tc.fixture.Template(t)
		cdktest.HasResourceProperties(t, tpl, "AWS::CodeBuild::Project", map[string]any{
			"Environment": assertions.Match_ObjectLike(&map[string]any{
				"Type": tc.typ, "Image": tc.image, "ComputeType": tc.compute, "PrivilegedMode": true,
			}),
		})
		if !hasEnv(t, tc.fixture, assertions.Match_ObjectLike(&map[string]any{"Name": "IMAGE_PLATFORM", "Value": tc.platform})) {
			t.Errorf("want IMAGE_PLATFORM=%s", tc.platform)
		}
	}
}

func TestContainerNames(t *testing.T) {
	_, j := buildOptions.Template(t)
	if !hasEnv(t, buildOptions, assertions.Match_ObjectLike(&map[string]any{"Name": "CONTAINER_NAME", "Value": testContainer})) {
		t.Errorf("want CONTAINER_NAME the first of ContainerNames, %s", testContainer)
	}
	if !hasEnv(t, buildOptions, assertions.Match_ObjectLike(&map[string]any{"Name": "CONTAINER_NAMES", "Value": testContainer + " worker"})) {
		t.Errorf("want CONTAINER_NAMES each name once: %q", testContainer+" worker")
	}
	want := []string{build.OutputFile, "imagedefinitions-" + testContainer + ".json", "imagedefinitions-worker.json"}
	if got := buildspec(t, j).Artifacts.Files; !reflect.DeepEqual(got, want) {
		t.Errorf("artifact files %v, want %v", got, want)
	}
	if got := build.DefinitionsFile("worker"); got != "imagedefinitions-worker.json" {
		t.Errorf("DefinitionsFile(worker) = %s", got)
	}
	plainTpl, _ := buildDefaults.Template(t)
	if !cdktest.ResourcePropertiesCountIs(t, plainTpl, "AWS::CodeBuild::Project", map[string]any{
		"Environment": assertions.Match_ObjectLike(&map[string]any{"EnvironmentVariables": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{"Name": "CONTAINER_NAMES"}),
		})}),
	}, 0) {
		t.Error("CONTAINER_NAMES set although no ContainerNames were given")
	}
}

// A bad prop fails where the construct is made, with one line naming it.
func TestBadProps(t *testing.T) {
	for _, tc := range []struct {
		name  string
		props build.Props
		want  string
	}{
		{"unknown platform", build.Props{ContainerName: "app", Platform: "linux/386"}, `build: platform "linux/386" is not supported: use linux/amd64 or linux/arm64`},
		{"two first containers", build.Props{ContainerName: "app", ContainerNames: []string{"web"}}, `build: ContainerName "app" is not the first of ContainerNames ["web"]: set one of them`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stack := cdktest.NewStack(t)
			tc.props.Repository = awsecr.NewRepository(stack, jsii.String("Repository"), nil)
			tc.props.Key = awskms.NewKey(stack, jsii.String("Key"), nil)
			defer func() {
				if got := fmt.Sprint(recover()); got != tc.want {
					t.Errorf("panic %q, want %q", got, tc.want)
				}
			}()
			build.New(stack, "Build", tc.props)
		})
	}
}

// post_build runs even when the build phase failed; its first command must
// stop the push then.
func TestPushGuard(t *testing.T) {
	_, j := buildDefaults.Template(t)
	post := buildspec(t, j).Phases["post_build"].Commands
	if len(post) == 0 || !strings.Contains(post[0], "CODEBUILD_BUILD_SUCCEEDING") || !strings.Contains(post[0], "exit 1") {
		t.Fatalf("post_build does not start with the push guard: %q", post)
	}
	push := -1
	for i, c := range post {
		if strings.Contains(c, "docker push") {
			push = i
		}
	}
	if push <= 0 {
		t.Errorf("docker push is not after the guard in post_build: %q", post)
	}
}
