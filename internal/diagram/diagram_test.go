package diagram

import (
	"encoding/json"
	"strings"
	"testing"
)

// small is a pipeline stack cut down to what the renderer reads: stages out
// of alphabetical order, two actions in one stage, references through Ref,
// Fn::GetAtt and Fn::Sub, and resources it must leave out (IAM).
const small = `{
  "Resources": {
    "Repo1A2B3C4D": {"Type": "AWS::CodeCommit::Repository", "Properties": {"RepositoryName": "app"}},
    "Images9F8E7D6C": {"Type": "AWS::ECR::Repository", "Properties": {"RepositoryName": "app-images",
      "EncryptionConfiguration": {"KmsKey": {"Fn::GetAtt": ["Key11111111", "Arn"]}}}},
    "Key11111111": {"Type": "AWS::KMS::Key", "Properties": {}},
    "KeyAlias22222222": {"Type": "AWS::KMS::Alias", "Properties": {"AliasName": "alias/app", "TargetKeyId": {"Fn::GetAtt": ["Key11111111", "Arn"]}}},
    "Role33333333": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [{"Resource": {"Ref": "Key11111111"}}]}},
    "Project44444444": {"Type": "AWS::CodeBuild::Project", "Properties": {"Name": "app-build",
      "ServiceRole": {"Fn::GetAtt": ["Role33333333", "Arn"]},
      "Environment": {"EnvironmentVariables": [{"Name": "URI", "Value": {"Fn::Sub": "${Images9F8E7D6C.RepositoryUri}"}}]}}},
    "Param55555555": {"Type": "AWS::SSM::Parameter", "Properties": {"Name": "/app/uri", "Value": {"Ref": "Images9F8E7D6C"}}},
    "Pipe66666666": {"Type": "AWS::CodePipeline::Pipeline", "Properties": {"Name": "app", "PipelineType": "V2", "Stages": [
      {"Name": "Source", "Actions": [{"Name": "Checkout", "ActionTypeId": {"Category": "Source", "Provider": "CodeCommit"},
        "Configuration": {"RepositoryName": {"Fn::GetAtt": ["Repo1A2B3C4D", "Name"]}, "BranchName": "trunk"}}]},
      {"Name": "Build", "Actions": [
        {"Name": "Lint", "RunOrder": 2, "ActionTypeId": {"Category": "Build", "Provider": "CodeBuild"}, "Configuration": {"ProjectName": {"Ref": "Project44444444"}}},
        {"Name": "Compile", "RunOrder": 1, "ActionTypeId": {"Category": "Build", "Provider": "CodeBuild"}, "Configuration": {"ProjectName": {"Ref": "Project44444444"}}}]},
      {"Name": "Approve", "Actions": [{"Name": "Approve", "ActionTypeId": {"Category": "Approval", "Provider": "Manual"}}]}
    ]}}
  }
}`

func parse(t *testing.T, s string) Template {
	t.Helper()
	var tpl Template
	if err := json.Unmarshal([]byte(s), &tpl); err != nil {
		t.Fatal(err)
	}
	return tpl
}

func TestMermaidSmallTemplate(t *testing.T) {
	got, err := Mermaid(parse(t, small))
	if err != nil {
		t.Fatal(err)
	}
	want := `flowchart LR
  subgraph Pipe66666666["CodePipeline V2 app"]
    direction LR
    subgraph Pipe66666666_Source["Source"]
      Pipe66666666_Source_Checkout["Checkout<br/>CodeCommit"]
    end
    subgraph Pipe66666666_Build["Build"]
      Pipe66666666_Build_Compile["Compile<br/>CodeBuild"]
      Pipe66666666_Build_Lint["Lint<br/>CodeBuild"]
    end
    subgraph Pipe66666666_Approve["Approve"]
      Pipe66666666_Approve_Approve["Approve<br/>manual approval"]
    end
  end
  Pipe66666666_Source_Checkout --> Pipe66666666_Build_Compile
  Pipe66666666_Build_Compile --> Pipe66666666_Build_Lint
  Pipe66666666_Build_Lint --> Pipe66666666_Approve_Approve
  ext_push(["git push to trunk"])
  ext_push --> Repo1A2B3C4D
  Repo1A2B3C4D -->|"checkout"| Pipe66666666_Source_Checkout
  Pipe66666666_Build_Compile -->|"runs"| Project44444444
  Pipe66666666_Build_Lint -->|"runs"| Project44444444
  Images9F8E7D6C[("ECR repository<br/>app-images")]
  Project44444444[["CodeBuild project<br/>app-build"]]
  Repo1A2B3C4D[("CodeCommit repository<br/>app")]
  Project44444444 -->|"pushes the tested image"| Images9F8E7D6C
  Key11111111{{"KMS key<br/>alias/app<br/>encrypts ECR"}}
  ext_ssm["SSM parameters<br/>/app/uri"]
`
	if got != want {
		t.Errorf("diagram:\n%s\nwant:\n%s", got, want)
	}
}

// The same template, whatever the order its maps are read in, gives the
// same text: the README check depends on it.
func TestMermaidDeterministic(t *testing.T) {
	first, err := Mermaid(parse(t, small))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		again, _ := Mermaid(parse(t, small))
		if again != first {
			t.Fatalf("render %d differs:\n%s\nfirst:\n%s", i, again, first)
		}
	}
}

func TestMermaidConnectionTrigger(t *testing.T) {
	got, err := Mermaid(parse(t, `{"Resources": {"P": {"Type": "AWS::CodePipeline::Pipeline", "Properties": {
	  "Stages": [{"Name": "Source", "Actions": [{"Name": "Checkout", "ActionTypeId": {"Category": "Source", "Provider": "CodeStarSourceConnection"},
	    "Configuration": {"FullRepositoryId": "octo/app", "BranchName": "release", "ConnectionArn": "arn:aws:codeconnections:eu-west-1:123456789012:connection/x"}}]}],
	  "Triggers": [{"ProviderType": "CodeStarSourceConnection", "GitConfiguration": {"SourceActionName": "Checkout",
	    "Push": [{"Branches": {"Includes": ["release"]}}]}}]}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`ext_P_Source_Checkout[("Git repository<br/>octo/app<br/>through CodeConnections")]`,
		`ext_push --> ext_P_Source_Checkout`,
		`ext_P_Source_Checkout -->|"pipeline trigger: push to release"| P`,
	} {
		if !strings.Contains(got, "  "+line+"\n") {
			t.Errorf("diagram lacks %q:\n%s", line, got)
		}
	}
}

// Every environment's Verify draws its own check of that environment's
// service; the dashboard and the alarms are drawn, the rules that only count
// executions for the dashboard are not.
func TestMermaidVerifyTargetsDashboardAndAlarms(t *testing.T) {
	verify := func(env, cluster string) string {
		return `{"Name": "` + env + `", "Actions": [
	    {"Name": "RollingUpdate", "RunOrder": 1, "ActionTypeId": {"Category": "Deploy", "Provider": "ECS"}, "Configuration": {"ClusterName": "` + cluster + `", "ServiceName": "web"}},
	    {"Name": "VerifyRollout", "RunOrder": 2, "ActionTypeId": {"Category": "Invoke", "Provider": "Lambda"}, "Configuration": {"FunctionName": {"Ref": "Fn"},
	      "UserParameters": "{\"mode\":\"verify\",\"environment\":\"` + env + `\",\"target\":{\"cluster\":\"` + cluster + `\",\"service\":\"web\"}}"}}]}`
	}
	got, err := Mermaid(parse(t, `{"Resources": {
	  "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"FunctionName": "app-validator"}},
	  "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "app-notifications"}},
	  "Board": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {"DashboardName": "app", "DashboardBody": {"Fn::Join": ["", [{"Ref": "Fn"}]]}}},
	  "AlarmDev": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"AlarmName": "app-dev-failed-deployments", "AlarmActions": [{"Ref": "Topic"}]}},
	  "AlarmFn": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"AlarmName": "app-validator-errors", "AlarmActions": [{"Ref": "Topic"}]}},
	  "Counter": {"Type": "AWS::Events::Rule", "Properties": {"Description": "Counts executions", "EventPattern": {"resources": [{"Ref": "P"}]}}},
	  "Announce": {"Type": "AWS::Events::Rule", "Properties": {"Description": "Announces failures", "EventPattern": {"resources": [{"Ref": "P"}]},
	    "Targets": [{"Arn": {"Ref": "Topic"}, "Id": "t"}]}},
	  "P": {"Type": "AWS::CodePipeline::Pipeline", "Properties": {"Stages": [`+verify("dev", "apps-dev")+`, `+verify("prod", "apps-prod")+`]}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`Fn -->|"checks the rollout"| ext_ecs_apps_dev_web`,
		`Fn -->|"checks the rollout"| ext_ecs_apps_prod_web`,
		`Board[/"CloudWatch dashboard<br/>app"/]`,
		`ext_alarms["CloudWatch alarms<br/>app-dev-failed-deployments<br/>app-validator-errors"]`,
		`ext_alarms -->|"alarm"| Topic`,
		`Board -.->|"shows"| ext_alarms`,
		`Announce{{"EventBridge rule<br/>Announces failures"}}`,
	} {
		if !strings.Contains(got, "  "+line+"\n") {
			t.Errorf("diagram lacks %q:\n%s", line, got)
		}
	}
	if strings.Contains(got, "Counter") {
		t.Errorf("a rule without targets (a counter for the dashboard) is drawn:\n%s", got)
	}
	if strings.Contains(got, "Board -->") {
		t.Errorf("the dashboard is a view, not a step: no arrows from it but to the alarms:\n%s", got)
	}
}

func TestMermaidRejectsOtherTemplates(t *testing.T) {
	for _, tc := range []struct{ tpl, want string }{
		{`{}`, "no Resources"},
		{`{"Resources": {"B": {"Type": "AWS::S3::Bucket"}}}`, "no AWS::CodePipeline::Pipeline"},
	} {
		if _, err := Mermaid(parse(t, tc.tpl)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one with %q", tc.tpl, err, tc.want)
		}
	}
}

func TestReplaceAndExtract(t *testing.T) {
	doc := "# title\n\nintro\n\n" + Begin + "\nold\n" + End + "\n\n## next\n"
	out, err := Replace(doc, Block("flowchart LR\n  a --> b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "# title\n\nintro\n\n"+Begin+"\n") || !strings.HasSuffix(out, "\n"+End+"\n\n## next\n") || strings.Contains(out, "old") {
		t.Errorf("replace kept the wrong parts:\n%s", out)
	}
	block, err := Extract(out)
	if err != nil || block != Block("flowchart LR\n  a --> b\n") {
		t.Errorf("extract: %q, %v", block, err)
	}
	again, _ := Replace(out, block)
	if again != out {
		t.Error("replacing a block with itself changed the document")
	}
	for _, bad := range []string{"no markers\n", End + "\n" + Begin + "\n", Begin + "\n" + End + "\n" + Begin + "\n" + End + "\n"} {
		if _, err := Extract(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
