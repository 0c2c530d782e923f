// Package artifacts provides the pipeline's artifact bucket and the bucket
// that receives its server access logs.
package artifacts

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Props configures the artifact store.
type Props struct {
	// Key encrypts the artifacts.
	Key awskms.IKey
	// Expiry of artifacts, current and noncurrent versions alike.
	// Default: 30 days.
	ExpiryDays int
	// AccessLogExpiryDays is how long server access logs are kept.
	// Default: 90 days.
	AccessLogExpiryDays int
	// BucketName of the artifact bucket, such as
	// awscdk.PhysicalName_GENERATE_IF_NEEDED() for a bucket another
	// environment's stack refers to.
	// Default: a name CloudFormation generates.
	BucketName *string
}

// Artifacts is the artifact bucket and its access log bucket.
type Artifacts struct {
	constructs.Construct
	Bucket     awss3.Bucket
	AccessLogs awss3.Bucket
}

// New creates the buckets: versioned, KMS-encrypted, private, TLS only, with
// artifacts expiring so the bucket does not grow without bound.
func New(scope constructs.Construct, id string, props Props) *Artifacts {
	this := constructs.NewConstruct(scope, jsii.String(id))
	// The log bucket grants S3's logging service by bucket policy, which
	// its enforced object ownership requires, not by ACL: whatever the
	// app's feature flags, an app that imports the construct included.
	this.Node().SetContext(jsii.String("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"), true)
	expiry := days(props.ExpiryDays, 30)
	logExpiry := days(props.AccessLogExpiryDays, 90)

	// S3 server access logging only delivers to buckets encrypted with
	// S3-managed keys, so the log bucket cannot use the KMS key.
	logs := awss3.NewBucket(this, jsii.String("AccessLogs"), &awss3.BucketProps{
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		Versioned:         jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("ExpireAccessLogs"),
			Expiration:                          logExpiry,
			NoncurrentVersionExpiration:         logExpiry,
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}},
	})

	bucket := awss3.NewBucket(this, jsii.String("Bucket"), &awss3.BucketProps{
		BucketName:             props.BucketName,
		Encryption:             awss3.BucketEncryption_KMS,
		EncryptionKey:          props.Key,
		BucketKeyEnabled:       jsii.Bool(true),
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:             jsii.Bool(true),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		Versioned:              jsii.Bool(true),
		RemovalPolicy:          awscdk.RemovalPolicy_RETAIN,
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String("artifacts/"),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("ExpireArtifacts"),
			Expiration:                          expiry,
			NoncurrentVersionExpiration:         expiry,
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}},
	})
	return &Artifacts{Construct: this, Bucket: bucket, AccessLogs: logs}
}

func days(n, fallback int) awscdk.Duration {
	if n <= 0 {
		n = fallback
	}
	return awscdk.Duration_Days(jsii.Number(n))
}
