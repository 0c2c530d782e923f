package suppress

import (
	"reflect"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"

	"cicd/internal/cdktest"
)

func TestMain(m *testing.M) { cdktest.Main(m) }

func TestRecordsOnTheResourceOnly(t *testing.T) {
	stack := cdktest.NewStack(t)
	bucket := awss3.NewBucket(stack, jsii.String("Logs"), nil)
	imported := awss3.Bucket_FromBucketName(stack, jsii.String("Imported"), jsii.String("elsewhere"))

	Resource(bucket, Nag{Rule: "AwsSolutions-S1", Reason: "the bucket of the test"},
		Nag{Rule: IAM5, Reason: "granular findings only", AppliesTo: []string{"Resource::*"}})
	Lint(bucket, "W3005")
	// Imported resources and missing children have nothing to suppress.
	Resource(imported, Nag{Rule: "AwsSolutions-S1", Reason: "the bucket of the test"})
	Policy(imported, Nag{Rule: IAM5, Reason: "the bucket of the test"})
	if Owned(imported) || !Owned(bucket) || Child(stack, "Logs", "Missing", "Deeper") != nil {
		t.Error("Owned or Child wrong for an imported bucket or a missing child")
	}

	_, tpl := cdktest.Template(stack)
	id := LogicalID(bucket)
	if got := GetAtt(bucket, "Arn"); got != "<"+id+".Arn>" {
		t.Errorf("GetAtt %q, want <%s.Arn>", got, id)
	}
	resources := tpl["Resources"].(map[string]any)
	r, ok := resources[id].(map[string]any)
	if !ok {
		t.Fatalf("no resource %s in %v", id, resources)
	}
	want := map[string]any{
		"cdk_nag": map[string]any{"rules_to_suppress": []any{
			map[string]any{"id": "AwsSolutions-S1", "reason": "the bucket of the test"},
			map[string]any{"id": IAM5, "reason": "granular findings only", "applies_to": []any{"Resource::*"}},
		}},
		"cfn-lint": map[string]any{"config": map[string]any{"ignore_checks": []any{"W3005"}}},
	}
	if !reflect.DeepEqual(r["Metadata"], want) {
		t.Errorf("metadata %v, want %v", r["Metadata"], want)
	}
}
