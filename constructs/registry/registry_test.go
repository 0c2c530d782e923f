package registry_test

import (
	"encoding/json"
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
	registry.New(stack, "Registry", registry.Props{RepositoryName: "cicd-pipeline-test", Key: key})
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
		var policy struct {
			Rules []struct {
				Selection struct {
					TagStatus   string `json:"tagStatus"`
					CountType   string `json:"countType"`
					CountNumber int    `json:"countNumber"`
				} `json:"selection"`
				Action struct {
					Type string `json:"type"`
				} `json:"action"`
			} `json:"rules"`
		}
		text := props["LifecyclePolicy"].(map[string]any)["LifecyclePolicyText"].(string)
		if err := json.Unmarshal([]byte(text), &policy); err != nil {
			t.Fatalf("lifecycle policy %q: %v", text, err)
		}
		if len(policy.Rules) != 1 {
			t.Fatalf("lifecycle policy %s, want one rule", text)
		}
		sel := policy.Rules[0].Selection
		if sel.TagStatus != "any" || sel.CountType != "imageCountMoreThan" || sel.CountNumber != 10 || policy.Rules[0].Action.Type != "expire" {
			t.Errorf("lifecycle rule %s, want: expire any image beyond the last 10", text)
		}
	}
}
