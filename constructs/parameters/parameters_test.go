package parameters_test

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/parameters"
	"cicd/internal/cdktest"
)

func TestMain(m *testing.M) { cdktest.Main(m) }

var fixture = cdktest.NewFixture("parameters", nil, func(stack awscdk.Stack) {
	parameters.New(stack, "Parameters", parameters.Props{
		Prefix: "/cicd-pipeline/test",
		Parameters: []parameters.Parameter{
			{ID: "One", Name: "one", Value: jsii.String("1"), Description: "first"},
			{ID: "Two", Name: "two", Value: stack.Account(), Description: "second"},
		},
	})
})

func TestParametersLiveUnderThePrefix(t *testing.T) {
	_, tpl := fixture.Template(t)
	got := map[string]map[string]any{}
	for _, p := range cdktest.Resources(tpl, "AWS::SSM::Parameter") {
		props := p["Properties"].(map[string]any)
		got[props["Name"].(string)] = props
	}
	if len(got) != 2 {
		t.Fatalf("want two parameters, got %v", got)
	}
	one, ok := got["/cicd-pipeline/test/one"]
	if !ok {
		t.Fatalf("no /cicd-pipeline/test/one in %v", got)
	}
	if one["Value"] != "1" || one["Type"] != "String" || one["Tier"] != "Standard" || one["Description"] != "first" {
		t.Errorf("parameter one: %v", one)
	}
	if _, ok := got["/cicd-pipeline/test/two"]["Value"].(map[string]any); !ok {
		t.Errorf("parameter two should carry the token's reference, got %v", got["/cicd-pipeline/test/two"]["Value"])
	}
}
