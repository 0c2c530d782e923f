// Package suppress records, on the resource that has them, the findings of
// the security checks that are accepted, each with the reason it is safe:
// cdk-nag rule suppressions and cfn-lint rule ignores. Both are template
// metadata only; nothing that is deployed changes.
package suppress

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf16"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// IAM5 is cdk-nag's rule against wildcards in IAM policies. Its findings are
// granular: "Action::s3:List*", "Resource::*", ...
const IAM5 = "AwsSolutions-IAM5"

// Nag is one accepted cdk-nag finding.
type Nag struct {
	// Rule is the cdk-nag rule ID, e.g. AwsSolutions-IAM5.
	Rule string
	// Reason says why the finding is safe.
	Reason string
	// AppliesTo lists the exact granular findings accepted; empty accepts
	// the rule as a whole, which only non-granular rules should do.
	AppliesTo []string
	// AppliesToPattern lists granular findings by regular expression (ECMA
	// 262, anchored), for a finding that names a generated physical name,
	// which is not known while the app is built.
	AppliesToPattern []string
}

// KeyGrant is the finding of CDK's encrypt/decrypt grant on a KMS key.
var KeyGrant = Nag{
	Rule: IAM5,
	Reason: "CDK's encrypt/decrypt grant on the pipeline key: kms:GenerateDataKey* and kms:ReEncrypt* " +
		"are the families of data-key and re-encrypt operations, and the statement's resource is that one key",
	AppliesTo: []string{"Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*"},
}

// Resource records the suppressions on c's own CloudFormation resource (c,
// or its default child), never on the resources below it. A construct with
// no resource (nil, or imported) has no findings to suppress.
//
// The record is the resource's cdk_nag metadata, as cdk-nag's
// NagSuppressions.addResourceSuppressions writes it: what is there already
// (from this package or from cdk-nag itself) kept, then each new suppression
// that is not there yet. Writing it here spares the app loading cdk-nag,
// about 0.25 s of every synth; only the checks (the tests) load it.
func Resource(c constructs.IConstruct, rules ...Nag) {
	resource := cfnResourceOrNil(c)
	if resource == nil || len(rules) == 0 {
		return
	}
	var suppressions []any
	seen := map[string]bool{}
	add := func(s any) {
		key, err := json.Marshal(s)
		if err != nil {
			panic(fmt.Sprintf("suppress: the cdk_nag metadata of %s: %v", *resource.Node().Path(), err))
		}
		if !seen[string(key)] {
			seen[string(key)] = true
			suppressions = append(suppressions, s)
		}
	}
	if existing, ok := resource.GetMetadata(jsii.String(nagMetadata)).(map[string]any); ok {
		if list, ok := existing[nagRules].([]any); ok {
			for _, s := range list {
				add(s)
			}
		}
	}
	for _, r := range rules {
		if err := r.check(); err != nil {
			panic(fmt.Sprintf("suppress: %s: %v", *resource.Node().Path(), err))
		}
		add(r.metadata())
	}
	resource.AddMetadata(jsii.String(nagMetadata), map[string]any{nagRules: suppressions})
}

// The metadata key cdk-nag reads on a resource, and its list of suppressions.
const (
	nagMetadata = "cdk_nag"
	nagRules    = "rules_to_suppress"
)

// check refuses what cdk-nag refuses when it reads a suppression: a rule ID
// that names a finding, and a reason shorter than 10 characters.
func (n Nag) check() error {
	if findingInID.MatchString(n.Rule) {
		return fmt.Errorf("the suppression of %s names a finding in its rule ID: list the finding in AppliesTo", n.Rule)
	}
	if len(utf16.Encode([]rune(n.Reason))) < 10 {
		return fmt.Errorf("the suppression of %s has the reason %q: cdk-nag wants 10 characters or more", n.Rule, n.Reason)
	}
	return nil
}

// findingInID is how cdk-nag tells a finding written into a rule ID.
var findingInID = regexp.MustCompile(`\[.*\]`)

// metadata is the suppression in cdk-nag's template format: reason, id and
// applies_to, with a reason that has characters beyond Latin-1 in base64
// (is_reason_encoded), as cdk-nag writes it.
func (n Nag) metadata() map[string]any {
	m := map[string]any{"id": n.Rule, "reason": n.Reason}
	if strings.ContainsFunc(n.Reason, func(r rune) bool { return r > 255 }) {
		m["reason"] = base64.StdEncoding.EncodeToString([]byte(n.Reason))
		m["is_reason_encoded"] = true
	}
	if len(n.AppliesTo)+len(n.AppliesToPattern) > 0 {
		applies := make([]any, 0, len(n.AppliesTo)+len(n.AppliesToPattern))
		for _, a := range n.AppliesTo {
			applies = append(applies, a)
		}
		for _, p := range n.AppliesToPattern {
			applies = append(applies, map[string]any{"regex": "/^" + p + "$/"})
		}
		m["applies_to"] = applies
	}
	return m
}

// Policy records the suppressions on the default policy of role, where CDK
// grants put their statements.
func Policy(role constructs.IConstruct, rules ...Nag) {
	Resource(Child(role, "DefaultPolicy"), rules...)
}

// Owned tells whether c is, or has as its default child, a CloudFormation
// resource of the app (an imported resource is not).
func Owned(c constructs.IConstruct) bool {
	return c != nil && cfnResourceOrNil(c) != nil
}

// Lint makes cfn-lint skip the given rules on c's resource only, through
// the resource's cfn-lint metadata.
func Lint(c constructs.IConstruct, rules ...string) {
	resource := cfnResourceOrNil(c)
	if resource == nil {
		return
	}
	resource.AddMetadata(jsii.String("cfn-lint"), map[string]interface{}{
		"config": map[string]interface{}{"ignore_checks": rules},
	})
}

// GetAtt is an attribute of c's resource as cdk-nag writes it in a finding:
// "<LogicalId.Attribute>".
func GetAtt(c constructs.IConstruct, attribute string) string {
	return "<" + LogicalID(c) + "." + attribute + ">"
}

// Ref is a reference to c's resource as cdk-nag writes it: "<LogicalId>".
func Ref(c constructs.IConstruct) string {
	return "<" + LogicalID(c) + ">"
}

// Arn is an ARN of c's stack as cdk-nag shows it in a finding's resource:
// partition, region and account as <AWS::...> placeholders where the stack
// leaves them to deployment, literal where its environment names them.
// region "" leaves the region out (IAM).
func Arn(c constructs.IConstruct, service string, region bool, resource string) string {
	stack := awscdk.Stack_Of(c)
	partition, reg, account := "<AWS::Partition>", "<AWS::Region>", "<AWS::AccountId>"
	if r := *stack.Region(); !*awscdk.Token_IsUnresolved(jsii.String(r)) {
		// A concrete region: CDK writes the partition it belongs to.
		reg = r
		if p := *stack.Partition(); !*awscdk.Token_IsUnresolved(jsii.String(p)) {
			partition = p
		}
	}
	if a := *stack.Account(); !*awscdk.Token_IsUnresolved(jsii.String(a)) {
		account = a
	}
	if !region {
		reg = ""
	}
	return "arn:" + partition + ":" + service + ":" + reg + ":" + account + ":" + resource
}

// LogicalID is the logical ID of c's resource in its stack.
func LogicalID(c constructs.IConstruct) string {
	return *awscdk.Stack_Of(c).GetLogicalId(cfnResource(c))
}

// Child walks down from c by construct IDs; nil when a step is missing.
// A suppression aimed at a construct that CDK no longer makes then has no
// effect, and the finding it covered shows up in the cdk-nag test.
func Child(c constructs.IConstruct, path ...string) constructs.IConstruct {
	for _, id := range path {
		if c == nil {
			return nil
		}
		c = c.Node().TryFindChild(jsii.String(id))
	}
	return c
}

func cfnResource(c constructs.IConstruct) awscdk.CfnResource {
	if r := cfnResourceOrNil(c); r != nil {
		return r
	}
	panic(fmt.Sprintf("suppress: %s is not a CloudFormation resource of the app and has none as its default child", *c.Node().Path()))
}

func cfnResourceOrNil(c constructs.IConstruct) awscdk.CfnResource {
	if c == nil {
		return nil
	}
	if r, ok := c.(awscdk.CfnResource); ok {
		return r
	}
	if r, ok := c.Node().DefaultChild().(awscdk.CfnResource); ok {
		return r
	}
	return nil
}
