// Package replication provides a pipeline's artifact store in a region other
// than its own: CodePipeline copies the artifacts of an action in that
// region there. It is the artifact bucket of the pipeline's region over
// again, with a key of its own, since a KMS key serves one region.
package replication

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/artifacts"
)

// Props configures the regional store.
type Props struct {
	// Alias of the regional key, with the alias/ prefix.
	Alias string
	// Description of the key.
	Description string
}

// Replication is the regional artifact bucket and its key.
type Replication struct {
	constructs.Construct
	// Bucket receives the artifacts; its encryption key is the alias, which
	// the pipeline's stack can name in another region.
	Bucket    awss3.Bucket
	Key       awskms.Key
	Alias     awskms.Alias
	Artifacts *artifacts.Artifacts
}

// New creates the key (rotation on, retained) and the bucket, versioned,
// private, TLS only, with access logs and expiring artifacts, as in the
// pipeline's own region.
func New(scope constructs.Construct, id string, props Props) *Replication {
	this := constructs.NewConstruct(scope, jsii.String(id))
	key := awskms.NewKey(this, jsii.String("Key"), &awskms.KeyProps{
		Description:       jsii.String(props.Description),
		EnableKeyRotation: jsii.Bool(true),
		PendingWindow:     awscdk.Duration_Days(jsii.Number(30)),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})
	alias := awskms.NewAlias(this, jsii.String("Alias"), &awskms.AliasProps{
		AliasName: jsii.String(props.Alias),
		TargetKey: key,
	})
	store := artifacts.New(this, "Artifacts", artifacts.Props{Key: alias, BucketName: awscdk.PhysicalName_GENERATE_IF_NEEDED()})
	return &Replication{Construct: this, Bucket: store.Bucket, Key: key, Alias: alias, Artifacts: store}
}
