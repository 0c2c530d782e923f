package history_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/history"
	"cicd/internal/cdktest"
)

func TestMain(m *testing.M) { cdktest.Main(m) }

var fixture = cdktest.NewFixture("history", nil, func(stack awscdk.Stack) {
	key := awskms.NewKey(stack, jsii.String("Key"), nil)
	history.New(stack, "Dev", history.Props{TableName: "state-dev", Key: key})
	history.New(stack, "Prod", history.Props{TableName: "state-prod", Key: key, DeletionProtection: true})
})

func tables(t *testing.T) map[string]map[string]any {
	t.Helper()
	_, tpl := fixture.Template(t)
	out := map[string]map[string]any{}
	for _, table := range cdktest.Resources(tpl, "AWS::DynamoDB::Table") {
		out[table["Properties"].(map[string]any)["TableName"].(string)] = table
	}
	if len(out) != 2 {
		t.Fatalf("want two tables, found %d", len(out))
	}
	return out
}

func TestTableShape(t *testing.T) {
	for name, table := range tables(t) {
		props := table["Properties"].(map[string]any)
		if got := cdktest.JSON(props["KeySchema"]); got != `[{"AttributeName":"deploymentId","KeyType":"HASH"},{"AttributeName":"timestamp","KeyType":"RANGE"}]` {
			t.Errorf("%s: key schema %s", name, got)
		}
		if got := cdktest.JSON(props["AttributeDefinitions"]); got != `[{"AttributeName":"deploymentId","AttributeType":"S"},{"AttributeName":"timestamp","AttributeType":"N"}]` {
			t.Errorf("%s: attributes %s", name, got)
		}
		if props["BillingMode"] != "PAY_PER_REQUEST" {
			t.Errorf("%s: billing %v, want on-demand", name, props["BillingMode"])
		}
		if got := cdktest.JSON(props["PointInTimeRecoverySpecification"]); got != `{"PointInTimeRecoveryEnabled":true}` {
			t.Errorf("%s: point-in-time recovery %s", name, got)
		}
		if got := cdktest.JSON(props["SSESpecification"]); !strings.Contains(got, `"SSEEnabled":true,"SSEType":"KMS"`) || !strings.Contains(got, `"KMSMasterKeyId":{"Fn::GetAtt":["Key`) {
			t.Errorf("%s: encryption %s, want the stack's KMS key", name, got)
		}
		// Retained on delete and replacement; not when the first create rolls
		// back, where its fixed name would block the retry.
		if table["DeletionPolicy"] != "RetainExceptOnCreate" || table["UpdateReplacePolicy"] != "Retain" {
			t.Errorf("%s: DeletionPolicy %v, UpdateReplacePolicy %v, want RetainExceptOnCreate and Retain: the deployment history would be lost, or a failed first deploy would block the next",
				name, table["DeletionPolicy"], table["UpdateReplacePolicy"])
		}
	}
}

func TestDeletionProtectionOnlyWhereAsked(t *testing.T) {
	got := tables(t)
	if p := got["state-prod"]["Properties"].(map[string]any)["DeletionProtectionEnabled"]; p != true {
		t.Errorf("prod table deletion protection %v, want true", p)
	}
	if p := got["state-dev"]["Properties"].(map[string]any)["DeletionProtectionEnabled"]; p == true {
		t.Errorf("dev table deletion protection %v, want off", p)
	}
}
