package constructs_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"

	"cicd/internal/cdktest"
)

var cdktestFixture = cdktest.NewFixture("cdktest", nil, func(stack awscdk.Stack) {
	bucket := awss3.NewBucket(stack, jsii.String("Bucket"), &awss3.BucketProps{Versioned: jsii.Bool(true)})
	awscdk.NewCfnOutput(stack, jsii.String("BucketName"), &awscdk.CfnOutputProps{
		Value: bucket.BucketName(), ExportName: jsii.String("test-bucket"),
	})
})

// recorder is a test that keeps its errors instead of failing.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, strings.TrimSpace(strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " ")))
}

// A wrong expectation is one test error that carries the matcher's own
// message; the test binary goes on, and the next check still runs.
func TestMismatchIsATestError(t *testing.T) {
	tpl, j := cdktestFixture.Template(t)
	for _, tc := range []struct {
		name  string
		check func(tb testing.TB) bool
		want  string // in the error; empty: no error
	}{
		{"wrong property", func(tb testing.TB) bool {
			return cdktest.HasResourceProperties(tb, tpl, "AWS::S3::Bucket", map[string]any{
				"VersioningConfiguration": map[string]any{"Status": "Suspended"}})
		}, "Expected Suspended but received Enabled"},
		{"right property", func(tb testing.TB) bool {
			return cdktest.HasResourceProperties(tb, tpl, "AWS::S3::Bucket", map[string]any{
				"VersioningConfiguration": map[string]any{"Status": "Enabled"}})
		}, ""},
		{"wrong count", func(tb testing.TB) bool { return cdktest.ResourceCountIs(tb, tpl, "AWS::S3::Bucket", 2) }, "not 2 AWS::S3::Bucket"},
		{"every resource", func(tb testing.TB) bool {
			return cdktest.AllResourcesProperties(tb, tpl, "AWS::S3::Bucket", map[string]any{"BucketName": "x"})
		}, "do not match the given definition"},
		{"every resource, where it differs", func(tb testing.TB) bool {
			return cdktest.AllResourcesProperties(tb, tpl, "AWS::S3::Bucket", map[string]any{
				"VersioningConfiguration": map[string]any{"Status": "Suspended"}})
		}, "Expected Suspended but received Enabled"},
		{"every resource right", func(tb testing.TB) bool {
			return cdktest.AllResourcesProperties(tb, tpl, "AWS::S3::Bucket", map[string]any{
				"VersioningConfiguration": map[string]any{"Status": "Enabled"}})
		}, ""},
		{"resource attributes", func(tb testing.TB) bool {
			return cdktest.HasResource(tb, tpl, "AWS::S3::Bucket", map[string]any{"DeletionPolicy": "Delete"})
		}, "Expected Delete but received Retain"},
		{"every resource like this", func(tb testing.TB) bool {
			return cdktest.AllResources(tb, tpl, "AWS::S3::Bucket", map[string]any{"DeletionPolicy": "Retain"})
		}, ""},
		{"not every resource like this", func(tb testing.TB) bool {
			return cdktest.AllResources(tb, tpl, "AWS::S3::Bucket", map[string]any{"DeletionPolicy": "Delete"})
		}, "Expected Delete but received Retain"},
		{"retained", func(tb testing.TB) bool {
			return cdktest.Retained(tb, tpl, "AWS::S3::Bucket", "Retain", "the objects")
		}, ""},
		{"retained except on create", func(tb testing.TB) bool {
			return cdktest.Retained(tb, tpl, "AWS::S3::Bucket", "RetainExceptOnCreate", "the objects")
		}, "Expected RetainExceptOnCreate but received Retain"},
		{"retained names why", func(tb testing.TB) bool {
			return cdktest.Retained(tb, tpl, "AWS::S3::Bucket", "Delete", "the objects are lost")
		}, "or the objects are lost"},
		{"none to retain", func(tb testing.TB) bool {
			return cdktest.Retained(tb, tpl, "AWS::DynamoDB::Table", "Retain", "the items")
		}, "AWS::DynamoDB::Table not retained"},
		{"output", func(tb testing.TB) bool {
			return cdktest.HasOutput(tb, tpl, "*", map[string]any{"Export": map[string]any{"Name": "test-bucket"}})
		}, ""},
		{"wrong output", func(tb testing.TB) bool {
			return cdktest.HasOutput(tb, tpl, "*", map[string]any{"Export": map[string]any{"Name": "other-bucket"}})
		}, "Expected other-bucket but received test-bucket"},
		{"walked value", func(tb testing.TB) bool {
			bucket := cdktest.Properties(tb, j, "AWS::S3::Bucket")
			return cdktest.Matches(tb, "versioning", bucket["VersioningConfiguration"],
				map[string]any{"Status": assertions.Match_StringLikeRegexp(jsii.String("^Sus"))})
		}, "versioning:"},
		{"walked value right", func(tb testing.TB) bool {
			bucket := cdktest.Properties(tb, j, "AWS::S3::Bucket")
			return cdktest.Matches(tb, "versioning", bucket["VersioningConfiguration"], map[string]any{"Status": "Enabled"})
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			ok := tc.check(rec)
			switch {
			case tc.want == "" && (!ok || len(rec.errors) > 0):
				t.Errorf("a right expectation failed: %v", rec.errors)
			case tc.want != "" && (ok || len(rec.errors) != 1):
				t.Errorf("a wrong expectation gave ok=%v and %d errors, want one: %v", ok, len(rec.errors), rec.errors)
			case tc.want != "" && !strings.Contains(rec.errors[0], tc.want):
				t.Errorf("error %q, want the matcher's message %q", rec.errors[0], tc.want)
			}
		})
	}
}
