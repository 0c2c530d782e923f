package constructs_test

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"cicd/internal/cdktest"
	"cicd/internal/suppress"
)

func TestRecordsOnTheResourceOnly(t *testing.T) {
	stack := cdktest.NewStack(t)
	bucket := awss3.NewBucket(stack, jsii.String("Logs"), nil)
	imported := awss3.Bucket_FromBucketName(stack, jsii.String("Imported"), jsii.String("elsewhere"))

	suppress.Resource(bucket, suppress.Nag{Rule: "AwsSolutions-S1", Reason: "the bucket of the test"},
		suppress.Nag{Rule: suppress.IAM5, Reason: "granular findings only", AppliesTo: []string{"Resource::*"}})
	suppress.Lint(bucket, "W3005")
	// Imported resources and missing children have nothing to suppress.
	suppress.Resource(imported, suppress.Nag{Rule: "AwsSolutions-S1", Reason: "the bucket of the test"})
	suppress.Policy(imported, suppress.Nag{Rule: suppress.IAM5, Reason: "the bucket of the test"})
	if suppress.Owned(imported) || !suppress.Owned(bucket) || suppress.Child(stack, "Logs", "Missing", "Deeper") != nil {
		t.Error("Owned or Child wrong for an imported bucket or a missing child")
	}

	_, tpl := cdktest.Template(stack)
	id := suppress.LogicalID(bucket)
	if got := suppress.GetAtt(bucket, "Arn"); got != "<"+id+".Arn>" {
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
			map[string]any{"id": suppress.IAM5, "reason": "granular findings only", "applies_to": []any{"Resource::*"}},
		}},
		"cfn-lint": map[string]any{"config": map[string]any{"ignore_checks": []any{"W3005"}}},
	}
	if !reflect.DeepEqual(r["Metadata"], want) {
		t.Errorf("metadata %v, want %v", r["Metadata"], want)
	}
}

// cdk-nag reads what Resource writes: the findings it covers are gone and no
// others, a suppression cdk-nag wrote itself is kept, and one given twice is
// recorded once.
func TestCdkNagReadsTheRecord(t *testing.T) {
	var suppressed awss3.Bucket
	encoded := suppress.Nag{Rule: "AwsSolutions-S1", Reason: "a reason with a character beyond Latin-1 — so cdk-nag writes it in base64"}
	// Error findings stay annotations (not a failed synthesis) with this off.
	fixture := cdktest.NewFixture("nag", map[string]any{"@aws-cdk/core:annotationsInValidationReport": false}, func(stack awscdk.Stack) {
		awscdk.Aspects_Of(stack).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Reports: jsii.Bool(false)}), nil)
		suppressed = awss3.NewBucket(stack, jsii.String("Suppressed"), nil)
		awss3.NewBucket(stack, jsii.String("Open"), nil)
		// Each role's policy has two IAM5 findings: Action::s3:List* and
		// Resource::*.
		roles := map[string]awsiam.Role{}
		for _, id := range []string{"Partly", "Wholly"} {
			role := awsiam.NewRole(stack, jsii.String(id), &awsiam.RoleProps{AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil)})
			role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Actions: jsii.Strings("s3:List*"), Resources: jsii.Strings("*")}))
			roles[id] = role
		}

		cdknag.NagSuppressions_AddResourceSuppressions(suppressed, &[]*cdknag.NagPackSuppression{
			{Id: jsii.String("AwsSolutions-S10"), Reason: jsii.String("written by cdk-nag itself, before the package")},
		}, jsii.Bool(false))
		suppress.Resource(suppressed, encoded)
		suppress.Resource(suppressed, encoded)
		list := suppress.Nag{Rule: suppress.IAM5, Reason: "the list actions of the test", AppliesTo: []string{"Action::s3:List*"}}
		suppress.Policy(roles["Partly"], list)
		suppress.Policy(roles["Wholly"], list, suppress.Nag{Rule: suppress.IAM5, Reason: "the pattern covers the wildcard resource", AppliesToPattern: []string{`Resource::\*`}})
	})
	synthesized := fixture.Stacks(t)[0]
	stack := synthesized.Stack

	var findings []string
	for _, m := range *assertions.Annotations_FromStack(stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))) {
		//lint:ignore SA1019 the assertions API returns only cxapi.SynthesisMessage; the type it moved to has no Go binding
		id, data := *m.Id, fmt.Sprint(m.Entry.Data)
		rule, _, _ := strings.Cut(data, ": ")
		findings = append(findings, id+" "+rule)
	}
	slices.Sort(findings)
	want := []string{
		"/Test/Open/Resource AwsSolutions-S1",
		"/Test/Open/Resource AwsSolutions-S10",
		"/Test/Partly/DefaultPolicy/Resource AwsSolutions-IAM5[Resource::*]",
	}
	if !slices.Equal(findings, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(findings, "\n"), strings.Join(want, "\n"))
	}

	tpl := synthesized.JSON
	metadata := tpl["Resources"].(map[string]any)[suppress.LogicalID(suppressed)].(map[string]any)["Metadata"]
	wantMetadata := map[string]any{"cdk_nag": map[string]any{"rules_to_suppress": []any{
		map[string]any{"id": "AwsSolutions-S10", "reason": "written by cdk-nag itself, before the package"},
		map[string]any{"id": "AwsSolutions-S1", "reason": base64.StdEncoding.EncodeToString([]byte(encoded.Reason)), "is_reason_encoded": true},
	}}}
	if !reflect.DeepEqual(metadata, wantMetadata) {
		t.Errorf("metadata %v, want %v", metadata, wantMetadata)
	}
}

// What cdk-nag would refuse when it reads the suppressions fails where it
// is written, naming the resource and the rule.
func TestRefusesWhatCdkNagRefuses(t *testing.T) {
	for _, tc := range []struct {
		nag  suppress.Nag
		want string
	}{
		{suppress.Nag{Rule: "AwsSolutions-S1", Reason: "too short"}, `Bad/Resource: the suppression of AwsSolutions-S1 has the reason "too short": cdk-nag wants 10 characters or more`},
		{suppress.Nag{Rule: suppress.IAM5 + "[Resource::*]", Reason: "the finding belongs in AppliesTo"}, "Bad/Resource: the suppression of AwsSolutions-IAM5[Resource::*] names a finding in its rule ID: list the finding in AppliesTo"},
	} {
		stack := cdktest.NewStack(t)
		bucket := awss3.NewBucket(stack, jsii.String("Bad"), nil)
		func() {
			defer func() {
				if r := fmt.Sprint(recover()); !strings.Contains(r, tc.want) {
					t.Errorf("panic %q, want one with %q", r, tc.want)
				}
			}()
			suppress.Resource(bucket, tc.nag)
		}()
	}
}
