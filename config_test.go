package main

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/regioninfo"

	"cicd/constructs/build"
	"cicd/constructs/pipeline"
	"cicd/constructs/validator"
	"cicd/internal/patterntest"
)

const legacyArn = "arn:aws:codestar-connections:us-east-1:123456789012:connection/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"

// env is one environment of a pipelines entry, for the tables below.
func env(name string, extra ...any) map[string]any {
	e := map[string]any{"name": name, "cluster": "apps-" + name, "service": "orders"}
	for i := 0; i+1 < len(extra); i += 2 {
		e[extra[i].(string)] = extra[i+1]
	}
	return e
}

// orders is a pipelines context with one service and the given environments.
func orders(envs ...any) map[string]any {
	return map[string]any{"pipelines": []any{map[string]any{"service": "orders", "environments": envs}}}
}

func with(ctx map[string]any, key string, value any) map[string]any {
	out := map[string]any{}
	for k, v := range ctx {
		out[k] = v
	}
	out[key] = value
	return out
}

func TestLoadConfigErrors(t *testing.T) {
	pipelineWith := func(key string, value any) map[string]any {
		p := map[string]any{"service": "orders", "environments": []any{env("dev")}}
		p[key] = value
		return map[string]any{"pipelines": []any{p}}
	}
	for _, tc := range []struct {
		name string
		ctx  map[string]any
		want string // substring of the error; empty means valid
	}{
		{"defaults", nil, ""},
		{"prod approval", map[string]any{"environmentSuffix": "prod"}, ""},
		{"connection", map[string]any{"sourceProvider": "connection", "connectionArn": legacyArn, "githubRepo": "o/r"}, ""},
		{"empty suffix", map[string]any{"environmentSuffix": ""}, "environmentSuffix"},
		{"suffix case", map[string]any{"environmentSuffix": "Prod"}, `environmentSuffix="Prod"`},
		{"suffix shape", map[string]any{"environmentSuffix": "-dev"}, "environmentSuffix"},
		{"provider", map[string]any{"sourceProvider": "CodeCommit"}, "use codecommit or connection"},
		{"repo name", map[string]any{"repositoryName": "a b"}, "repositoryName"},
		{"no arn", map[string]any{"sourceProvider": "connection", "githubRepo": "o/r"}, "missing context value connectionArn"},
		{"bad arn", map[string]any{"sourceProvider": "connection", "connectionArn": "arn:aws:s3:::x", "githubRepo": "o/r"}, "connectionArn"},
		{"no repo", map[string]any{"sourceProvider": "connection", "connectionArn": legacyArn}, "missing context value githubRepo"},
		{"repo shape", map[string]any{"sourceProvider": "connection", "connectionArn": legacyArn, "githubRepo": "service"}, "githubRepo"},
		{"branch", map[string]any{"branch": "a..b"}, "branch"},
		{"token", map[string]any{"githubTokenParameter": "aws/x"}, "githubTokenParameter"},
		{"cluster", map[string]any{"ecsClusterName": "a/b"}, "ecsClusterName"},
		{"service", map[string]any{"ecsServiceName": ""}, "ecsServiceName"},
		{"container", map[string]any{"containerName": "a b"}, "containerName"},
		{"severity", map[string]any{"scanFailSeverity": "SEVERE"}, "CRITICAL, HIGH, MEDIUM, LOW, NONE"},
		{"email", map[string]any{"notificationEmail": "not-an-email"}, "notificationEmail"},
		{"approval", map[string]any{"requireApproval": "yes"}, "use true or false"},
		{"tags json", map[string]any{"tags": "{"}, "tags"},
		{"tags value", map[string]any{"tags": `{"a":1}`}, "is not a string"},
		{"tags reserved", map[string]any{"tags": `{"Project":"x"}`}, "cannot be replaced"},

		// Unknown keys, at every level, with the nearest known key.
		{"typo flat", map[string]any{"enviromentSuffix": "prod"}, "unknown context key enviromentSuffix (did you mean environmentSuffix?)"},
		{"case flat", map[string]any{"EnvironmentSuffix": "prod"}, "did you mean environmentSuffix?"},
		{"unknown far", map[string]any{"colour": "blue"}, "unknown context key colour: the keys here are environmentSuffix,"},
		{"cdk keys pass", map[string]any{"@aws-cdk/core:newStyleStackSynthesis": true, "aws:cdk:bundling-stacks": []any{}, "acknowledged-issue-numbers": []any{1}}, ""},
		{"typo pipeline", pipelineWith("scanFailSeverty", "HIGH"), "unknown context key pipelines[0].scanFailSeverty (did you mean pipelines[0].scanFailSeverity?)"},
		{"typo source", pipelineWith("source", map[string]any{"provider": "codecommit", "brnach": "main"}), "pipelines[0].source.brnach (did you mean pipelines[0].source.branch?)"},
		{"typo environment", orders(env("dev", "regoin", "us-east-1")), "pipelines[0].environments[0].regoin (did you mean pipelines[0].environments[0].region?)"},
		{"flat with pipelines", with(orders(env("dev")), "environmentSuffix", "dev"), "context key environmentSuffix cannot be set together with pipelines: set environments[].name instead"},
		{"tags with pipelines", with(orders(env("dev")), "tags", map[string]any{"Team": "a"}), ""},

		// pipelines
		{"pipelines string", map[string]any{"pipelines": `[{"service":"orders","environments":[{"name":"dev","cluster":"c","service":"s"}]}]`}, ""},
		{"pipelines bad json", map[string]any{"pipelines": `[{"service":`}, "not JSON"},
		{"pipelines empty", map[string]any{"pipelines": []any{}}, "use a JSON array of pipelines"},
		{"pipelines object", map[string]any{"pipelines": map[string]any{"service": "orders"}}, "use a JSON array of pipelines"},
		{"no service", map[string]any{"pipelines": []any{map[string]any{"environments": []any{env("dev")}}}}, "missing context value pipelines[0].service"},
		{"service shape", pipelineWith("service", "Orders"), `pipelines[0].service="Orders"`},
		{"service reserved", pipelineWith("service", "pipeline-dev"), "kept for the single-environment stacks"},
		{"service twice", map[string]any{"pipelines": []any{
			map[string]any{"service": "orders", "environments": []any{env("dev")}},
			map[string]any{"service": "orders", "environments": []any{env("dev")}},
		}}, "pipelines[1].service=\"orders\": each pipeline needs its own service; pipelines[0] already uses it"},
		{"no environments", map[string]any{"pipelines": []any{map[string]any{"service": "orders"}}}, "missing context value pipelines[0].environments"},
		{"too many environments", orders(env("e1"), env("e2"), env("e3"), env("e4"), env("e5"), env("e6"), env("e7"), env("e8"), env("e9"), env("e10"), env("e11")), "1 to 10 environments"},
		{"environment name twice", orders(env("dev"), env("dev", "cluster", "other")), "environments[1].name=\"dev\": environment names must be unique within a pipeline"},
		{"environment name shape", orders(env("Dev")), `pipelines[0].environments[0].name="Dev"`},
		{"environment without cluster", orders(map[string]any{"name": "dev", "service": "orders"}), "missing context value pipelines[0].environments[0].cluster"},
		{"same service twice", orders(env("dev"), env("qa", "cluster", "apps-dev")), "environment qa deploys the same ECS service (cluster apps-dev, same account and region) as environment dev"},
		{"account without pipelineAccount", orders(env("dev"), env("prod", "account", "333333333333")), "missing context value pipelineAccount: pipelines[0].environments[1] names account 333333333333"},
		{"region without pipelineRegion", with(orders(env("prod", "region", "us-east-1")), "pipelineAccount", "111111111111"), "missing context value pipelineRegion"},
		{"unknown region", with(with(orders(env("prod", "region", "us-east-7")), "pipelineAccount", "111111111111"), "pipelineRegion", "eu-west-1"), `region="us-east-7": did you mean us-east-1?`},
		{"account number", with(orders(env("dev")), "pipelineAccount", 111111111111.0), "use a 12-digit AWS account ID as a string"},
		{"account short", with(orders(env("dev", "account", "1234")), "pipelineAccount", "111111111111"), `account="1234"`},
		{"cross-account", with(with(orders(env("dev"), env("prod", "account", "333333333333", "region", "us-east-1")), "pipelineAccount", "111111111111"), "pipelineRegion", "eu-west-1"), ""},
		{"source typo provider", pipelineWith("source", map[string]any{"provider": "github"}), `pipelines[0].source.provider="github": use codecommit or connection`},
		{"source connection without arn", pipelineWith("source", map[string]any{"provider": "connection", "repository": "o/r"}), "missing context value pipelines[0].source.connectionArn"},
		{"environment approval word", orders(env("dev", "requireApproval", "yes")), `pipelines[0].environments[0].requireApproval="yes": use true or false`},
		{"platform", map[string]any{"platform": "arm64"}, `platform="arm64": use linux/amd64 or linux/arm64`},
		{"platform arm", map[string]any{"platform": "linux/arm64"}, ""},
		{"pipeline platform", pipelineWith("platform", "linux/386"), `pipelines[0].platform="linux/386"`},
		{"unscanned", map[string]any{"unscannedImages": "yes"}, `unscannedImages="yes": use reject or allow`},
		{"pipeline unscanned", pipelineWith("unscannedImages", "allow"), ""},
		{"alarms", map[string]any{"alarms": `{"failedDeployments":3,"validatorErrorMinutes":15}`}, ""},
		{"alarms object", pipelineWith("alarms", map[string]any{"validatorErrors": 2.0}), ""},
		{"alarms zero", map[string]any{"alarms": `{"failedDeployments":0}`}, `alarms.failedDeployments=0: use a JSON object of whole numbers`},
		{"alarms fraction", pipelineWith("alarms", map[string]any{"validatorErrors": 1.5}), `pipelines[0].alarms.validatorErrors=1.5`},
		{"alarms minutes", map[string]any{"alarms": `{"validatorErrorMinutes":2000}`}, "validatorErrorMinutes=2000"},
		{"alarms typo", map[string]any{"alarms": `{"failedDeployment":3}`}, "unknown context key alarms.failedDeployment (did you mean alarms.failedDeployments?)"},
		{"alarms not json", map[string]any{"alarms": `{`}, `alarms="{": use a JSON object of whole numbers`},
		{"task roles", orders(env("prod", "taskRoles", []any{"orders-task", "arn:aws:iam::333333333333:role/path/orders-exec"})), ""},
		{"task roles shape", orders(env("prod", "taskRoles", []any{"orders task"})), "taskRoles"},
		{"task roles empty", orders(env("prod", "taskRoles", []any{})), "taskRoles"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(tc.ctx)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}

// Without pipelines, the flat keys make one pipeline of one environment,
// with the defaults the single-environment stack always had.
func TestFlatConfigDefaults(t *testing.T) {
	cfg, err := LoadConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Tags:              map[string]string{},
		SingleEnvironment: true,
		Pipelines: []PipelineConfig{{
			Service:          "dev",
			Source:           pipeline.Source{Provider: pipeline.SourceCodeCommit, Branch: "main", RepositoryName: "cicd-pipeline-dev"},
			ScanFailSeverity: validator.SeverityCritical,
			Platform:         build.PlatformAMD64,
			UnscannedImages:  validator.UnscannedReject,
			Tags:             map[string]string{},
			Environments: []EnvironmentConfig{{
				Name: "dev", Cluster: "dev", Service: "cicd-pipeline-dev", Container: "app",
			}},
		}},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", cfg, want)
	}
	prod, _ := LoadConfig(map[string]any{"environmentSuffix": "prod"})
	if !prod.Pipelines[0].Environments[0].RequireApproval {
		t.Error("prod must require approval by default")
	}
}

// requireApproval: the last of two or more environments and any named prod
// or production wait for a person, unless the environment says otherwise.
func TestRequireApprovalDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		envs []any
		want []bool
	}{
		{"one environment", []any{env("dev")}, []bool{false}},
		{"one prod", []any{env("prod")}, []bool{true}},
		{"one production", []any{env("production")}, []bool{true}},
		{"last of three", []any{env("dev"), env("staging"), env("live")}, []bool{false, false, true}},
		{"prod in the middle", []any{env("dev"), env("prod"), env("dr")}, []bool{false, true, true}},
		{"explicit", []any{env("dev", "requireApproval", true), env("prod", "requireApproval", false)}, []bool{true, false}},
		{"explicit text", []any{env("dev", "requireApproval", "true"), env("live", "requireApproval", "false")}, []bool{true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadConfig(orders(tc.envs...))
			if err != nil {
				t.Fatal(err)
			}
			var got []bool
			for _, e := range cfg.Pipelines[0].Environments {
				got = append(got, e.RequireApproval)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("requireApproval %v, want %v", got, tc.want)
			}
		})
	}
}

// The README's example configuration is valid as written.
func TestPipelinesConfig(t *testing.T) {
	raw := `{
	  "pipelineAccount": "111111111111",
	  "pipelineRegion": "eu-west-1",
	  "pipelines": [{
	    "service": "orders",
	    "source": {"provider": "connection", "connectionArn": "arn:aws:codeconnections:eu-west-1:111111111111:connection/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
	               "repository": "octo-org/orders", "branch": "main"},
	    "scanFailSeverity": "HIGH",
	    "notificationEmail": "orders-team@example.com",
	    "environments": [
	      {"name": "dev", "cluster": "apps-dev", "service": "orders"},
	      {"name": "staging", "account": "222222222222", "cluster": "apps", "service": "orders"},
	      {"name": "prod", "account": "333333333333", "region": "us-east-1", "cluster": "apps", "service": "orders", "container": "web", "requireApproval": true}
	    ]
	  }]
	}`
	var ctx map[string]any
	if err := json.Unmarshal([]byte(raw), &ctx); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Pipelines[0]
	if cfg.SingleEnvironment || cfg.PipelineAccount != "111111111111" || cfg.PipelineRegion != "eu-west-1" {
		t.Errorf("placement %+v", cfg)
	}
	wantSource := pipeline.Source{Provider: pipeline.SourceConnection, Branch: "main", Owner: "octo-org", Repo: "orders",
		ConnectionArn: "arn:aws:codeconnections:eu-west-1:111111111111:connection/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"}
	if p.Service != "orders" || p.Source != wantSource || p.ScanFailSeverity != validator.SeverityHigh || p.NotificationEmail != "orders-team@example.com" {
		t.Errorf("pipeline %+v", p)
	}
	want := []EnvironmentConfig{
		{Name: "dev", Cluster: "apps-dev", Service: "orders", Container: "app"},
		{Name: "staging", Cluster: "apps", Service: "orders", Container: "app", Account: "222222222222"},
		{Name: "prod", Cluster: "apps", Service: "orders", Container: "web", Account: "333333333333", Region: "us-east-1", RequireApproval: true},
	}
	if !reflect.DeepEqual(p.Environments, want) {
		t.Errorf("environments\n got %+v\nwant %+v", p.Environments, want)
	}
}

func TestNearestKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"enviromentSuffix", "environmentSuffix"},
		{"environmentsuffix", "environmentSuffix"},
		{"brnach", "branch"},
		{"scanFailSeverty", "scanFailSeverity"},
		{"colour", ""},
		{"x", ""},
	} {
		if got := nearest(tc.in, append(ConfigKeys, TopLevelKeys...)); got != tc.want {
			t.Errorf("nearest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEveryKeySaysWhatIsAllowed(t *testing.T) {
	for _, key := range append(ConfigKeys, TopLevelKeys...) {
		if allowed[key] == "" {
			t.Errorf("%s: no description of its allowed values for error messages", key)
		}
	}
	for _, key := range ConfigKeys {
		if key != keyTags && movedKeys[key] == "" {
			t.Errorf("%s: no word on where it goes with pipelines", key)
		}
	}
}

// The region list the configuration checks against is aws-cdk-lib's, which
// grows with each CDK release: when the library knows a region the list
// lacks, add it.
func TestRegionsMatchTheCDK(t *testing.T) {
	var known []string
	for _, r := range *regioninfo.RegionInfo_Regions() {
		known = append(known, *r.Name())
	}
	for _, r := range known {
		if !isRegion(r) {
			t.Errorf("aws-cdk-lib knows region %s, which regions.go does not: add it", r)
		}
	}
	for _, r := range awsRegions {
		if !slices.Contains(known, r) {
			t.Errorf("regions.go lists %s, which aws-cdk-lib does not know", r)
		}
	}
}

// Each limited pattern accepts exactly what the counted repetition it stands
// for accepts: at, under and over each limit, in characters that take one to
// four bytes, and on random values, mostly of the allowed characters.
func TestLimitedIsTheCountedRepetition(t *testing.T) {
	const tagChars = "aZ09 _.:/=+-@éß日本٣\u00a0\U00010400"
	cases := []struct {
		name    string
		m       limited
		counted string
		allowed string
	}{
		{"CodeCommit name", codeCommitPattern, `^[A-Za-z0-9_.-]{1,100}$`, "aZ09_.-"},
		{"ECS name", ecsNamePattern, `^[A-Za-z0-9_-]{1,255}$`, "aZ09_-"},
		{"tag key", tagKeyPattern, `^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`, tagChars},
		{"tag value", tagValuePattern, `^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$`, tagChars},
	}
	rng := rand.New(rand.NewPCG(17, 2026))
	for _, tc := range cases {
		allowed := []rune(tc.allowed)
		value := func(n int) string {
			var b strings.Builder
			for range n {
				if rng.IntN(40) == 0 {
					b.WriteRune([]rune("#!\t\u200b\xff")[rng.IntN(5)])
				} else {
					b.WriteRune(allowed[rng.IntN(len(allowed))])
				}
			}
			return b.String()
		}
		var values []string
		for _, n := range []int{0, 1, 2, 99, 100, 101, 127, 128, 129, 254, 255, 256, 257} {
			for _, r := range []rune{'a', 'é', '日', '\U00010400'} {
				values = append(values, strings.Repeat(string(r), n))
			}
			values = append(values, value(n))
		}
		for range 300 {
			values = append(values, value(rng.IntN(270)))
		}
		patterntest.SameAsCounted(t, tc.name, tc.m, tc.counted, values)
	}
}
