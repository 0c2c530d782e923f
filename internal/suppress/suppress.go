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
}

// KeyGrant is the finding of CDK's encrypt/decrypt grant on a KMS key.
var KeyGrant = Nag{
	Rule: IAM5,
	Reason: "CDK's encrypt/decrypt grant on the pipeline key: kms:GenerateDataKey* and kms:ReEncrypt* " +
		"are the families of data-key and re-encrypt operations, and the statement's resource is that one key",
	AppliesTo: []string{"Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*"},
}

// Resource records the suppressions on c's own CloudFormation resource (c,
// or its default child), never on the resources below it.
func Resource(c constructs.IConstruct, rules ...Nag) {
	suppressions := make([]*cdknag.NagPackSuppression, 0, len(rules))
	for _, r := range rules {
		s := &cdknag.NagPackSuppression{Id: jsii.String(r.Rule), Reason: jsii.String(r.Reason)}
		if len(r.AppliesTo) > 0 {
			applies := make([]interface{}, len(r.AppliesTo))
			for i, a := range r.AppliesTo {
				applies[i] = a
			}
			s.AppliesTo = &applies
		}
		suppressions = append(suppressions, s)
	}
	cdknag.NagSuppressions_AddResourceSuppressions(cfnResource(c), &suppressions, jsii.Bool(false))
}

// Policy records the suppressions on the default policy of role, where CDK
// grants put their statements.
func Policy(role constructs.IConstruct, rules ...Nag) {
	Resource(Child(role, "DefaultPolicy"), rules...)
}

// Lint makes cfn-lint skip the given rules on c's resource only, through
// the resource's cfn-lint metadata.
func Lint(c constructs.IConstruct, rules ...string) {
	cfnResource(c).AddMetadata(jsii.String("cfn-lint"), map[string]interface{}{
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

// LogicalID is the logical ID of c's resource in its stack.
func LogicalID(c constructs.IConstruct) string {
	return *awscdk.Stack_Of(c).GetLogicalId(cfnResource(c))
}

// Child walks down from c by construct IDs and panics, naming the missing
// step, when one is absent: a suppression aimed at a construct that CDK no
// longer makes is a bug to fix, not to skip.
func Child(c constructs.IConstruct, path ...string) constructs.IConstruct {
	for _, id := range path {
		next := c.Node().TryFindChild(jsii.String(id))
		if next == nil {
			panic(fmt.Sprintf("suppress: no construct %q under %s", id, *c.Node().Path()))
		}
		c = next
	}
	return c
}

func cfnResource(c constructs.IConstruct) awscdk.CfnResource {
	if r, ok := c.(awscdk.CfnResource); ok {
		return r
	}
	if child := c.Node().DefaultChild(); child != nil {
		if r, ok := child.(awscdk.CfnResource); ok {
			return r
		}
	}
	panic(fmt.Sprintf("suppress: %s is not a CloudFormation resource and has none as its default child", *c.Node().Path()))
}
