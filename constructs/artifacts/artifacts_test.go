package artifacts_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/artifacts"
	"cicd/internal/cdktest"
)

func TestMain(m *testing.M) { cdktest.Main(m) }

var fixture = cdktest.NewFixture("artifacts", nil, func(stack awscdk.Stack) {
	key := awskms.NewKey(stack, jsii.String("Key"), nil)
	artifacts.New(stack, "Artifacts", artifacts.Props{Key: key})
})

// buckets returns the artifact bucket and the access-log bucket.
func buckets(t *testing.T) (artifact, logs map[string]any, logsID string) {
	t.Helper()
	_, tpl := fixture.Template(t)
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
	enc := cdktest.JSON(b["Properties"].(map[string]any)["BucketEncryption"])
	for _, want := range []string{`"SSEAlgorithm":"aws:kms"`, `"KMSMasterKeyID":{"Fn::GetAtt":["Key`, `"BucketKeyEnabled":true`} {
		if !strings.Contains(enc, want) {
			t.Errorf("bucket encryption %s lacks %s", enc, want)
		}
	}
}

func TestBucketsArePrivateVersionedAndRetained(t *testing.T) {
	artifact, logs, _ := buckets(t)
	for name, b := range map[string]map[string]any{"artifact": artifact, "access-log": logs} {
		props := b["Properties"].(map[string]any)
		block := cdktest.JSON(props["PublicAccessBlockConfiguration"])
		if block != `{"BlockPublicAcls":true,"BlockPublicPolicy":true,"IgnorePublicAcls":true,"RestrictPublicBuckets":true}` {
			t.Errorf("%s bucket public access block %s, want all four on", name, block)
		}
		if v := cdktest.JSON(props["VersioningConfiguration"]); v != `{"Status":"Enabled"}` {
			t.Errorf("%s bucket versioning %s", name, v)
		}
		if b["DeletionPolicy"] != "Retain" || b["UpdateReplacePolicy"] != "Retain" {
			t.Errorf("%s bucket is not retained: %v/%v", name, b["DeletionPolicy"], b["UpdateReplacePolicy"])
		}
	}
}

func TestArtifactsExpireAfter30Days(t *testing.T) {
	b, _, _ := buckets(t)
	rules := b["Properties"].(map[string]any)["LifecycleConfiguration"].(map[string]any)["Rules"].([]any)
	if len(rules) != 1 {
		t.Fatalf("want one lifecycle rule, got %s", cdktest.JSON(rules))
	}
	rule := rules[0].(map[string]any)
	if rule["ExpirationInDays"] != 30.0 || rule["Status"] != "Enabled" {
		t.Errorf("rule %s: want current versions expired after 30 days", cdktest.JSON(rule))
	}
	if got := cdktest.JSON(rule["NoncurrentVersionExpiration"]); got != `{"NoncurrentDays":30}` {
		t.Errorf("noncurrent expiration %s, want 30 days: old versions would be kept forever", got)
	}
	if got := cdktest.JSON(rule["AbortIncompleteMultipartUpload"]); got != `{"DaysAfterInitiation":1}` {
		t.Errorf("multipart abort %s, want 1 day", got)
	}
}

func TestArtifactBucketLogsAccessToTheLogBucket(t *testing.T) {
	b, _, logsID := buckets(t)
	logging := cdktest.JSON(b["Properties"].(map[string]any)["LoggingConfiguration"])
	if !strings.Contains(logging, `"DestinationBucketName":{"Ref":"`+logsID+`"}`) {
		t.Errorf("logging %s, want the access-log bucket %s", logging, logsID)
	}
}

func TestBothBucketsRefuseInsecureTransport(t *testing.T) {
	_, tpl := fixture.Template(t)
	policies := cdktest.Resources(tpl, "AWS::S3::BucketPolicy")
	if len(policies) != 2 {
		t.Fatalf("want a bucket policy on each bucket, found %d", len(policies))
	}
	for id, p := range policies {
		doc := cdktest.JSON(p["Properties"].(map[string]any)["PolicyDocument"])
		if !strings.Contains(doc, `"Condition":{"Bool":{"aws:SecureTransport":"false"}},"Effect":"Deny"`) {
			t.Errorf("%s does not deny requests without TLS: %s", id, doc)
		}
	}
}
