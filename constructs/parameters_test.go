package constructs_test

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/parameters"
	"cicd/internal/cdktest"
)

var parametersFixture = cdktest.NewFixture("parameters", nil, func(stack awscdk.Stack) {
	parameters.New(stack, "Parameters", parameters.Props{
		Prefix: "/cicd-pipeline/test",
		Parameters: []parameters.Parameter{
			{ID: "One", Name: "one", Value: jsii.String("1"), Description: "first"},
			{ID: "Two", Name: "two", Value: stack.Account(), Description: "second"},
		},
	})
})

func TestParametersLiveUnderThePrefix(t *testing.T) {
	tpl, _ := parametersFixture.Template(t)
	cdktest.ResourceCountIs(t, tpl, "AWS::SSM::Parameter", 2)
	cdktest.HasResourceProperties(t, tpl, "AWS::SSM::Parameter", map[string]any{
		"Name": "/cicd-pipeline/test/one", "Value": "1", "Type": "String", "Tier": "Standard", "Description": "first",
	})
	// The second parameter carries the token's reference, not its text.
	cdktest.HasResourceProperties(t, tpl, "AWS::SSM::Parameter", map[string]any{
		"Name": "/cicd-pipeline/test/two", "Value": assertions.Match_ObjectLike(&map[string]any{}),
	})
}
