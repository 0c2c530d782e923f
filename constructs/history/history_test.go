package history_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/history"
	"cicd/internal/cdktest"
	"cicd/internal/delivery"
)

func TestMain(m *testing.M) { cdktest.Main(m) }

var fixture = cdktest.NewFixture("history", nil, func(stack awscdk.Stack) {
	key := awskms.NewKey(stack, jsii.String("Key"), nil)
	dev := history.New(stack, "Dev", history.Props{TableName: "state-dev", Key: key})
	history.New(stack, "Prod", history.Props{TableName: "state-prod", Key: key, DeletionProtection: true})
	role := func(id string) awsiam.Role {
		return awsiam.NewRole(stack, jsii.String(id), &awsiam.RoleProps{
			AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		})
	}
	dev.GrantQueryIndex(role("Reader"))
	dev.Table.Grant(role("Writer"), jsii.String("dynamodb:PutItem"))
	history.GrantAppend(dev.Table, role("Appender"))
})

// policy returns the statements of the default policy of the role whose
// logical ID begins with prefix.
func policy(t *testing.T, prefix string) string {
	t.Helper()
	_, tpl := fixture.Template(t)
	for _, p := range cdktest.Resources(tpl, "AWS::IAM::Policy") {
		props := p["Properties"].(map[string]any)
		if strings.HasPrefix(cdktest.JSON(props["Roles"]), `[{"Ref":"`+prefix) {
			return cdktest.JSON(props["PolicyDocument"].(map[string]any)["Statement"])
		}
	}
	t.Fatalf("no policy for role %s", prefix)
	return ""
}

func TestGrantQueryIndexIsTheIndexOnly(t *testing.T) {
	got := policy(t, "Reader")
	for _, want := range []string{
		`{"Action":"dynamodb:Query","Effect":"Allow","Resource":{"Fn::Join":["",[{"Fn::GetAtt":["DevTable`,
		`"Arn"]},"/index/environment-timestamp"]]}}`,
		`{"Action":"kms:Decrypt","Effect":"Allow","Resource":{"Fn::GetAtt":["Key`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("reader's policy lacks %s:\n%s", want, got)
		}
	}
	if strings.Count(got, `"Action"`) != 2 {
		t.Errorf("reader's policy has more than the query on the index and the key's decryption:\n%s", got)
	}
}

// TestTableGrantsStayOnTheTable: the index does not widen CDK's grants on
// the table to "<table>/index/*" (a wildcard, and nothing the writers need).
func TestTableGrantsStayOnTheTable(t *testing.T) {
	if got := policy(t, "Writer"); strings.Contains(got, "/index/") {
		t.Errorf("a grant on the table reaches its indexes:\n%s", got)
	}
}

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
		// The environment index adds its key attribute; the table's own key
		// schema above must never change (that would replace the table).
		if got := cdktest.JSON(props["AttributeDefinitions"]); got != `[{"AttributeName":"deploymentId","AttributeType":"S"},{"AttributeName":"timestamp","AttributeType":"N"},{"AttributeName":"environment","AttributeType":"S"}]` {
			t.Errorf("%s: attributes %s", name, got)
		}
		if got := cdktest.JSON(props["GlobalSecondaryIndexes"]); got != `[{"IndexName":"environment-timestamp","KeySchema":[{"AttributeName":"environment","KeyType":"HASH"},{"AttributeName":"timestamp","KeyType":"RANGE"}],"Projection":{"ProjectionType":"ALL"}}]` {
			t.Errorf("%s: secondary indexes %s, want the environment index (environment, timestamp), all attributes", name, got)
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

// TestIndexIsTheDeliveryContract: the names the validator and the history
// command use are the ones the table is made with.
func TestIndexIsTheDeliveryContract(t *testing.T) {
	if history.EnvironmentIndex != delivery.EnvironmentIndex || history.IndexPartitionKey != delivery.AttrEnvironment ||
		history.PartitionKey != delivery.AttrDeploymentID || history.SortKey != delivery.AttrTimestamp {
		t.Errorf("table keys %s/%s, index %s on %s; the delivery contract says %s/%s, index %s on %s",
			history.PartitionKey, history.SortKey, history.EnvironmentIndex, history.IndexPartitionKey,
			delivery.AttrDeploymentID, delivery.AttrTimestamp, delivery.EnvironmentIndex, delivery.AttrEnvironment)
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
