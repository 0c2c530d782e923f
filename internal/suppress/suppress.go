// Package suppress records, on the resource that has them, the findings of
// the security checks that are accepted, each with the reason it is safe:
// cdk-nag rule suppressions and cfn-lint rule ignores. Both are template
// metadata only; nothing that is deployed changes.
package suppress

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
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
func Resource(c constructs.IConstruct, rules ...Nag) {
	resource := cfnResourceOrNil(c)
	if resource == nil {
		return
	}
	suppressions := make([]*cdknag.NagPackSuppression, 0, len(rules))
	for _, r := range rules {
		s := &cdknag.NagPackSuppression{Id: jsii.String(r.Rule), Reason: jsii.String(r.Reason)}
		if len(r.AppliesTo)+len(r.AppliesToPattern) > 0 {
			applies := make([]interface{}, 0, len(r.AppliesTo)+len(r.AppliesToPattern))
			for _, a := range r.AppliesTo {
				applies = append(applies, a)
			}
			for _, p := range r.AppliesToPattern {
				applies = append(applies, &cdknag.RegexAppliesTo{Regex: jsii.String("/^" + p + "$/")})
			}
			s.AppliesTo = &applies
		}
		suppressions = append(suppressions, s)
	}
	cdknag.NagSuppressions_AddResourceSuppressions(resource, &suppressions, jsii.Bool(false))
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
