// Package replication provides a pipeline's artifact store in a region other
// than its own: CodePipeline copies the artifacts of an action in that
// region there. It is the artifact bucket of the pipeline's region over
// again, with a key of its own, since a KMS key serves one region.
package replication

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/artifacts"
	"cicd/constructs/encryption"
)

// Props configures the regional store.
type Props struct {
	// Alias of the regional key, with the alias/ prefix: the pipeline's
	// stack names the key by it, in another region.
	Alias string
	// Description of the key.
	Description string
}

// Replication is the regional artifact bucket and its key.
type Replication struct {
	constructs.Construct
	Encryption *encryption.Encryption
	Artifacts  *artifacts.Artifacts
}

// New creates the key (rotation on, retained, grants for AWS services only)
// and the bucket: versioned, private, TLS only, with access logs and
// expiring artifacts, as in the pipeline's own region.
func New(scope constructs.Construct, id string, props Props) *Replication {
	this := constructs.NewConstruct(scope, jsii.String(id))
	enc := encryption.New(this, "Encryption", encryption.Props{Alias: props.Alias, Description: props.Description})
	store := artifacts.New(this, "Artifacts", artifacts.Props{
		Key: enc.Key,
		// The pipeline's stack, in another region, names the bucket.
		BucketName: awscdk.PhysicalName_GENERATE_IF_NEEDED(),
	})
	return &Replication{Construct: this, Encryption: enc, Artifacts: store}
}

// Bucket is the store as the pipeline's stack sees it: the bucket by its
// name, encrypted with the key by its alias, since the key's ARN is not known
// in another region. Grants on it give a principal the keys that carry the
// alias (kms:ResourceAliases), never every key.
func (r *Replication) Bucket() awss3.IBucket {
	return awss3.Bucket_FromBucketAttributes(r.Construct, jsii.String("ForPipeline"), &awss3.BucketAttributes{
		BucketName:    r.Artifacts.Bucket.BucketName(),
		Region:        awscdk.Stack_Of(r.Construct).Region(),
		EncryptionKey: awskms.Alias_FromAliasName(r.Construct, jsii.String("KeyForPipeline"), r.Encryption.Alias.AliasName()),
	})
}

// AllowRead lets role, of another account, read the artifacts: the bucket's
// and the key's policies name it. (Its own policy must allow the same.)
func (r *Replication) AllowRead(role awsiam.IRole) {
	principal := awsiam.NewArnPrincipal(role.RoleArn())
	bucket := r.Artifacts.Bucket
	bucket.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Principals: &[]awsiam.IPrincipal{principal},
		Actions:    jsii.Strings("s3:GetBucket*", "s3:GetObject*", "s3:List*"),
		Resources:  &[]*string{bucket.BucketArn(), bucket.ArnForObjects(jsii.String("*"))},
	}))
	r.Encryption.Key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Principals: &[]awsiam.IPrincipal{principal},
		Actions:    jsii.Strings("kms:Decrypt", "kms:DescribeKey"),
		Resources:  jsii.Strings("*"),
	}), jsii.Bool(false))
}
