// Package history provides the DynamoDB table that records every gate and
// verify outcome of the pipeline, one appended item per outcome.
package history

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Key attribute names: part of the contract with the validator and with the
// people who query the table.
const (
	PartitionKey = "deploymentId"
	SortKey      = "timestamp"
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
	return &History{Construct: this, Table: table}
}
