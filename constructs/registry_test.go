package constructs_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/registry"
	"cicd/internal/cdktest"
)

var registryFixture = cdktest.NewFixture("registry", nil, func(stack awscdk.Stack) {
	key := awskms.NewKey(stack, jsii.String("Key"), nil)
	r := registry.New(stack, "Registry", registry.Props{RepositoryName: "cicd-pipeline-test", Key: key,
		Environments: []string{"dev", "dev-eu", "prod"}})
	grantees(stack, r.Repository)
})

func TestRepository(t *testing.T) {
	tpl, _ := registryFixture.Template(t)
	cdktest.ResourceCountIs(t, tpl, "AWS::ECR::Repository", 1)
	const typ = "AWS::ECR::Repository"
	cdktest.HasResourceProperties(t, tpl, typ, map[string]any{"RepositoryName": "cicd-pipeline-test"})
	if !cdktest.HasResourceProperties(t, tpl, typ, map[string]any{
		"ImageScanningConfiguration": assertions.Match_Exact(&map[string]any{"ScanOnPush": true}),
	}) {
		t.Error("the gate needs a scan of every pushed image")
	}
	if !cdktest.HasResourceProperties(t, tpl, typ, map[string]any{"ImageTagMutability": "IMMUTABLE"}) {
		t.Error("a tag must name one image forever")
	}
	if !cdktest.HasResourceProperties(t, tpl, typ, map[string]any{
		"EncryptionConfiguration": assertions.Match_ObjectLike(&map[string]any{
			"EncryptionType": "KMS",
			"KmsKey":         map[string]any{"Fn::GetAtt": []any{assertions.Match_StringLikeRegexp(jsii.String("^Key")), "Arn"}},
		}),
	}) {
		t.Error("want the images encrypted with the stack's KMS key")
	}
	cdktest.Retained(t, tpl, typ, "RetainExceptOnCreate", "the images would be lost, or a failed first deploy would block the next")
	if !cdktest.HasResourceProperties(t, tpl, typ, map[string]any{
		"LifecyclePolicy": map[string]any{"LifecyclePolicyText": assertions.Match_SerializedJson(
			assertions.Match_ObjectLike(&map[string]any{"rules": wantRules}))},
	}) {
		t.Error("want the lifecycle rules in priority order: the images deployed to prod, dev-eu and dev kept, then the last 10 of any tag")
	}
}

// wantRules: the images deployed to each environment are kept, the last
// environment's first (ECR decides an image by the first rule whose tags it
// matches, and prod's image also carries dev's older tag), then the last 10
// of any tag. The prefixes end with a dot, so dev's does not take dev-eu's.
var wantRules = []any{
	deployedRule(1, "prod"),
	deployedRule(2, "dev-eu"),
	deployedRule(3, "dev"),
	assertions.Match_ObjectLike(&map[string]any{
		"rulePriority": 4,
		"selection": assertions.Match_ObjectLike(&map[string]any{
			"tagStatus": "any", "tagPrefixList": assertions.Match_Absent(), "countType": "imageCountMoreThan", "countNumber": 10,
		}),
		"action": assertions.Match_ObjectLike(&map[string]any{"type": "expire"}),
	}),
}

// deployedRule keeps the last two images deployed to env.
func deployedRule(priority int, env string) any {
	return assertions.Match_ObjectLike(&map[string]any{
		"rulePriority": priority,
		"selection": assertions.Match_ObjectLike(&map[string]any{
			"tagStatus": "tagged", "tagPrefixList": []any{"deployed-" + env + "."}, "countType": "imageCountMoreThan", "countNumber": 2,
		}),
		"action": assertions.Match_ObjectLike(&map[string]any{"type": "expire"}),
	})
}

func TestDeployedTagPrefix(t *testing.T) {
	if got := registry.DeployedTagPrefix("staging"); got != "deployed-staging." {
		t.Errorf("DeployedTagPrefix(staging) = %q", got)
	}
}

// TestEnvironmentsAreValidated: an environment that cannot name a tag, or
// one listed twice (ECR refuses two rules with one prefix), stops the
// synthesis with one line.
func TestEnvironmentsAreValidated(t *testing.T) {
	stack := cdktest.NewStack(t)
	for i, tc := range []struct {
		envs []string
		want string
	}{
		{[]string{"Prod"}, `environment "Prod" is not lowercase letters, digits and hyphens`},
		{[]string{"dev."}, `environment "dev." is not`},
		{[]string{"dev", "prod", "dev"}, `environment "dev" is listed twice`},
	} {
		got := func() (msg string) {
			defer func() {
				if p := recover(); p != nil {
					msg = fmt.Sprint(p)
				}
			}()
			registry.New(stack, fmt.Sprintf("Invalid%d", i), registry.Props{RepositoryName: "r", Environments: tc.envs})
			return ""
		}()
		if !strings.Contains(got, tc.want) || strings.Contains(got, "\n") {
			t.Errorf("Environments %q: New() panicked with %q, want one line with %q", tc.envs, got, tc.want)
		}
	}
}
