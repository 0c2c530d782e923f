package constructs_test

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecr"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/registry"
	"cicd/internal/cdktest"
)

// grantees adds to the fixture one role per grant of the registry.
func grantees(stack awscdk.Stack, repo awsecr.IRepository) {
	role := func(id string) awsiam.Role {
		return awsiam.NewRole(stack, jsii.String(id), &awsiam.RoleProps{
			AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		})
	}
	registry.GrantFindImages(repo, role("Finder"))
	registry.GrantReadScanResults(repo, role("ScanReader"))
	registry.GrantProtectDeployed(repo, role("Protector"))
}

// TestGrants: each grant is exactly its contract's ECR actions, on the
// repository only.
func TestGrants(t *testing.T) {
	tpl, _ := registryFixture.Template(t)
	for role, actions := range map[string]any{
		// Whether the commit's image is there: no content, no findings (one
		// action is written as a string).
		"Finder": "ecr:DescribeImages",
		// The scan's verdict: no image content.
		"ScanReader": []any{"ecr:DescribeImageScanFindings", "ecr:DescribeImages"},
		// A deployed tag on an existing manifest: no layer upload
		// (InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload), no delete.
		"Protector": []any{"ecr:BatchGetImage", "ecr:DescribeImages", "ecr:PutImage"},
	} {
		t.Run(role, func(t *testing.T) {
			cdktest.HasResourceProperties(t, tpl, "AWS::IAM::Policy", map[string]any{
				"Roles": []any{map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^" + role))}},
				"PolicyDocument": map[string]any{"Statement": []any{
					assertions.Match_ObjectEquals(&map[string]any{
						"Action": actions, "Effect": "Allow",
						"Resource": map[string]any{"Fn::GetAtt": []any{assertions.Match_StringLikeRegexp(jsii.String("^RegistryRepository")), "Arn"}},
					}),
				}},
			})
		})
	}
}
