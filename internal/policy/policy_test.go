package policy

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for ; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("no go.mod above the test's folder")
		}
	}
}

func writeTemplate(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "template.json")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func guard(t *testing.T) Guard {
	t.Helper()
	g, err := FindGuard(moduleRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestFindGuardWithoutNpmCi(t *testing.T) {
	_, err := FindGuard(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "run npm ci") {
		t.Fatalf("got %v, want an error that says to run npm ci", err)
	}
}

// A bucket with nothing set and a key that anyone may use: the rules must
// name both, and the ledger must waive exactly what a waiver names.
const badTemplate = `{
  "Resources": {
    "OpenBucket": {"Type": "AWS::S3::Bucket", "Properties": {}},
    "OpenKey": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Statement": [
      {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}
    ]}}}
  }
}`

func TestGuardReportsAndWaives(t *testing.T) {
	violations, err := guard(t).Validate(writeTemplate(t, badTemplate))
	if err != nil {
		t.Fatal(err)
	}
	has := func(vs []Violation, control, resource string) bool {
		for _, v := range vs {
			if v.Control == control && v.Resource == resource {
				return true
			}
		}
		return false
	}
	for _, want := range [][2]string{{"CT.S3.PR.2", "OpenBucket"}, {"CT.KMS.PR.3", "OpenKey"}} {
		if !has(violations, want[0], want[1]) {
			t.Errorf("no %s violation on %s in %v", want[0], want[1], violations)
		}
	}

	ledger := NewLedger([]Waiver{{
		Rule: "s3_bucket_logging_enabled_check", Control: "CT.S3.PR.2",
		Resources: []string{"OpenBucket", "RemovedBucket"}, Reason: "a reason long enough",
	}})
	left := ledger.Unwaived(violations)
	if has(left, "CT.S3.PR.2", "OpenBucket") || !has(left, "CT.KMS.PR.3", "OpenKey") {
		t.Errorf("unwaived %v: want CT.S3.PR.2 on OpenBucket waived and CT.KMS.PR.3 on OpenKey kept", left)
	}
	if len(left) != len(violations)-1 {
		t.Errorf("%d of %d violations left, want all but one", len(left), len(violations))
	}
	want := []string{"CT.S3.PR.2 s3_bucket_logging_enabled_check on RemovedBucket"}
	if got := ledger.Stale(); !reflect.DeepEqual(got, want) {
		t.Errorf("stale %v, want %v", got, want)
	}
}

func TestGuardRejectsUnreadableTemplate(t *testing.T) {
	if _, err := guard(t).Validate(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("no error for a template that does not exist")
	}
}

// The checked-in waivers name real Control Tower rules, with the control ID
// each rule reports.
func TestCheckedInWaiversNameRealRules(t *testing.T) {
	root := moduleRoot(t)
	waivers, err := LoadWaivers(filepath.Join(root, "security", "cfn-guard-waivers.json"))
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]string{}
	err = filepath.WalkDir(guard(t).Rules, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		rules[path] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range waivers {
		found := false
		for _, text := range rules {
			if strings.Contains(text, "rule "+w.Rule+" ") && strings.Contains(text, "["+w.Control+"]") {
				found = true
			}
		}
		if !found {
			t.Errorf("waiver %s %s: no Control Tower rule of that name reports that control", w.Control, w.Rule)
		}
	}
}

func TestLoadWaiversRejects(t *testing.T) {
	for name, body := range map[string]string{
		"not json":    `{"waivers": [`,
		"no rule":     `{"waivers": [{"control": "CT.S3.PR.2", "resources": ["B"], "reason": "a reason long enough"}]}`,
		"bad control": `{"waivers": [{"rule": "r", "control": "S3.2", "resources": ["B"], "reason": "a reason long enough"}]}`,
		"no resource": `{"waivers": [{"rule": "r", "control": "CT.S3.PR.2", "resources": [], "reason": "a reason long enough"}]}`,
		"no reason":   `{"waivers": [{"rule": "r", "control": "CT.S3.PR.2", "resources": ["B"], "reason": "ok"}]}`,
	} {
		if _, err := LoadWaivers(writeTemplate(t, body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Lint is tested by the root package's TestCfnLint, which lints a canary
// template with a finding in the same cfn-lint run as the app's templates:
// cfn-lint takes seconds to start.

// One run reads every template, and each template gets its own failures.
func TestGuardValidatesSeveralTemplates(t *testing.T) {
	bad := writeTemplate(t, badTemplate)
	dir := t.TempDir()
	good := filepath.Join(dir, "empty.template.json")
	if err := os.WriteFile(good, []byte(`{"Resources":{"Topic":{"Type":"AWS::SNS::Topic","Properties":{}}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	reports, err := guard(t).ValidateAll(bad, good)
	if err != nil {
		t.Fatal(err)
	}
	alone, err := guard(t).Validate(bad)
	if err != nil {
		t.Fatal(err)
	}
	if len(reports[bad]) == 0 || !reflect.DeepEqual(reports[bad], alone) {
		t.Errorf("the bad template's failures in one run with another: %v; alone: %v", reports[bad], alone)
	}
	for _, v := range reports[good] {
		if v.Resource != "" && v.Resource != "Topic" {
			t.Errorf("the other template has a failure on %s, a resource of the bad one", v.Resource)
		}
	}
}

// Showing rule files only the resources of the types they name changes no
// result: on a template of the types the app synthesizes, each breaking
// rules, and with references between them (a log group's key, a bucket's
// log bucket, one of them a resource of a type the rule does not name), the
// failures are those of every rule file on the whole template; and a YAML
// template, which is given whole, gets the failures of its JSON twin.
func TestGuardRulesSeeTheirTypes(t *testing.T) {
	t.Parallel()
	template := writeTemplate(t, `{
  "Parameters": {"Stage": {"Type": "String", "Default": "dev"}},
  "Resources": {
    "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"LoggingConfiguration": {"DestinationBucketName": {"Ref": "LogBucket"}}}},
    "LogBucket": {"Type": "AWS::S3::Bucket", "Properties": {"VersioningConfiguration": {"Status": "Enabled"}}},
    "BucketPolicy": {"Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": {"Ref": "Bucket"}, "PolicyDocument": {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]}}},
    "Key": {"Type": "AWS::KMS::Key", "Properties": {"EnableKeyRotation": false}},
    "Function": {"Type": "AWS::Lambda::Function", "Properties": {"Runtime": "nodejs16.x", "Handler": "i.h", "Role": "arn:aws:iam::123456789012:role/r", "Code": {"ZipFile": "x"}}},
    "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"KmsKeyId": {"Fn::GetAtt": ["Key", "Arn"]}}},
    "OtherLogs": {"Type": "AWS::Logs::LogGroup", "Properties": {"KmsKeyId": {"Ref": "Topic"}, "RetentionInDays": 7}},
    "Project": {"Type": "AWS::CodeBuild::Project", "Properties": {"Environment": {"PrivilegedMode": true, "Type": "LINUX_CONTAINER", "ComputeType": "BUILD_GENERAL1_SMALL", "Image": "i"}, "Source": {"Type": "NO_SOURCE"}, "Artifacts": {"Type": "NO_ARTIFACTS"}, "ServiceRole": "r", "LogsConfig": {"S3Logs": {"Status": "ENABLED", "Location": {"Ref": "Topic"}}}}},
    "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {"KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}], "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}]}},
    "Repository": {"Type": "AWS::ECR::Repository", "Properties": {"ImageTagMutability": "MUTABLE"}},
    "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
    "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}, "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}}]}}
  }
}`)
	yaml := filepath.Join(t.TempDir(), "template.yaml")
	body := "Resources:\n  OpenBucket:\n    Type: AWS::S3::Bucket\n    Properties: {}\n" +
		"  OpenKey:\n    Type: AWS::KMS::Key\n    Properties:\n      KeyPolicy:\n        Statement:\n" +
		"          - {Effect: Allow, Principal: {AWS: '*'}, Action: 'kms:*', Resource: '*'}\n"
	if err := os.WriteFile(yaml, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	twin := writeTemplate(t, badTemplate)

	g := guard(t)
	// With a YAML template, every rule file runs on the whole templates.
	all, err := g.ValidateAll(template, yaml)
	if err != nil {
		t.Fatal(err)
	}
	if len(all[template]) < 10 || len(all[yaml]) < 2 {
		t.Fatalf("%d and %d failures, want at least 10 and 2:\n%v\n%v", len(all[template]), len(all[yaml]), all[template], all[yaml])
	}
	// The planned runs, and a run for each set of types that rule files
	// name (what the plan makes when runs cost nothing), on the template
	// and on the JSON twin of the YAML one.
	for name, c := range map[string]costs{"planned": measured, "a run a set of types": {}} {
		some, err := g.validate([]string{template, twin}, c)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(some[template], all[template]) || !reflect.DeepEqual(some[twin], all[yaml]) {
			t.Errorf("%s: %v\n%v\nevery rule file on the whole templates: %v\n%v", name, some[template], some[twin], all[template], all[yaml])
		}
	}
}
