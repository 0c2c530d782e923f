package constructs_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/history"
	"cicd/internal/cdktest"
	"cicd/internal/delivery"
)

var historyFixture = cdktest.NewFixture("history", nil, func(stack awscdk.Stack) {
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
	_, tpl := historyFixture.Template(t)
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
	tpl, _ := historyFixture.Template(t)
	// The query on the index and the key's decryption, nothing more.
	if !cdktest.HasResourceProperties(t, tpl, "AWS::IAM::Policy", map[string]any{
		"Roles": []any{map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^Reader"))}},
		"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{"Statement": []any{
			assertions.Match_ObjectLike(&map[string]any{"Action": "kms:Decrypt", "Effect": "Allow", "Condition": assertions.Match_Absent(),
				"Resource": map[string]any{"Fn::GetAtt": []any{assertions.Match_StringLikeRegexp(jsii.String("^Key")), "Arn"}}}),
			assertions.Match_ObjectLike(&map[string]any{"Action": "dynamodb:Query", "Effect": "Allow", "Condition": assertions.Match_Absent(),
				"Resource": map[string]any{"Fn::Join": []any{"", []any{
					map[string]any{"Fn::GetAtt": []any{assertions.Match_StringLikeRegexp(jsii.String("^DevTable")), "Arn"}},
					"/index/environment-timestamp",
				}}}}),
		}}),
	}) {
		t.Error("the reader's policy must be the query on the environment index and the key's decryption only")
	}
}

// TestTableGrantsStayOnTheTable: the index does not widen CDK's grants on
// the table to "<table>/index/*" (a wildcard, and nothing the writers need).
func TestTableGrantsStayOnTheTable(t *testing.T) {
	if got := policy(t, "Writer"); strings.Contains(got, "/index/") {
		t.Errorf("a grant on the table reaches its indexes:\n%s", got)
	}
}

func TestTableShape(t *testing.T) {
	tpl, _ := historyFixture.Template(t)
	cdktest.ResourceCountIs(t, tpl, "AWS::DynamoDB::Table", 2)
	// The environment index adds its key attribute; the table's own key
	// schema must never change (that would replace the table).
	if !cdktest.AllResourcesProperties(t, tpl, "AWS::DynamoDB::Table", map[string]any{
		"KeySchema": assertions.Match_Exact(&[]any{
			map[string]any{"AttributeName": "deploymentId", "KeyType": "HASH"},
			map[string]any{"AttributeName": "timestamp", "KeyType": "RANGE"},
		}),
		"AttributeDefinitions": assertions.Match_Exact(&[]any{
			map[string]any{"AttributeName": "deploymentId", "AttributeType": "S"},
			map[string]any{"AttributeName": "timestamp", "AttributeType": "N"},
			map[string]any{"AttributeName": "environment", "AttributeType": "S"},
		}),
		"GlobalSecondaryIndexes": assertions.Match_Exact(&[]any{map[string]any{
			"IndexName": "environment-timestamp",
			"KeySchema": []any{
				map[string]any{"AttributeName": "environment", "KeyType": "HASH"},
				map[string]any{"AttributeName": "timestamp", "KeyType": "RANGE"},
			},
			"Projection": map[string]any{"ProjectionType": "ALL"},
		}}),
	}) {
		t.Error("want the key (deploymentId, timestamp) and the environment index (environment, timestamp) with all attributes")
	}
	cdktest.AllResourcesProperties(t, tpl, "AWS::DynamoDB::Table", map[string]any{
		"BillingMode":                      "PAY_PER_REQUEST",
		"PointInTimeRecoverySpecification": assertions.Match_Exact(&map[string]any{"PointInTimeRecoveryEnabled": true}),
		"SSESpecification": assertions.Match_ObjectLike(&map[string]any{
			"SSEEnabled":     true,
			"SSEType":        "KMS",
			"KMSMasterKeyId": map[string]any{"Fn::GetAtt": []any{assertions.Match_StringLikeRegexp(jsii.String("^Key")), "Arn"}},
		}),
	})
	// Retained on delete and replacement; not when the first create rolls
	// back, where its fixed name would block the retry.
	cdktest.Retained(t, tpl, "AWS::DynamoDB::Table", "RetainExceptOnCreate",
		"the deployment history would be lost, or a failed first deploy would block the next")
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
	tpl, _ := historyFixture.Template(t)
	cdktest.HasResourceProperties(t, tpl, "AWS::DynamoDB::Table", map[string]any{"TableName": "state-prod", "DeletionProtectionEnabled": true})
	cdktest.HasResourceProperties(t, tpl, "AWS::DynamoDB::Table", map[string]any{"TableName": "state-dev"})
	cdktest.ResourcePropertiesCountIs(t, tpl, "AWS::DynamoDB::Table", map[string]any{"TableName": "state-dev", "DeletionProtectionEnabled": true}, 0)
}
