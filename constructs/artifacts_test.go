package constructs_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/artifacts"
	"cicd/internal/cdktest"
)

var artifactsFixture = cdktest.NewFixture("artifacts", nil, func(stack awscdk.Stack) {
	key := awskms.NewKey(stack, jsii.String("Key"), nil)
	artifacts.New(stack, "Artifacts", artifacts.Props{Key: key})
})

// buckets returns the artifact bucket and the access-log bucket.
func buckets(t *testing.T) (artifact, logs map[string]any, logsID string) {
	t.Helper()
	_, tpl := artifactsFixture.Template(t)
	for id, b := range cdktest.Resources(tpl, "AWS::S3::Bucket") {
		if strings.Contains(id, "AccessLogs") {
			logs, logsID = b, id
		} else {
			artifact = b
		}
	}
	if artifact == nil || logs == nil {
		t.Fatal("want an artifact bucket and an access-log bucket")
	}
	return artifact, logs, logsID
}

func TestArtifactBucketIsEncryptedWithTheKey(t *testing.T) {
	b, _, _ := buckets(t)
	cdktest.Matches(t, "artifact bucket encryption", b["Properties"], assertions.Match_ObjectLike(&map[string]any{
		"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{
				"BucketKeyEnabled": true,
				"ServerSideEncryptionByDefault": map[string]any{
					"SSEAlgorithm":   "aws:kms",
					"KMSMasterKeyID": map[string]any{"Fn::GetAtt": []any{assertions.Match_StringLikeRegexp(jsii.String("^Key")), "Arn"}},
				},
			}),
		})},
	}))
}

func TestBucketsArePrivateVersionedAndRetained(t *testing.T) {
	tpl, _ := artifactsFixture.Template(t)
	cdktest.ResourceCountIs(t, tpl, "AWS::S3::Bucket", 2)
	cdktest.AllResourcesProperties(t, tpl, "AWS::S3::Bucket", map[string]any{
		"PublicAccessBlockConfiguration": assertions.Match_Exact(&map[string]any{
			"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
		}),
		"VersioningConfiguration": assertions.Match_Exact(&map[string]any{"Status": "Enabled"}),
	})
	cdktest.Retained(t, tpl, "AWS::S3::Bucket", "Retain", "deleting the stack deletes the artifacts and their access logs")
}

func TestArtifactsExpireAfter30Days(t *testing.T) {
	b, _, _ := buckets(t)
	// One rule: current versions expire after 30 days, old versions too
	// (else they are kept forever), unfinished uploads after a day.
	cdktest.Matches(t, "artifact lifecycle", b["Properties"], assertions.Match_ObjectLike(&map[string]any{
		"LifecycleConfiguration": map[string]any{"Rules": []any{
			assertions.Match_ObjectLike(&map[string]any{
				"ExpirationInDays":               30,
				"Status":                         "Enabled",
				"NoncurrentVersionExpiration":    assertions.Match_Exact(&map[string]any{"NoncurrentDays": 30}),
				"AbortIncompleteMultipartUpload": assertions.Match_Exact(&map[string]any{"DaysAfterInitiation": 1}),
			}),
		}},
	}))
}

func TestArtifactBucketLogsAccessToTheLogBucket(t *testing.T) {
	b, _, logsID := buckets(t)
	cdktest.Matches(t, "artifact bucket logging to the access-log bucket "+logsID, b["Properties"], assertions.Match_ObjectLike(&map[string]any{
		"LoggingConfiguration": assertions.Match_ObjectLike(&map[string]any{"DestinationBucketName": map[string]any{"Ref": logsID}}),
	}))
}

func TestBothBucketsRefuseInsecureTransport(t *testing.T) {
	tpl, _ := artifactsFixture.Template(t)
	cdktest.ResourceCountIs(t, tpl, "AWS::S3::BucketPolicy", 2)
	if !cdktest.AllResourcesProperties(t, tpl, "AWS::S3::BucketPolicy", map[string]any{
		"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{
				"Effect":    "Deny",
				"Condition": assertions.Match_Exact(&map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}),
			}),
		})}),
	}) {
		t.Error("each bucket must deny requests without TLS")
	}
}

// An app without this repository's cdk.json (one that imports the
// construct) may have S3's access-log flag off: the log bucket still grants
// the logging service by bucket policy, with no ACL, which its enforced
// object ownership would refuse.
var withoutFlags = cdktest.NewFixture("artifacts-without-flags",
	map[string]any{"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": false}, func(stack awscdk.Stack) {
		key := awskms.NewKey(stack, jsii.String("Key"), nil)
		artifacts.New(stack, "Artifacts", artifacts.Props{Key: key})
	})

func TestAccessLogsNeedNoFeatureFlag(t *testing.T) {
	tpl, _ := withoutFlags.Template(t)
	cdktest.HasResourceProperties(t, tpl, "AWS::S3::Bucket", map[string]any{
		"OwnershipControls":    map[string]any{"Rules": []any{map[string]any{"ObjectOwnership": "BucketOwnerEnforced"}}},
		"AccessControl":        assertions.Match_Absent(),
		"LoggingConfiguration": assertions.Match_Absent(),
	})
	cdktest.HasResourceProperties(t, tpl, "AWS::S3::BucketPolicy", map[string]any{
		"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{
				"Action":    "s3:PutObject",
				"Effect":    "Allow",
				"Principal": map[string]any{"Service": "logging.s3.amazonaws.com"},
			}),
		})}),
	})
}
