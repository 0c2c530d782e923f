package constructs_test

import (
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecr"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/validator"
	"cicd/internal/cdktest"
	"cicd/internal/gomod"
)

const stagingRole = "arn:aws:iam::222222222222:role/cicd-orders-verify"

// The validatorFixture bundles the asset: it is the one synthesis in the tests that
// builds the Lambda, so it proves what is deployed.
var validatorFixture = cdktest.NewFixture("validator", nil, func(stack awscdk.Stack) { newValidator(stack, "") }).Bundled()

// newValidator adds a validator, with what it needs, to stack; its code from
// the module in moduleDir (empty: this checkout's).
func newValidator(stack awscdk.Stack, moduleDir string) {
	key := awskms.NewKey(stack, jsii.String("Key"), nil)
	table := awsdynamodb.NewTable(stack, jsii.String("Table"), &awsdynamodb.TableProps{
		PartitionKey:  &awsdynamodb.Attribute{Name: jsii.String("deploymentId"), Type: awsdynamodb.AttributeType_STRING},
		Encryption:    awsdynamodb.TableEncryption_CUSTOMER_MANAGED,
		EncryptionKey: key,
	})
	repo := awsecr.NewRepository(stack, jsii.String("Repository"), nil)
	topic := awssns.NewTopic(stack, jsii.String("Topic"), nil)
	service := func(id, account, region, name string) awsecs.IBaseService {
		arn := &awscdk.ArnComponents{Service: jsii.String("ecs"), Resource: jsii.String("service"), ResourceName: jsii.String(name)}
		if account != "" {
			arn.Account = jsii.String(account)
		}
		if region != "" {
			arn.Region = jsii.String(region)
		}
		return awsecs.BaseService_FromServiceArnWithCluster(stack, jsii.String(id), stack.FormatArn(arn))
	}
	// Three environments: this account and region; this account in another
	// region; another account, through its role.
	validator.New(stack, "Validator", validator.Props{
		FunctionName: "validator-test",
		PipelineName: "pipeline-test",
		Service:      "orders",
		Table:        table,
		Repository:   repo,
		Topic:        topic,
		Key:          key,
		ModuleDir:    moduleDir,
		Targets: []validator.Target{
			{Environment: "test", Service: service("Test", "", "", "production-cluster/web")},
			{Environment: "prod", Service: service("Prod", "", "eu-west-1", "apps-prod/orders"), ContainerName: "web"},
			{Environment: "staging", Service: service("Staging", "222222222222", "us-east-1", "apps/orders"),
				Role: awsiam.Role_FromRoleArn(stack, jsii.String("StagingRole"), jsii.String(stagingRole), nil)},
		},
	})
}

// like matches a string that starts with prefix, a logical ID the CDK ends
// with a hash.
func like(prefix string) any { return assertions.Match_StringLikeRegexp(jsii.String("^" + prefix)) }

// getAtt is the ARN of the resource whose logical ID starts with prefix.
func getAtt(prefix string) any { return map[string]any{"Fn::GetAtt": []any{like(prefix), "Arn"}} }

func TestFunction(t *testing.T) {
	tpl, _ := validatorFixture.Template(t)
	cdktest.ResourceCountIs(t, tpl, "AWS::Lambda::Function", 1)
	cdktest.HasResourceProperties(t, tpl, "AWS::Lambda::Function", map[string]any{
		"Runtime":       "provided.al2023",
		"Architectures": []any{"arm64"},
		"Handler":       "bootstrap",
	})
	if !cdktest.HasResourceProperties(t, tpl, "AWS::Lambda::Function", map[string]any{
		"Environment": map[string]any{"Variables": assertions.Match_Exact(&map[string]any{
			"STATE_TABLE":           map[string]any{"Ref": like("Table")},
			"ECR_REPOSITORY":        map[string]any{"Ref": like("Repository")},
			"ECR_REPOSITORY_URI":    map[string]any{"Fn::Join": assertions.Match_AnyValue()},
			"SNS_TOPIC_ARN":         map[string]any{"Ref": like("Topic")},
			"SCAN_FAIL_SEVERITY":    "CRITICAL",
			"SCAN_MAX_WAIT_SECONDS": "900",
			"ECS_CLUSTER":           "production-cluster",
			"ECS_SERVICE":           "web",
			"CONTAINER_NAME":        "app",
			"ENVIRONMENT":           "test",
			"PIPELINE_NAME":         "pipeline-test",
			"SERVICE":               "orders",
			"UNSCANNED_IMAGES":      "reject",
		})},
	}) {
		t.Error("want these environment variables and no others")
	}
	if !cdktest.HasResourceProperties(t, tpl, "AWS::Lambda::Function", map[string]any{
		"LoggingConfig": assertions.Match_ObjectLike(&map[string]any{"LogGroup": map[string]any{"Ref": like("ValidatorLogGroup")}}),
	}) {
		t.Error("want the function's own log group")
	}
}

func TestValidatorLogGroup(t *testing.T) {
	tpl, _ := validatorFixture.Template(t)
	cdktest.ResourceCountIs(t, tpl, "AWS::Logs::LogGroup", 1)
	if !cdktest.HasResourceProperties(t, tpl, "AWS::Logs::LogGroup", map[string]any{
		"LogGroupName":    "/aws/lambda/validator-test",
		"RetentionInDays": 7,
		"KmsKeyId":        getAtt("Key"),
	}) {
		t.Error("want /aws/lambda/validator-test kept for 7 days, encrypted with the stack's KMS key")
	}
}

// TestGrantsAreScoped checks each statement of the role's policy names our
// resources; the two exceptions are explained where they are made.
func TestGrantsAreScoped(t *testing.T) {
	tpl, _ := validatorFixture.Template(t)
	cdktest.ResourceCountIs(t, tpl, "AWS::IAM::Policy", 1)
	grant := func(action, resource any) any {
		return assertions.Match_ObjectLike(&map[string]any{"Action": action, "Resource": resource})
	}
	arn := func(parts ...any) any { return map[string]any{"Fn::Join": []any{"", parts}} }
	var (
		partition = map[string]any{"Ref": "AWS::Partition"}
		region    = map[string]any{"Ref": "AWS::Region"}
		account   = map[string]any{"Ref": "AWS::AccountId"}
	)
	// These statements and no others.
	if !cdktest.HasResourceProperties(t, tpl, "AWS::IAM::Policy", map[string]any{
		"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{"Statement": []any{
			// Lambda writes the function's logs with the role, to its own group only.
			grant([]any{"logs:CreateLogStream", "logs:PutLogEvents"}, []any{
				getAtt("ValidatorLogGroup"),
				arn("arn:", partition, ":logs:", region, ":", account, ":log-group:", map[string]any{"Ref": like("ValidatorLogGroup")}),
			}),
			grant([]any{"ecr:BatchGetImage", "ecr:DescribeImageScanFindings", "ecr:DescribeImages", "ecr:PutImage"}, getAtt("Repository")),
			grant([]any{"dynamodb:GetItem", "dynamodb:PutItem"}, getAtt("Table")),
			grant([]any{"kms:Decrypt", "kms:GenerateDataKey*"}, getAtt("Key")),
			grant("sns:Publish", map[string]any{"Ref": like("Topic")}),
			grant("sts:AssumeRole", stagingRole),
			// The same-account services, in this region and in eu-west-1; the
			// staging service only through its role.
			grant("ecs:DescribeServices", []any{
				arn("arn:", partition, ":ecs:", region, ":", account, ":service/production-cluster/web"),
				arn("arn:", partition, ":ecs:eu-west-1:", account, ":service/apps-prod/orders"),
			}),
			// DescribeTaskDefinition and GetJobDetails do not support resource-level permissions.
			grant([]any{"codepipeline:GetJobDetails", "ecs:DescribeTaskDefinition"}, "*"),
		}}),
	}) {
		t.Error("want the role's grants on the validator's own resources only, and nothing else")
	}
}

// bundledBootstrap is the path of the validatorFixture's bundled bootstrap, the
// binary the stack deploys.
func bundledBootstrap(t *testing.T) string {
	t.Helper()
	_, tpl := validatorFixture.Template(t)
	code := cdktest.Properties(t, tpl, "AWS::Lambda::Function")["Code"].(map[string]any)
	key, _ := code["S3Key"].(string)
	hash := strings.TrimSuffix(key, ".zip")
	if hash == key || hash == "" {
		t.Fatalf("function code %s is not a bundled asset", cdktest.JSON(code))
	}
	dir := filepath.Join(validatorFixture.Outdir(), "asset."+hash)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("asset folder: %v", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != "bootstrap" {
		t.Fatalf("asset holds %v, want exactly [bootstrap]", names)
	}
	return filepath.Join(dir, "bootstrap")
}

func TestBundledAssetIsALinuxArm64Bootstrap(t *testing.T) {
	path := bundledBootstrap(t)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode()&0o111 == 0 {
		t.Errorf("bootstrap mode %v is not executable", info.Mode())
	}
	bin, err := elf.Open(path)
	if err != nil {
		t.Fatalf("bootstrap is not an ELF binary: %v", err)
	}
	defer bin.Close()
	if bin.Machine != elf.EM_AARCH64 || bin.Type != elf.ET_EXEC || bin.OSABI != elf.ELFOSABI_NONE {
		t.Errorf("bootstrap is %v %v %v, want a linux arm64 executable", bin.Machine, bin.Type, bin.OSABI)
	}
	for _, p := range bin.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("bootstrap is dynamically linked; provided.al2023 needs a static binary (CGO_ENABLED=0)")
		}
	}
	if bin.Section(".symtab") != nil {
		t.Error("bootstrap has a symbol table; it should be built with -ldflags \"-s -w\"")
	}
}

// maxBootstrapBytes guards the deployed binary's size against regressions
// (a new dependency, a new SDK client). Users feel init time, not bytes; the
// size is reported in BENCHMARKS.md (11.9 MB when the guard was set).
const maxBootstrapBytes = 14_000_000

func TestBootstrapSizeGuard(t *testing.T) {
	info, err := os.Stat(bundledBootstrap(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() > maxBootstrapBytes {
		t.Errorf("bootstrap is %d bytes (%.2f MB), over the %.0f MB guard: see what grew with go version -m and go tool nm -size -sort size on an unstripped build (BENCHMARKS.md, The validator's size)",
			info.Size(), float64(info.Size())/1e6, float64(maxBootstrapBytes)/1e6)
	}
}

// Every pipeline of an app has its own validator, built from one source:
// one asset, bundled once per synth however many stacks use it. A go on
// PATH that counts its builds stands in front of the real one (a build
// writes an empty bootstrap: the binary is not what this test is about),
// and an empty bundle cache makes the build happen.
func TestOneAssetForManyPipelines(t *testing.T) {
	realGo, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH")
	}
	bin, builds := t.TempDir(), filepath.Join(t.TempDir(), "builds")
	countingGo := fmt.Sprintf(`#!/bin/sh
[ "$1" = build ] || exec %q "$@"
echo build >>%q
while [ $# -gt 1 ]; do
  [ "$1" != -o ] || { : >"$2"; exit 0; }
  shift
done
echo "no -o in go build's arguments" >&2
exit 1
`, realGo, builds)
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte(countingGo), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("XDG_CACHE_HOME", t.TempDir())

	outdir := t.TempDir()
	context, err := cdktest.Context()
	if err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &context, Outdir: jsii.String(outdir), BuiltinCloudFormationValidation: jsii.Bool(false)})
	var stacks []awscdk.Stack
	for _, id := range []string{"Orders", "Payments", "Search"} {
		stack := awscdk.NewStack(app, jsii.String(id), nil)
		newValidator(stack, "")
		stacks = append(stacks, stack)
	}
	app.Synth(nil)

	keys := map[string]bool{}
	for _, stack := range stacks {
		_, tpl := cdktest.Template(stack)
		code := cdktest.Properties(t, tpl, "AWS::Lambda::Function")["Code"].(map[string]any)
		keys[fmt.Sprint(code["S3Key"])] = true
	}
	if len(keys) != 1 {
		t.Errorf("the validators of three stacks have %d asset keys %v, want one", len(keys), keys)
	}
	assets, _ := filepath.Glob(filepath.Join(outdir, "asset.*"))
	if len(assets) != 1 {
		t.Errorf("the assembly holds %d assets %v, want one", len(assets), assets)
	}
	data, err := os.ReadFile(builds)
	if n := strings.Count(string(data), "build\n"); err != nil || n != 1 {
		t.Errorf("go build ran %d times for three stacks (%v), want once", n, err)
	}
}

// The asset hash is the same in any checkout of the same sources, whatever
// its folder: two clones must synthesize the same templates
// (.ci/determinism). A copy of the module's Go files in a new folder gives
// the validator the same S3 key (bundling skipped there: the hash is CDK's,
// from the source hash and the bundling options, the local bundler
// included).
func TestAssetHashIgnoresTheCheckoutFolder(t *testing.T) {
	root, err := gomod.Root(".")
	if err != nil {
		t.Fatal(err)
	}
	clone := t.TempDir()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if _, err := os.Stat(filepath.Join(path, "go.mod")); rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || err == nil) {
				return filepath.SkipDir // hidden folders, npm's, other modules
			}
			return nil
		}
		if name := d.Name(); name != "go.mod" && name != "go.sum" && (!strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go")) {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(clone, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(clone, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	key := func(tpl map[string]any) string {
		return fmt.Sprint(cdktest.Properties(t, tpl, "AWS::Lambda::Function")["Code"].(map[string]any)["S3Key"])
	}
	// This checkout's is the fixture's: the asset hash is computed before
	// bundling, whether bundling runs or not.
	_, here := validatorFixture.Template(t)
	stack := cdktest.NewStack(t)
	newValidator(stack, clone)
	_, there := cdktest.Template(stack)
	if here, there := key(here), key(there); here != there {
		t.Errorf("the validator's asset is %s in this checkout and %s in a copy in %s: a path reaches the asset hash", here, there, clone)
	}
}

// TestPropsAreValidated: a prop the function cannot work with stops the
// synthesis with one line that names it.
func TestPropsAreValidated(t *testing.T) {
	stack := cdktest.NewStack(t)
	cases := []struct {
		name  string
		props validator.Props
		want  string
	}{
		{name: "no pipeline", props: validator.Props{FunctionName: "f"}, want: "PipelineName is required"},
		{name: "an unknown unscanned setting", props: validator.Props{FunctionName: "f", PipelineName: "p", UnscannedImages: "sometimes"},
			want: `UnscannedImages "sometimes" is not "reject" or "allow"`},
		{name: "no service", props: validator.Props{FunctionName: "f", PipelineName: "p"}, want: "Service is required"},
		{name: "no target", props: validator.Props{FunctionName: "f", PipelineName: "p", Service: "s"}, want: "Targets is required"},
		{name: "a target without its ECS service", props: validator.Props{FunctionName: "f", PipelineName: "p", Service: "s",
			Targets: []validator.Target{{Environment: "dev"}}}, want: `Targets[0] (environment "dev") has no Service`},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := func() (msg string) {
				defer func() {
					if p := recover(); p != nil {
						msg = fmt.Sprint(p)
					}
				}()
				validator.New(stack, fmt.Sprintf("Invalid%d", i), tc.props)
				return ""
			}()
			if !strings.Contains(got, tc.want) || strings.Contains(got, "\n") {
				t.Errorf("New() panicked with %q, want one line with %q", got, tc.want)
			}
		})
	}
}
