// Package dataguard compares two cloud assemblies (the base branch's and a
// pull request's cdk.out) and finds the resources that hold data which the
// pull request would replace or remove: a property that forces replacement,
// a changed logical ID, a removed resource, or a removed stack.
//
// Replacement is decided from CloudFormation's own rules: the
// createOnlyProperties of the resource provider schemas (createonly.json,
// generated from cfn-lint's copy of them) and, when the CDK CLI is at hand,
// the replacement impact that its `cdk diff` computes.
package dataguard
