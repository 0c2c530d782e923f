// Package history provides the DynamoDB table that records every gate and
// verify outcome of the pipeline, one appended item per outcome.
package history

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"cicd/internal/delivery"
)

// Key attribute names: part of the contract with the validator and with the
// people who query the table.
const (
	PartitionKey = "deploymentId"
	SortKey      = "timestamp"
)

// EnvironmentIndex is the global secondary index that lists one
// environment's outcomes in time order: partition key IndexPartitionKey (S),
// sort key SortKey (N), every attribute projected. The history command and
// the validator's streak lookup query it; nothing scans the table.
const (
	EnvironmentIndex  = delivery.EnvironmentIndex
	IndexPartitionKey = delivery.AttrEnvironment
)

// Props configures the state table.
type Props struct {
	// TableName is the DynamoDB table name.
	TableName string
	// Key encrypts the table.
	Key awskms.IKey
	// DeletionProtection blocks deleting the table, even by hand.
	// Default: false.
	DeletionProtection bool
}

// History is the deployment state table.
type History struct {
	constructs.Construct
	Table awsdynamodb.Table
}

// addEnvironmentIndex adds EnvironmentIndex to the table's CloudFormation
// resource. An index is added in place: the table keeps its logical ID and
// key schema, so CloudFormation updates it without replacing it (and its
// data). It is added there rather than with the L2's
// AddGlobalSecondaryIndex, which would widen every grant on the table to
// "<table>/index/*": the index's readers get it by name (GrantQueryIndex).
func addEnvironmentIndex(table awsdynamodb.Table) {
	cfn := table.Node().DefaultChild().(awsdynamodb.CfnTable)
	// The table's own key attributes are the first two definitions.
	cfn.AddPropertyOverride(jsii.String("AttributeDefinitions.2"), map[string]any{
		"AttributeName": IndexPartitionKey, "AttributeType": "S",
	})
	cfn.SetGlobalSecondaryIndexes([]any{&awsdynamodb.CfnTable_GlobalSecondaryIndexProperty{
		IndexName: jsii.String(EnvironmentIndex),
		KeySchema: []any{
			&awsdynamodb.CfnTable_KeySchemaProperty{AttributeName: jsii.String(IndexPartitionKey), KeyType: jsii.String("HASH")},
			&awsdynamodb.CfnTable_KeySchemaProperty{AttributeName: jsii.String(SortKey), KeyType: jsii.String("RANGE")},
		},
		Projection: &awsdynamodb.CfnTable_ProjectionProperty{ProjectionType: jsii.String("ALL")},
	}})
}

// IndexArn is the ARN of EnvironmentIndex.
func (h *History) IndexArn() *string {
	return jsii.String(*h.Table.TableArn() + "/index/" + EnvironmentIndex)
}

// GrantQueryIndex lets grantee query EnvironmentIndex, and nothing else of
// the table: dynamodb:Query on the index's ARN, and decryption with the
// table's key.
func (h *History) GrantQueryIndex(grantee awsiam.IGrantable) awsiam.Grant {
	if key := h.Table.EncryptionKey(); key != nil {
		key.Grant(grantee, jsii.String("kms:Decrypt"))
	}
	return awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("dynamodb:Query"),
		ResourceArns: &[]*string{h.IndexArn()},
	})
}

// GrantAppend lets grantee append outcomes to table, the contract of an
// audit trail: dynamodb:PutItem to write an item, dynamodb:GetItem to
// recognise its own item after a retried write, and nothing that updates or
// deletes one. (IAM cannot tell a new item from a replaced one: the writer
// puts with attribute_not_exists on the key, see lambda/validator.)
// With a customer-managed key it also grants the key's kms:Decrypt and
// kms:GenerateDataKey*, which reading and writing the encrypted items take.
func GrantAppend(table awsdynamodb.ITable, grantee awsiam.IGrantable) awsiam.Grant {
	grant := table.Grant(grantee, jsii.String("dynamodb:PutItem"), jsii.String("dynamodb:GetItem"))
	if key := table.EncryptionKey(); key != nil {
		key.Grant(grantee, jsii.String("kms:Decrypt"), jsii.String("kms:GenerateDataKey*"))
	}
	return grant
}

// New creates the table: on-demand, point-in-time recovery, encrypted with the
// key and retained when the stack is deleted or the table replaced, since it
// is the audit trail. When the stack's first create rolls back the table is
// removed: it holds nothing yet, and its fixed name would block the retry.
func New(scope constructs.Construct, id string, props Props) *History {
	this := constructs.NewConstruct(scope, jsii.String(id))
	table := awsdynamodb.NewTable(this, jsii.String("Table"), &awsdynamodb.TableProps{
		TableName:    jsii.String(props.TableName),
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(PartitionKey), Type: awsdynamodb.AttributeType_STRING},
		SortKey:      &awsdynamodb.Attribute{Name: jsii.String(SortKey), Type: awsdynamodb.AttributeType_NUMBER},
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		Encryption:         awsdynamodb.TableEncryption_CUSTOMER_MANAGED,
		EncryptionKey:      props.Key,
		DeletionProtection: jsii.Bool(props.DeletionProtection),
		RemovalPolicy:      awscdk.RemovalPolicy_RETAIN_ON_UPDATE_OR_DELETE,
	})
	addEnvironmentIndex(table)
	return &History{Construct: this, Table: table}
}
