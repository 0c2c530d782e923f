package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"cicd/constructs/servicepipeline"
	"cicd/internal/cdktest"
	"cicd/internal/gomod"
	"cicd/internal/policy"
	"cicd/internal/suppress"
)

// The security checks run on every variant of cicd_test.go (both source
// providers, approval on and off, prod) plus a connection on an ARN of the
// older codestar-connections prefix without approval; each is synthesized
// once per test binary, with the cdk-nag AwsSolutions checks applied. The
// connection is the default app's (suffix dev) with only the source changed:
// dataguard_test.go compares the two.
var (
	legacyVariant = newVariant("connection-legacy", map[string]any{
		"sourceProvider":  "connection",
		"connectionArn":   "arn:aws:codestar-connections:eu-west-1:123456789012:connection/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
		"githubRepo":      "octo-org/service",
		"requireApproval": "false",
	})
	checkedVariants = []*cdktest.Fixture{devVariant, prodVariant, connVariant, legacyVariant, multiVariant, crossVariant}
)

// nagOverrides are the context of an app with the AwsSolutions checks
// applied. With annotationsInValidationReport on (cdk.json), an error
// annotation fails synthesis with a report file; off, the findings stay
// readable as annotations, which is how the tests collect them.
func nagOverrides(context map[string]any) map[string]any {
	overrides := map[string]any{"@aws-cdk/core:annotationsInValidationReport": false}
	maps.Copy(overrides, context)
	return overrides
}

// addNagChecks applies the AwsSolutions checks to app.
func addNagChecks(app awscdk.App) {
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{
		Verbose: jsii.Bool(true),
		Reports: jsii.Bool(false),
	}), nil)
}

// nagApp returns an app with the AwsSolutions checks applied.
func nagApp(t *testing.T, context map[string]any) awscdk.App {
	t.Helper()
	app := cdktest.NewApp(t, nagOverrides(context), false)
	addNagChecks(app)
	return app
}

// variantFindings returns the variant's unsuppressed cdk-nag findings.
func variantFindings(t *testing.T, v *cdktest.Fixture) []string {
	t.Helper()
	var findings []string
	for _, s := range v.Stacks(t) {
		findings = append(findings, nagFindings(s.Stack)...)
	}
	return findings
}

// templateFiles writes the variant's templates into dir for the
// command-line checks.
func templateFiles(t *testing.T, v *cdktest.Fixture, dir string) []string {
	t.Helper()
	var paths []string
	for _, s := range v.Stacks(t) {
		data, err := json.MarshalIndent(s.JSON, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, v.Name()+"-"+s.Name+".template.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	return paths
}

// nagFindings returns every unsuppressed AwsSolutions error and warning on
// stack, one line each: level, construct path, rule and finding.
func nagFindings(stack awscdk.Stack) []string {
	annotations := assertions.Annotations_FromStack(stack)
	rule := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
	var out []string
	for _, level := range []string{"error", "warning"} {
		find := annotations.FindError
		if level == "warning" {
			find = annotations.FindWarning
		}
		for _, m := range *find(jsii.String("*"), rule) {
			//lint:ignore SA1019 the assertions API returns only cxapi.SynthesisMessage; the type it moved to has no Go binding
			id, text := *m.Id, fmt.Sprint(m.Entry.Data)
			// "AwsSolutions-IAM5[Resource::*]: The IAM entity ..." down to
			// the finding and its first sentence.
			if i := strings.Index(text, ". "); i > 0 {
				text = text[:i+1]
			}
			out = append(out, fmt.Sprintf("%s %s: %s", level, id, text))
		}
	}
	sort.Strings(out)
	return out
}

func TestCdkNagAwsSolutions(t *testing.T) {
	for _, v := range checkedVariants {
		t.Run(v.Name(), func(t *testing.T) {
			if findings := variantFindings(t, v); len(findings) > 0 {
				t.Errorf("%d unsuppressed cdk-nag findings: fix the resource, or suppress the finding where the resource "+
					"is made with a reason (internal/suppress):\n  %s", len(findings), strings.Join(findings, "\n  "))
			}
		})
	}
}

// The check must see a new finding: a throwaway stack with a bucket that has
// neither access logs nor TLS enforcement, and a policy with wildcards.
func TestCdkNagReportsNewFinding(t *testing.T) {
	app := nagApp(t, nil)
	stack := awscdk.NewStack(app, jsii.String("Throwaway"), nil)
	bucket := awss3.NewBucket(stack, jsii.String("Plain"), nil)
	role := awsiam.NewRole(stack, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
	})
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:*"),
		Resources: jsii.Strings("*"),
	}))
	// A suppression on the bucket covers one rule there and nothing else.
	suppress.Resource(bucket, suppress.Nag{Rule: "AwsSolutions-S10", Reason: "throwaway bucket of the test"})

	findings := strings.Join(nagFindings(stack), "\n")
	for _, want := range []string{
		"error /Throwaway/Plain/Resource: AwsSolutions-S1:",
		"error /Throwaway/Role/DefaultPolicy/Resource: AwsSolutions-IAM5[Action::s3:*]",
		"error /Throwaway/Role/DefaultPolicy/Resource: AwsSolutions-IAM5[Resource::*]",
	} {
		if !strings.Contains(findings, want) {
			t.Errorf("no finding %q in:\n%s", want, findings)
		}
	}
	if strings.Contains(findings, "AwsSolutions-S10") {
		t.Errorf("suppressed AwsSolutions-S10 reported:\n%s", findings)
	}
}

func TestCfnGuardControlTower(t *testing.T) {
	root, err := gomod.Root(".")
	if err != nil {
		t.Fatal(err)
	}
	guard, err := policy.FindGuard(root)
	if err != nil {
		t.Fatal(err)
	}
	waiverFile := filepath.Join(root, "security", "cfn-guard-waivers.json")
	waivers, err := policy.LoadWaivers(waiverFile)
	if err != nil {
		t.Fatal(err)
	}
	ledger := policy.NewLedger(waivers)
	// Synthesize first (one jsii kernel), then run cfn-guard once on every
	// template: each run reads the rule set, for seconds.
	dir := t.TempDir()
	files := make([][]string, len(checkedVariants))
	var all []string
	for i, v := range checkedVariants {
		files[i] = templateFiles(t, v, dir)
		all = append(all, files[i]...)
	}
	// The rest calls no jsii: it runs beside the other checkers.
	t.Parallel()
	reports, err := guard.ValidateAll(all...)
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for i, v := range checkedVariants {
		t.Run(v.Name(), func(t *testing.T) {
			ran++
			var violations []policy.Violation
			for _, f := range files[i] {
				violations = append(violations, reports[f]...)
			}
			if left := ledger.Unwaived(violations); len(left) > 0 {
				lines := make([]string, len(left))
				for i, l := range left {
					lines[i] = l.String()
				}
				t.Errorf("%d Control Tower rules fail without a waiver: fix the resource, or waive the rule for it "+
					"in security/cfn-guard-waivers.json with a reason:\n  %s", len(left), strings.Join(lines, "\n  "))
			}
		})
	}
	if ran < len(checkedVariants) {
		t.Logf("stale waivers not checked: %d of %d variants ran", ran, len(checkedVariants))
		return
	}
	if stale := ledger.Stale(); len(stale) > 0 {
		t.Errorf("waivers in security/cfn-guard-waivers.json that no variant needs any more: remove them:\n  %s",
			strings.Join(stale, "\n  "))
	}
}

// Every template of the checked variants passes cfn-lint. A canary template
// with an unknown property is linted in the same run (cfn-lint takes
// seconds to start): its one finding shows that cfn-lint checked, and that
// policy.Lint reads its findings.
func TestCfnLint(t *testing.T) {
	dir := t.TempDir()
	canary := filepath.Join(dir, "canary.template.json")
	if err := os.WriteFile(canary, []byte(`{"Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {"Bogus": 1}}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	files := []string{canary}
	for _, v := range checkedVariants {
		files = append(files, templateFiles(t, v, dir)...)
	}
	t.Parallel() // the rest calls no jsii
	all, err := policy.Lint(files...)
	if err != nil {
		t.Fatal(err)
	}
	var findings, caught []string
	for _, f := range all {
		if strings.HasPrefix(f, canary+":") {
			caught = append(caught, f)
		} else {
			findings = append(findings, f)
		}
	}
	if len(caught) != 1 || !strings.Contains(caught[0], "E3002") {
		t.Errorf("cfn-lint reported %q on the canary template, want one E3002 (its unknown property Bogus): "+
			"it checked nothing, or its output is read wrongly", caught)
	}
	if len(findings) > 0 {
		for i, f := range findings {
			findings[i] = strings.TrimPrefix(f, dir+string(filepath.Separator))
		}
		t.Errorf("%d cfn-lint findings: fix them in the constructs, or ignore the rule on that resource "+
			"with suppress.Lint and a comment saying why:\n  %s", len(findings), strings.Join(findings, "\n  "))
	}
}

// The key policy gives kms:* to the account only (IAM policies then decide),
// and each service principal just the operations it performs.
func TestKeyPolicyLeastPrivilege(t *testing.T) {
	for _, v := range checkedVariants {
		t.Run(v.Name(), func(t *testing.T) {
			for _, s := range v.Stacks(t) {
				keys := cdktest.Resources(s.JSON, "AWS::KMS::Key")
				switch {
				case strings.Contains(s.Name, "-access-"):
					// A stack of roles in another account holds no key.
					if len(keys) != 0 {
						t.Errorf("%s: %d KMS keys, want none", s.Name, len(keys))
					}
					continue
				case len(keys) != 1:
					t.Fatalf("%s: %d KMS keys, want 1", s.Name, len(keys))
				}
				for id, key := range keys {
					checkKeyPolicy(t, s.Name+"/"+id, key, s)
				}
			}
		})
	}
}

// stackNames are the resource names of a pipeline stack, from its name.
func stackNames(stack string) servicepipeline.Names {
	if suffix, ok := strings.CutPrefix(stack, "cicd-pipeline-"); ok {
		return servicepipeline.SingleEnvironmentNames(suffix)
	}
	return servicepipeline.ServiceNames(strings.TrimPrefix(stack, "cicd-"))
}

// checkKeyPolicy checks one key's policy: kms:* to the account, CloudWatch
// Logs for the two log groups and EventBridge for the topic (the pipeline's
// key only), grants only for AWS services, and to the deploy role of an
// environment in another account, kms:Decrypt and kms:DescribeKey.
func checkKeyPolicy(t *testing.T, id string, key map[string]any, s cdktest.Stack) {
	t.Helper()
	pseudo := func(name string) any { return map[string]any{"Ref": "AWS::" + name} }
	partition, region, account := pseudo("Partition"), pseudo("Region"), pseudo("AccountId")
	join := func(parts ...any) any {
		// With a concrete environment, CDK writes the values in place.
		text := ""
		for _, p := range parts {
			str, ok := p.(string)
			if !ok {
				return map[string]any{"Fn::Join": []any{"", parts}}
			}
			text += str
		}
		return text
	}
	if acct, reg, ok := strings.Cut(s.Env, "/"); ok && !strings.Contains(s.Env, "${Token") {
		partition, region, account = "aws", reg, acct
	}
	root := join("arn:", partition, ":iam::", account, ":root")
	logs := join("logs.", region, ".amazonaws.com")
	logGroup := func(name string) any {
		return join("arn:", partition, ":logs:", region, ":", account, ":log-group:"+name)
	}
	replica := strings.Contains(s.Name, "-artifacts-")
	otherAccount := regexp.MustCompile(`^arn:aws:iam::(\d{12}):role/`)
	names := stackNames(s.Name)
	seen := map[string]bool{}
	statements := key["Properties"].(map[string]any)["KeyPolicy"].(map[string]any)["Statement"].([]any)
	for _, raw := range statements {
		st := raw.(map[string]any)
		list := slices.Sorted(slices.Values(cdktest.Strings(st["Action"])))
		actions := strings.Join(list, ",")
		principal, _ := st["Principal"].(map[string]any)
		role, _ := principal["AWS"].(string)
		if st["Effect"] == "Deny" {
			// Denies grant nothing; the one expected keeps grants to AWS services.
			if actions == "kms:CreateGrant" {
				seen["grants"] = true
			}
			continue
		}
		switch {
		case reflect.DeepEqual(principal, map[string]any{"AWS": root}) && actions == "kms:*":
			seen["root"] = true
			if st["Condition"] != nil {
				t.Errorf("%s: the account's statement has a condition: %s", id, cdktest.JSON(st["Condition"]))
			}
		case slices.Contains(list, "kms:*") || slices.Contains(list, "*"):
			t.Errorf("%s: %s granted to %s, which is not the account root", id, actions, cdktest.JSON(principal))
		case !replica && reflect.DeepEqual(principal, map[string]any{"Service": logs}):
			seen["logs"] = true
			if want := "kms:Decrypt*,kms:Describe*,kms:Encrypt*,kms:GenerateDataKey*,kms:ReEncrypt*"; actions != want {
				t.Errorf("%s: CloudWatch Logs gets %s, want %s", id, actions, want)
			}
			want := map[string]any{"ArnLike": map[string]any{"kms:EncryptionContext:aws:logs:arn": []any{
				logGroup(names.BuildLogGroup()),
				logGroup(names.ValidatorLogGroup()),
			}}}
			if !reflect.DeepEqual(st["Condition"], want) {
				t.Errorf("%s: CloudWatch Logs condition %s, want the encryption context of the two log groups", id, cdktest.JSON(st["Condition"]))
			}
		case !replica && reflect.DeepEqual(principal, map[string]any{"Service": "events.amazonaws.com"}):
			seen["events"] = true
			if want := "kms:Decrypt,kms:GenerateDataKey*"; actions != want {
				t.Errorf("%s: EventBridge gets %s, want %s", id, actions, want)
			}
		case !replica && reflect.DeepEqual(principal, map[string]any{"Service": "cloudwatch.amazonaws.com"}):
			// The alarms' notifications to the encrypted topic.
			seen["cloudwatch"] = true
			if want := "kms:Decrypt,kms:GenerateDataKey*"; actions != want {
				t.Errorf("%s: CloudWatch gets %s, want %s", id, actions, want)
			}
		case otherAccount.MatchString(role) && !strings.HasPrefix(role, "arn:aws:iam::"+fmt.Sprint(account)+":"):
			seen["reader"] = true
			if want := "kms:Decrypt,kms:DescribeKey"; actions != want {
				t.Errorf("%s: deploy role %s gets %s, want %s", id, role, actions, want)
			}
		case replica && reflect.DeepEqual(principal, map[string]any{"AWS": root}):
			// CDK's grant to the pipeline's role in another region names its
			// account: the role's own policy decides, by the key's alias.
			if want := "kms:Decrypt,kms:DescribeKey,kms:Encrypt,kms:GenerateDataKey*,kms:ReEncrypt*"; actions != want {
				t.Errorf("%s: the pipeline account gets %s, want %s", id, actions, want)
			}
		default:
			t.Errorf("%s: unexpected principal %s with %s", id, cdktest.JSON(principal), actions)
		}
	}
	want := []string{"root", "logs", "events", "cloudwatch", "grants"}
	if replica {
		want = []string{"root", "grants", "reader"}
	}
	for _, p := range want {
		if !seen[p] {
			t.Errorf("%s: no key policy statement for %s", id, p)
		}
	}
}
