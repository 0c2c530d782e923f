package registry_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/registry"
	"cicd/internal/cdktest"
)

func TestMain(m *testing.M) { cdktest.Main(m) }

var fixture = cdktest.NewFixture("registry", nil, func(stack awscdk.Stack) {
	key := awskms.NewKey(stack, jsii.String("Key"), nil)
	r := registry.New(stack, "Registry", registry.Props{RepositoryName: "cicd-pipeline-test", Key: key,
		Environments: []string{"dev", "dev-eu", "prod"}})
	grantees(stack, r.Repository)
})

func TestRepository(t *testing.T) {
	_, tpl := fixture.Template(t)
	repos := cdktest.Resources(tpl, "AWS::ECR::Repository")
	if len(repos) != 1 {
		t.Fatalf("want one repository, found %d", len(repos))
	}
	for id, repo := range repos {
		props := repo["Properties"].(map[string]any)
		if props["RepositoryName"] != "cicd-pipeline-test" {
			t.Errorf("name %v", props["RepositoryName"])
		}
		if got, _ := json.Marshal(props["ImageScanningConfiguration"]); string(got) != `{"ScanOnPush":true}` {
			t.Errorf("scanning %s: the gate needs a scan of every pushed image", got)
		}
		if props["ImageTagMutability"] != "IMMUTABLE" {
			t.Errorf("tag mutability %v: a tag must name one image forever", props["ImageTagMutability"])
		}
		if got, _ := json.Marshal(props["EncryptionConfiguration"]); !strings.Contains(string(got), `"EncryptionType":"KMS","KmsKey":{"Fn::GetAtt":["Key`) {
			t.Errorf("encryption %s, want the stack's KMS key", got)
		}
		if repo["DeletionPolicy"] != "RetainExceptOnCreate" || repo["UpdateReplacePolicy"] != "Retain" {
			t.Errorf("%s: DeletionPolicy %v, UpdateReplacePolicy %v, want RetainExceptOnCreate and Retain", id, repo["DeletionPolicy"], repo["UpdateReplacePolicy"])
		}
		text := props["LifecyclePolicy"].(map[string]any)["LifecyclePolicyText"].(string)
		if got := lifecycleRules(t, text); !slices.Equal(got, wantRules) {
			t.Errorf("lifecycle rules, in priority order:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantRules, "\n"))
		}
	}
}

// wantRules: the images deployed to each environment are kept, the last
// environment's first (ECR decides an image by the first rule whose tags it
// matches, and prod's image also carries dev's older tag), then the last 10
// of any tag. The prefixes end with a dot, so dev's does not take dev-eu's.
var wantRules = []string{
	"1 tagged [deployed-prod.] imageCountMoreThan 2 expire",
	"2 tagged [deployed-dev-eu.] imageCountMoreThan 2 expire",
	"3 tagged [deployed-dev.] imageCountMoreThan 2 expire",
	"4 any [] imageCountMoreThan 10 expire",
}

// lifecycleRules renders a lifecycle policy's rules in priority order, one
// line each: priority, tag status, prefixes, count, action.
func lifecycleRules(t *testing.T, text string) []string {
	t.Helper()
	var policy struct {
		Rules []struct {
			RulePriority int `json:"rulePriority"`
			Selection    struct {
				TagStatus     string   `json:"tagStatus"`
				TagPrefixList []string `json:"tagPrefixList"`
				CountType     string   `json:"countType"`
				CountNumber   int      `json:"countNumber"`
			} `json:"selection"`
			Action struct {
				Type string `json:"type"`
			} `json:"action"`
		} `json:"rules"`
	}
	if err := json.Unmarshal([]byte(text), &policy); err != nil {
		t.Fatalf("lifecycle policy %q: %v", text, err)
	}
	sort.Slice(policy.Rules, func(i, j int) bool { return policy.Rules[i].RulePriority < policy.Rules[j].RulePriority })
	var out []string
	for _, r := range policy.Rules {
		out = append(out, fmt.Sprintf("%d %s %v %s %d %s", r.RulePriority, r.Selection.TagStatus, r.Selection.TagPrefixList,
			r.Selection.CountType, r.Selection.CountNumber, r.Action.Type))
	}
	return out
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
