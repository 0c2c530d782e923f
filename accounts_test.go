package main

import (
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"cicd/internal/cdktest"
)

// The stacks of the accounts example: the pipeline's, a stack of roles in
// each other account, and the artifact store in the other region.
const (
	crossPipeline = "cicd-orders"
	crossStaging  = "cicd-orders-access-222222222222-eu-west-1"
	crossProd     = "cicd-orders-access-333333333333-us-east-1"
	crossReplica  = "cicd-orders-artifacts-us-east-1"
)

func TestAccountsStacks(t *testing.T) {
	var names []string
	for _, s := range crossVariant.Stacks(t) {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	want := []string{crossPipeline, crossStaging, crossReplica, crossProd}
	sort.Strings(want)
	if !slices.Equal(names, want) {
		t.Errorf("stacks %v, want %v", names, want)
	}
	// Nothing of the pipeline but the two roles lives in another account.
	for _, name := range []string{crossStaging, crossProd} {
		tpl := crossVariant.Stack(t, name).JSON
		var types []string
		for _, r := range tpl["Resources"].(map[string]any) {
			types = append(types, r.(map[string]any)["Type"].(string))
		}
		sort.Strings(types)
		if got := strings.Join(types, ","); got != "AWS::IAM::Policy,AWS::IAM::Policy,AWS::IAM::Role,AWS::IAM::Role" {
			t.Errorf("%s holds %s, want the deploy and the verify role with their policies", name, got)
		}
	}
}

// Each role in another account trusts the pipeline's account only for the
// one role named: the deploy role the pipeline's role, the verify role the
// validator's.
func TestAccountsRolesTrustOneRole(t *testing.T) {
	trust := func(role string) any {
		return map[string]any{"Statement": []any{map[string]any{
			"Action": "sts:AssumeRole", "Effect": "Allow",
			"Principal": map[string]any{"AWS": "arn:aws:iam::111111111111:root"},
			"Condition": map[string]any{"ArnEquals": map[string]any{"aws:PrincipalArn": map[string]any{
				"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":iam::111111111111:role/" + role}}}}},
		}}, "Version": "2012-10-17"}
	}
	for _, name := range []string{crossStaging, crossProd} {
		tpl := crossVariant.Stack(t, name).Template
		cdktest.ResourceCountIs(t, tpl, "AWS::IAM::Role", 2)
		cdktest.HasResourceProperties(t, tpl, "AWS::IAM::Role", map[string]any{"AssumeRolePolicyDocument": trust("cicd-orders-pipeline")})
		cdktest.HasResourceProperties(t, tpl, "AWS::IAM::Role", map[string]any{"AssumeRolePolicyDocument": trust("cicd-orders-validator")})
	}
	pipe := crossVariant.Stack(t, crossPipeline).Template
	cdktest.HasResourceProperties(t, pipe, "AWS::IAM::Role", map[string]any{"RoleName": "cicd-orders-pipeline"})
	cdktest.HasResourceProperties(t, pipe, "AWS::IAM::Role", map[string]any{"RoleName": "cicd-orders-validator"})
}

// The deploy role may update and describe its one service, register task
// definitions, and pass exactly the task's roles (when configured) to ECS;
// the verify role may only read the service.
func TestAccountsRolePermissions(t *testing.T) {
	prod := crossVariant.Stack(t, crossProd).Template
	statement := func(action, resource any, condition ...any) any {
		st := map[string]any{"Effect": "Allow", "Action": action, "Resource": resource}
		if len(condition) > 0 {
			st["Condition"] = condition[0]
		}
		return st
	}
	service := "arn:aws:ecs:us-east-1:333333333333:service/apps/orders"
	cdktest.HasResourceProperties(t, prod, "AWS::IAM::Policy", map[string]any{
		"PolicyDocument": map[string]any{"Version": "2012-10-17", "Statement": []any{
			statement([]any{"ecs:DescribeServices", "ecs:UpdateService"}, service),
			statement([]any{"ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"}, "*"),
			statement("ecs:TagResource", "arn:aws:ecs:us-east-1:333333333333:task-definition/*",
				map[string]any{"StringEquals": map[string]any{"ecs:CreateAction": "RegisterTaskDefinition"}}),
			statement("ecs:DescribeTasks", "arn:aws:ecs:us-east-1:333333333333:task/apps/*"),
			statement("ecs:ListTasks", "*", map[string]any{"ArnEquals": map[string]any{"ecs:cluster": "arn:aws:ecs:us-east-1:333333333333:cluster/apps"}}),
			statement("iam:PassRole", []any{"arn:aws:iam::333333333333:role/orders-execution", "arn:aws:iam::333333333333:role/orders-task"},
				map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "ecs-tasks.amazonaws.com"}}),
			// prod reads the artifacts in its region's store.
			statement([]any{"s3:GetBucket*", "s3:GetObject*", "s3:List*"}, []any{
				assertions.Match_StringLikeRegexp(jsii.String(`^arn:aws:s3:::cicd-orders-artifacts-us-[a-z0-9]+$`)),
				assertions.Match_StringLikeRegexp(jsii.String(`^arn:aws:s3:::cicd-orders-artifacts-us-[a-z0-9]+/\*$`)),
			}),
			statement([]any{"kms:Decrypt", "kms:DescribeKey"}, "arn:aws:kms:us-east-1:111111111111:key/*"),
		}},
	})
	cdktest.HasResourceProperties(t, prod, "AWS::IAM::Policy", map[string]any{
		"PolicyDocument": map[string]any{"Version": "2012-10-17", "Statement": []any{
			statement("ecs:DescribeServices", service),
			statement("ecs:DescribeTaskDefinition", "*"),
		}},
	})
	// Without taskRoles, the account's roles, passed to ECS tasks only.
	staging := crossVariant.Stack(t, crossStaging).Template
	cdktest.HasResourceProperties(t, staging, "AWS::IAM::Policy", map[string]any{
		"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
			statement("iam:PassRole", "arn:aws:iam::222222222222:role/*",
				map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "ecs-tasks.amazonaws.com"}}),
		})},
	})
}

// Each environment's deploy runs in its region, with the role of its
// account; its verify tells the validator which role to assume where.
func TestAccountsDeployActions(t *testing.T) {
	pipe := crossVariant.Stack(t, crossPipeline)
	roleOf := func(stack, env, role string) string {
		for id, r := range crossVariant.Stack(t, stack).JSON["Resources"].(map[string]any) {
			if r.(map[string]any)["Type"] == "AWS::IAM::Role" && strings.HasPrefix(id, env+role) {
				return r.(map[string]any)["Properties"].(map[string]any)["RoleName"].(string)
			}
		}
		t.Fatalf("%s has no %s role of %s", stack, role, env)
		return ""
	}
	stagingDeploy := "arn:aws:iam::222222222222:role/" + roleOf(crossStaging, "staging", "DeployRole")
	prodDeploy := "arn:aws:iam::333333333333:role/" + roleOf(crossProd, "prod", "DeployRole")
	prodVerify := "arn:aws:iam::333333333333:role/" + roleOf(crossProd, "prod", "VerifyRole")
	for _, name := range []string{stagingDeploy, prodDeploy, prodVerify} {
		// Generated names stay within IAM's limit of 64 characters.
		if n := len(name[strings.LastIndex(name, "/")+1:]); n > 64 {
			t.Errorf("role name of %s is %d characters", name, n)
		}
	}
	cdktest.HasResourceProperties(t, pipe.Template, "AWS::CodePipeline::Pipeline", map[string]any{
		"Stages": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{"Name": "dev", "Actions": assertions.Match_ArrayWith(&[]any{
				assertions.Match_ObjectLike(&map[string]any{"Name": "RollingUpdate", "Region": assertions.Match_Absent()}),
			})}),
			assertions.Match_ObjectLike(&map[string]any{"Name": "staging", "Actions": assertions.Match_ArrayWith(&[]any{
				assertions.Match_ObjectLike(&map[string]any{"Name": "RollingUpdate", "RoleArn": stagingDeploy, "Region": assertions.Match_Absent()}),
			})}),
			assertions.Match_ObjectLike(&map[string]any{"Name": "prod", "Actions": assertions.Match_ArrayWith(&[]any{
				assertions.Match_ObjectLike(&map[string]any{"Name": "RollingUpdate", "RoleArn": prodDeploy, "Region": "us-east-1"}),
				assertions.Match_ObjectLike(&map[string]any{"Name": "VerifyRollout", "Configuration": assertions.Match_ObjectLike(&map[string]any{
					"UserParameters": assertions.Match_StringLikeRegexp(jsii.String(regexp.QuoteMeta(
						`"environment":"prod","target":{"cluster":"apps","service":"orders","container":"web","account":"333333333333","region":"us-east-1","roleArn":"` + prodVerify + `"}`))),
				})}),
			})}),
		}),
		// The prod region's artifacts go to the store of that region.
		"ArtifactStores": assertions.Match_ArrayWith(&[]any{map[string]any{
			"Region": "us-east-1",
			"ArtifactStore": map[string]any{
				"Type":          "S3",
				"Location":      assertions.Match_StringLikeRegexp(jsii.String("^cicd-orders-artifacts-us-")),
				"EncryptionKey": map[string]any{"Type": "KMS", "Id": "arn:aws:kms:us-east-1:111111111111:alias/cicd-orders-artifacts"},
			},
		}}),
	})
	// The validator may assume exactly the verify roles.
	cdktest.HasResourceProperties(t, pipe.Template, "AWS::IAM::Policy", map[string]any{
		"Roles": []any{map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^ValidatorServiceRole"))}},
		"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{map[string]any{
			"Effect": "Allow", "Action": "sts:AssumeRole",
			"Resource": []any{"arn:aws:iam::222222222222:role/" + roleOf(crossStaging, "staging", "VerifyRole"), prodVerify},
		}})},
	})
}

// The repository lets exactly the environments' accounts pull; the artifact
// bucket and key of each region let exactly the deploy role of that region's
// other-account environment read; no policy anywhere allows a wildcard
// principal or an account that is not configured.
func TestAccountsResourcePolicies(t *testing.T) {
	pipe := crossVariant.Stack(t, crossPipeline)
	cdktest.HasResourceProperties(t, pipe.Template, "AWS::ECR::Repository", map[string]any{
		"RepositoryPolicyText": map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
			"Effect":    "Allow",
			"Principal": map[string]any{"AWS": []any{"arn:aws:iam::222222222222:root", "arn:aws:iam::333333333333:root"}},
			"Action":    []any{"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"},
		}}},
	})
	readers := func(stack, typ string) []string {
		var out []string
		for _, r := range cdktest.Resources(crossVariant.Stack(t, stack).JSON, typ) {
			props := r["Properties"].(map[string]any)
			doc, _ := props["PolicyDocument"].(map[string]any)
			if doc == nil {
				doc, _ = props["KeyPolicy"].(map[string]any)
			}
			for _, s := range doc["Statement"].([]any) {
				st := s.(map[string]any)
				p, _ := st["Principal"].(map[string]any)
				if aws, ok := p["AWS"].(string); ok && st["Effect"] == "Allow" && strings.Contains(aws, ":role/") {
					out = append(out, aws)
				}
			}
		}
		sort.Strings(out)
		return out
	}
	staging := []string{"arn:aws:iam::222222222222:role/" + roleName(t, crossStaging, "stagingDeployRole")}
	prod := []string{"arn:aws:iam::333333333333:role/" + roleName(t, crossProd, "prodDeployRole")}
	for _, tc := range []struct {
		stack, typ string
		want       []string
	}{
		{crossPipeline, "AWS::S3::BucketPolicy", staging},
		{crossPipeline, "AWS::KMS::Key", staging},
		{crossReplica, "AWS::S3::BucketPolicy", prod},
		{crossReplica, "AWS::KMS::Key", prod},
	} {
		if got := readers(tc.stack, tc.typ); !slices.Equal(got, tc.want) {
			t.Errorf("%s %s lets roles %v read, want exactly %v", tc.stack, tc.typ, got, tc.want)
		}
	}

	configured := regexp.MustCompile(`arn:aws:iam::(111111111111|222222222222|333333333333):`)
	for _, s := range crossVariant.Stacks(t) {
		for id, r := range s.JSON["Resources"].(map[string]any) {
			props, _ := r.(map[string]any)["Properties"].(map[string]any)
			for _, key := range []string{"PolicyDocument", "KeyPolicy", "RepositoryPolicyText", "AssumeRolePolicyDocument"} {
				doc, _ := props[key].(map[string]any)
				for _, st := range statements(doc) {
					if st["Effect"] != "Allow" {
						continue // a deny with a wildcard principal takes away, never grants
					}
					principal := cdktest.JSON(st["Principal"])
					if strings.Contains(principal, `"*"`) {
						t.Errorf("%s/%s: %s allows a wildcard principal: %s", s.Name, id, key, principal)
					}
					for _, arn := range regexp.MustCompile(`arn:aws:iam::\d{12}:`).FindAllString(principal, -1) {
						if !configured.MatchString(arn) {
							t.Errorf("%s/%s: %s names account %s, which is not configured", s.Name, id, key, arn)
						}
					}
				}
			}
		}
	}
}

func statements(doc map[string]any) []map[string]any {
	list, _ := doc["Statement"].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, s := range list {
		out = append(out, s.(map[string]any))
	}
	return out
}

func roleName(t *testing.T, stack, prefix string) string {
	t.Helper()
	for id, r := range crossVariant.Stack(t, stack).JSON["Resources"].(map[string]any) {
		if strings.HasPrefix(id, prefix) && r.(map[string]any)["Type"] == "AWS::IAM::Role" {
			return r.(map[string]any)["Properties"].(map[string]any)["RoleName"].(string)
		}
	}
	t.Fatalf("no role %s in %s", prefix, stack)
	return ""
}

// The stacks deploy in dependency order: the roles first, then the regional
// store whose policies name the prod deploy role, then the pipeline that
// names them all.
func TestAccountsDeployOrder(t *testing.T) {
	want := map[string]string{
		crossPipeline: crossStaging + "," + crossProd + "," + crossReplica,
		crossReplica:  crossProd,
		crossStaging:  "", crossProd: "",
	}
	for _, s := range crossVariant.Stacks(t) {
		deps := slices.Clone(s.DependsOn)
		sort.Strings(deps)
		if got := strings.Join(deps, ","); got != want[s.Name] {
			t.Errorf("%s depends on %q, want %q", s.Name, got, want[s.Name])
		}
	}
	for name, env := range map[string]string{crossPipeline: "111111111111/eu-west-1", crossStaging: "222222222222/eu-west-1",
		crossProd: "333333333333/us-east-1", crossReplica: "111111111111/us-east-1"} {
		if got := crossVariant.Stack(t, name).Env; got != env {
			t.Errorf("%s is in %s, want %s", name, got, env)
		}
	}
}
