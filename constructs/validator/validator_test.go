package validator_test

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecr"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/validator"
	"cicd/internal/cdktest"
)

func TestMain(m *testing.M) { cdktest.Main(m) }

const stagingRole = "arn:aws:iam::222222222222:role/cicd-orders-verify"

// The fixture bundles the asset: it is the one synthesis in the tests that
// builds the Lambda, so it proves what is deployed.
var fixture = cdktest.NewFixture("validator", nil, func(stack awscdk.Stack) {
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
		Targets: []validator.Target{
			{Environment: "test", Service: service("Test", "", "", "production-cluster/web")},
			{Environment: "prod", Service: service("Prod", "", "eu-west-1", "apps-prod/orders"), ContainerName: "web"},
			{Environment: "staging", Service: service("Staging", "222222222222", "us-east-1", "apps/orders"),
				Role: awsiam.Role_FromRoleArn(stack, jsii.String("StagingRole"), jsii.String(stagingRole), nil)},
		},
	})
}).Bundled()

func TestFunction(t *testing.T) {
	_, tpl := fixture.Template(t)
	fn := cdktest.Properties(t, tpl, "AWS::Lambda::Function")
	if fn["Runtime"] != "provided.al2023" || cdktest.JSON(fn["Architectures"]) != `["arm64"]` || fn["Handler"] != "bootstrap" {
		t.Errorf("function runs %v on %v with handler %v, want provided.al2023 on arm64, bootstrap", fn["Runtime"], fn["Architectures"], fn["Handler"])
	}
	env := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
	want := map[string]string{
		"STATE_TABLE":           `{"Ref":"Table`,
		"ECR_REPOSITORY":        `{"Ref":"Repository`,
		"ECR_REPOSITORY_URI":    `{"Fn::Join":`,
		"SNS_TOPIC_ARN":         `{"Ref":"Topic`,
		"SCAN_FAIL_SEVERITY":    `"CRITICAL"`,
		"SCAN_MAX_WAIT_SECONDS": `"900"`,
		"ECS_CLUSTER":           `"production-cluster"`,
		"ECS_SERVICE":           `"web"`,
		"CONTAINER_NAME":        `"app"`,
		"ENVIRONMENT":           `"test"`,
		"PIPELINE_NAME":         `"pipeline-test"`,
		"SERVICE":               `"orders"`,
		"UNSCANNED_IMAGES":      `"reject"`,
	}
	for name, prefix := range want {
		if got := cdktest.JSON(env[name]); !strings.HasPrefix(got, prefix) {
			t.Errorf("environment %s = %s, want %s...", name, got, prefix)
		}
	}
	for name := range env {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected environment variable %s", name)
		}
	}
	if got := cdktest.JSON(fn["LoggingConfig"]); !strings.Contains(got, `"LogGroup":{"Ref":"ValidatorLogGroup`) {
		t.Errorf("logging config %s, want the function's own log group", got)
	}
}

func TestLogGroup(t *testing.T) {
	_, tpl := fixture.Template(t)
	lg := cdktest.Properties(t, tpl, "AWS::Logs::LogGroup")
	if lg["LogGroupName"] != "/aws/lambda/validator-test" || lg["RetentionInDays"] != 7.0 {
		t.Errorf("log group %v kept %v days, want /aws/lambda/validator-test for 7", lg["LogGroupName"], lg["RetentionInDays"])
	}
	if got := cdktest.JSON(lg["KmsKeyId"]); !strings.Contains(got, `"Fn::GetAtt":["Key`) {
		t.Errorf("log group key %s, want the stack's KMS key", got)
	}
}

// TestGrantsAreScoped checks each statement of the role's policy names our
// resources; the two exceptions are explained where they are made.
func TestGrantsAreScoped(t *testing.T) {
	_, tpl := fixture.Template(t)
	doc := cdktest.Properties(t, tpl, "AWS::IAM::Policy")["PolicyDocument"].(map[string]any)
	got := map[string]string{}
	for _, s := range doc["Statement"].([]any) {
		st := s.(map[string]any)
		got[cdktest.JSON(st["Action"])] = cdktest.JSON(st["Resource"])
	}
	want := map[string]string{
		`["ecr:BatchGetImage","ecr:DescribeImageScanFindings","ecr:DescribeImages","ecr:PutImage"]`: `{"Fn::GetAtt":["Repository`,
		`["dynamodb:GetItem","dynamodb:PutItem"]`:                                                   `{"Fn::GetAtt":["Table`,
		`["kms:Decrypt","kms:GenerateDataKey*"]`:                                                    `{"Fn::GetAtt":["Key`,
		`"sns:Publish"`:                                                                             `{"Ref":"Topic`,
		// The same-account services, in this region and in eu-west-1; the
		// staging service only through its role.
		`"ecs:DescribeServices"`: `[{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":ecs:",{"Ref":"AWS::Region"},":",{"Ref":"AWS::AccountId"},":service/production-cluster/web"]]},` +
			`{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":ecs:eu-west-1:",{"Ref":"AWS::AccountId"},":service/apps-prod/orders"]]}]`,
		`"sts:AssumeRole"`: `"` + stagingRole + `"`,
		// Lambda writes the function's logs with the role, to its own group only.
		`["logs:CreateLogStream","logs:PutLogEvents"]`: `[{"Fn::GetAtt":["ValidatorLogGroup`,
		// DescribeTaskDefinition and GetJobDetails do not support resource-level permissions.
		`["codepipeline:GetJobDetails","ecs:DescribeTaskDefinition"]`: `"*"`,
	}
	for actions, resource := range want {
		if !strings.HasPrefix(got[actions], resource) {
			t.Errorf("%s on %s, want %s", actions, got[actions], resource)
		}
	}
	for actions := range got {
		if _, ok := want[actions]; !ok {
			t.Errorf("unexpected grant %s on %s", actions, got[actions])
		}
	}
}

func TestBundledAssetIsALinuxArm64Bootstrap(t *testing.T) {
	_, tpl := fixture.Template(t)
	code := cdktest.Properties(t, tpl, "AWS::Lambda::Function")["Code"].(map[string]any)
	key, _ := code["S3Key"].(string)
	hash := strings.TrimSuffix(key, ".zip")
	if hash == key || hash == "" {
		t.Fatalf("function code %s is not a bundled asset", cdktest.JSON(code))
	}
	dir := filepath.Join(fixture.Outdir(), "asset."+hash)
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
	path := filepath.Join(dir, "bootstrap")
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
