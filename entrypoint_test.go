package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cicd/internal/cdktest"
	"cicd/internal/gomod"
)

const (
	goodArn = "arn:aws:codeconnections:eu-west-1:123456789012:connection/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
	lowerID = "lowercase letters, digits and hyphens"
	ecsName = "1-255 letters, digits, hyphens and underscores"
)

// badConfig is one bad context and the error line it must give: the key, the
// value as shown (`key="value"`, or "missing context value key") and a
// phrase of what is allowed.
type badConfig struct {
	name    string
	context map[string]any
	key     string
	shown   string
	allowed string
}

func connection(extra map[string]any) map[string]any {
	ctx := map[string]any{"sourceProvider": "connection", "connectionArn": goodArn, "githubRepo": "octo-org/service"}
	for k, v := range extra {
		if v == nil {
			delete(ctx, k)
			continue
		}
		ctx[k] = v
	}
	return ctx
}

var badConfigs = []badConfig{
	{"suffix empty", map[string]any{"environmentSuffix": ""}, "environmentSuffix", `environmentSuffix=""`, lowerID},
	{"suffix case", map[string]any{"environmentSuffix": "Dev"}, "environmentSuffix", `environmentSuffix="Dev"`, lowerID},
	{"suffix shape", map[string]any{"environmentSuffix": "dev_1"}, "environmentSuffix", `environmentSuffix="dev_1"`, lowerID},
	{"suffix too long", map[string]any{"environmentSuffix": "a-very-long-environment"}, "environmentSuffix", `environmentSuffix="a-very-long-environment"`, "1-20"},
	{"suffix not text", map[string]any{"environmentSuffix": map[string]any{"name": "dev"}}, "environmentSuffix", `environmentSuffix={"name":"dev"}`, lowerID},

	{"provider empty", map[string]any{"sourceProvider": ""}, "sourceProvider", `sourceProvider=""`, "use codecommit or connection"},
	{"provider case", map[string]any{"sourceProvider": "CodeCommit"}, "sourceProvider", `sourceProvider="CodeCommit"`, "use codecommit or connection"},
	{"provider unknown", map[string]any{"sourceProvider": "github"}, "sourceProvider", `sourceProvider="github"`, "use codecommit or connection"},

	{"repository empty", map[string]any{"repositoryName": ""}, "repositoryName", `repositoryName=""`, "1-100 letters"},
	{"repository shape", map[string]any{"repositoryName": "my repo"}, "repositoryName", `repositoryName="my repo"`, "1-100 letters"},
	{"repository .git", map[string]any{"repositoryName": "service.git"}, "repositoryName", `repositoryName="service.git"`, "not ending in .git"},

	{"connection without arn", connection(map[string]any{"connectionArn": nil}), "connectionArn", "missing context value connectionArn", "arn:aws:codeconnections:"},
	{"arn empty", connection(map[string]any{"connectionArn": ""}), "connectionArn", "missing context value connectionArn", "arn:aws:codeconnections:"},
	{"arn shape", connection(map[string]any{"connectionArn": "arn:aws:s3:::bucket"}), "connectionArn", `connectionArn="arn:aws:s3:::bucket"`, "connection/UUID"},
	{"arn case", connection(map[string]any{"connectionArn": strings.ToUpper(goodArn)}), "connectionArn", `connectionArn="` + strings.ToUpper(goodArn) + `"`, "connection/UUID"},

	{"connection without repo", connection(map[string]any{"githubRepo": nil}), "githubRepo", "missing context value githubRepo", "owner/repo"},
	{"repo shape", connection(map[string]any{"githubRepo": "service"}), "githubRepo", `githubRepo="service"`, "owner/repo"},
	{"repo too deep", connection(map[string]any{"githubRepo": "octo/org/service"}), "githubRepo", `githubRepo="octo/org/service"`, "owner/repo"},

	{"branch empty", map[string]any{"branch": ""}, "branch", `branch=""`, "git branch name"},
	{"branch dots", map[string]any{"branch": "a..b"}, "branch", `branch="a..b"`, "no '..'"},
	{"branch space", map[string]any{"branch": "my branch"}, "branch", `branch="my branch"`, "no spaces"},
	{"branch option", map[string]any{"branch": "-main"}, "branch", `branch="-main"`, "not starting with '-'"},

	{"token reserved", map[string]any{"githubTokenParameter": "aws/token"}, "githubTokenParameter", `githubTokenParameter="aws/token"`, "not starting with aws or ssm"},
	{"token shape", map[string]any{"githubTokenParameter": "/my token"}, "githubTokenParameter", `githubTokenParameter="/my token"`, "SSM parameter name"},

	{"cluster empty", map[string]any{"ecsClusterName": ""}, "ecsClusterName", `ecsClusterName=""`, ecsName},
	{"cluster arn", map[string]any{"ecsClusterName": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod"}, "ecsClusterName", `ecsClusterName="arn:aws:ecs:eu-west-1:123456789012:cluster/prod"`, ecsName},
	{"service empty", map[string]any{"ecsServiceName": ""}, "ecsServiceName", `ecsServiceName=""`, ecsName},
	{"service shape", map[string]any{"ecsServiceName": "web service"}, "ecsServiceName", `ecsServiceName="web service"`, ecsName},
	{"container empty", map[string]any{"containerName": ""}, "containerName", `containerName=""`, ecsName},
	{"container shape", map[string]any{"containerName": "app:latest"}, "containerName", `containerName="app:latest"`, ecsName},

	{"severity empty", map[string]any{"scanFailSeverity": ""}, "scanFailSeverity", `scanFailSeverity=""`, "CRITICAL, HIGH, MEDIUM, LOW, NONE"},
	{"severity case", map[string]any{"scanFailSeverity": "critical"}, "scanFailSeverity", `scanFailSeverity="critical"`, "CRITICAL, HIGH, MEDIUM, LOW, NONE"},
	{"severity unknown", map[string]any{"scanFailSeverity": "SEVERE"}, "scanFailSeverity", `scanFailSeverity="SEVERE"`, "CRITICAL, HIGH, MEDIUM, LOW, NONE"},

	{"email without domain", map[string]any{"notificationEmail": "team@"}, "notificationEmail", `notificationEmail="team@"`, "team@example.com"},
	{"email without dot", map[string]any{"notificationEmail": "team@example"}, "notificationEmail", `notificationEmail="team@example"`, "team@example.com"},
	{"email with name", map[string]any{"notificationEmail": "Team <team@example.com>"}, "notificationEmail", `notificationEmail="Team <team@example.com>"`, "plain e-mail address"},
	{"email list", map[string]any{"notificationEmail": "a@example.com,b@example.com"}, "notificationEmail", `notificationEmail="a@example.com,b@example.com"`, "plain e-mail address"},

	{"approval empty", map[string]any{"requireApproval": ""}, "requireApproval", `requireApproval=""`, "use true or false"},
	{"approval case", map[string]any{"requireApproval": "True"}, "requireApproval", `requireApproval="True"`, "use true or false"},
	{"approval word", map[string]any{"requireApproval": "yes"}, "requireApproval", `requireApproval="yes"`, "use true or false"},
	{"approval number", map[string]any{"requireApproval": 1}, "requireApproval", `requireApproval=1`, "use true or false"},

	{"tags malformed", map[string]any{"tags": `{"CostCenter":`}, "tags", `tags="{\"CostCenter\":"`, "JSON object of string values"},
	{"tags array", map[string]any{"tags": `["CostCenter"]`}, "tags", `tags="[\"CostCenter\"]"`, "JSON object of string values"},
	{"tags null", map[string]any{"tags": `null`}, "tags", `tags="null"`, "JSON object of string values"},
	{"tags number value", map[string]any{"tags": `{"CostCenter":1234}`}, "tags", `tags="{\"CostCenter\":1234}"`, `the value of "CostCenter" is not a string`},
	{"tags reserved", map[string]any{"tags": map[string]any{"Project": "other"}}, "tags", `tags={"Project":"other"}`, "cannot be replaced"},
	{"tags aws prefix", map[string]any{"tags": `{"aws:owner":"me"}`}, "tags", `tags="{\"aws:owner\":\"me\"}"`, "may not start with aws:"},

	{"platform", map[string]any{"platform": "amd64"}, "platform", `platform="amd64"`, "use linux/amd64 or linux/arm64"},
	{"unscanned images", map[string]any{"unscannedImages": "accept"}, "unscannedImages", `unscannedImages="accept"`, "use reject or allow"},
	{"alarms", map[string]any{"alarms": `{"failedDeployments":"two"}`}, "alarms", `alarms.failedDeployments="two"`, "whole numbers"},

	// A misspelled key is refused, not ignored.
	{"unknown key", map[string]any{"enviromentSuffix": "prod"}, "enviromentSuffix", "unknown context key enviromentSuffix", "did you mean environmentSuffix?"},
	{"unknown key far", map[string]any{"region": "eu-west-1"}, "region", "unknown context key region", "the keys here are environmentSuffix"},

	// pipelines
	{"pipelines with a flat key", map[string]any{"pipelines": ordersJSON(`{"name":"dev","cluster":"apps","service":"orders"}`), "ecsClusterName": "apps"},
		"pipelines", "context key ecsClusterName cannot be set together with pipelines", "set environments[].cluster instead"},
	{"pipelines unknown key", map[string]any{"pipelines": ordersJSON(`{"name":"dev","cluster":"apps","service":"orders","contianer":"web"}`)},
		"pipelines", "unknown context key pipelines[0].environments[0].contianer", "did you mean pipelines[0].environments[0].container?"},
	{"pipelines not json", map[string]any{"pipelines": `[{"service":"orders"`}, "pipelines", `invalid context value pipelines="[{\"service\":\"orders\""`, "not JSON"},
	{"pipelines environment twice", map[string]any{"pipelines": ordersJSON(`{"name":"dev","cluster":"a","service":"orders"},{"name":"dev","cluster":"b","service":"orders"}`)},
		"pipelines", `pipelines[0].environments[1].name="dev"`, "environment names must be unique"},
	{"pipelines account alone", map[string]any{"pipelines": ordersJSON(`{"name":"prod","account":"333333333333","cluster":"a","service":"orders"}`)},
		"pipelineAccount", "missing context value pipelineAccount", "names account 333333333333"},
	{"pipelines unknown region", map[string]any{"pipelineAccount": "111111111111", "pipelineRegion": "eu-west-1",
		"pipelines": ordersJSON(`{"name":"prod","region":"eu-west-9","cluster":"a","service":"orders"}`)},
		"pipelines", `pipelines[0].environments[0].region="eu-west-9"`, "use an AWS region code"},
	{"pipeline region unknown", map[string]any{"pipelineRegion": "europe", "pipelines": ordersJSON(`{"name":"dev","cluster":"a","service":"orders"}`)},
		"pipelineRegion", `pipelineRegion="europe"`, "use an AWS region code"},
}

// ordersJSON is a pipelines value as -c pipelines='...' passes it: one
// pipeline of service orders with the given environments.
func ordersJSON(environments string) string {
	return `[{"service":"orders","environments":[` + environments + `]}]`
}

// Stack frames of Go (goroutine, panic) and of Node (at fn (file.js:1:2)).
var traceLine = regexp.MustCompile(`panic|goroutine|jsii|^\s*at \S|\.js:\d+|\.go:\d+`)

// The entry point, given the context as `cdk synth -c key=value` passes it
// (cdk.json's context and the -c values in CDK_CONTEXT_JSON): every bad
// value ends with one error line.
func TestConfigErrorsThroughEntryPoint(t *testing.T) {
	covered := map[string]bool{}
	for _, tc := range badConfigs {
		covered[tc.key] = true
	}
	for _, key := range append(ConfigKeys, TopLevelKeys...) {
		if !covered[key] {
			t.Errorf("no bad value of %s is tried", key)
		}
	}
	base, err := cdktest.Context()
	if err != nil {
		t.Fatal(err)
	}
	contextJSON := func(t *testing.T, tc badConfig) string {
		ctx := make(map[string]any, len(base)+len(tc.context))
		for k, v := range base {
			ctx[k] = v
		}
		for k, v := range tc.context {
			ctx[k] = v
		}
		data, err := json.Marshal(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}

	// Every bad value through run, main's body, in this process: a bad value
	// fails before the jsii kernel starts, so each takes microseconds where
	// the binary's start takes a tenth of a second.
	for _, tc := range badConfigs {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CDK_CONTEXT_JSON", contextJSON(t, tc))
			t.Setenv("CDK_OUTDIR", t.TempDir())
			var stderr bytes.Buffer
			if code := run(&stderr); code == 0 {
				t.Errorf("exit code 0, want non-zero")
			}
			checkOneErrorLine(t, stderr.String(), tc)
		})
	}

	// A few through the app binary itself, as the CLI runs it: the exit code
	// is the process's, and nothing else reaches stderr.
	bin := appBinary(t)
	for _, name := range []string{"suffix not text", "tags malformed", "pipelines environment twice"} {
		i := slices.IndexFunc(badConfigs, func(tc badConfig) bool { return tc.name == name })
		if i < 0 {
			t.Fatalf("no bad config %q", name)
		}
		tc := badConfigs[i]
		t.Run("binary/"+name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(bin)
			cmd.Env = append(os.Environ(), "CDK_CONTEXT_JSON="+contextJSON(t, tc), "CDK_OUTDIR="+t.TempDir())
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Errorf("exit: %v, want a non-zero exit code", err)
			}
			checkOneErrorLine(t, stderr.String(), tc)
		})
	}
}

// checkOneErrorLine checks that stderr is one line, the error tc wants, and
// no stack trace.
func checkOneErrorLine(t *testing.T, stderr string, tc badConfig) {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		// Node's own end-of-life banner is not ours.
		if strings.TrimSpace(l) != "" && !strings.HasPrefix(l, "!!") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("stderr has %d lines, want one:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	line := lines[0]
	if !strings.HasPrefix(line, "error: ") || !strings.Contains(line, tc.shown) || !strings.Contains(line, tc.allowed) {
		t.Errorf("stderr %q, want an error naming %s and %q", line, tc.shown, tc.allowed)
	}
	if traceLine.MatchString(line) {
		t.Errorf("stderr %q looks like a stack trace", line)
	}
}

var (
	appOnce sync.Once
	appPath string
	appErr  error
)

// testAppBinary is where the tests build the app: in the git-ignored
// .build, beside the binary .ci/app builds for cdk synth but not that one,
// so a test run never replaces the binary a synth is running.
const testAppBinary = ".build/test/cicd"

// appBuildFlags are the go build flags of .ci/app, the command cdk.json
// runs: with the same flags, .ci/app finds appBinary up to date.
var appBuildFlags = []string{"-buildvcs=false"}

// appBinary is the app, built once per test binary: the program cdk synth
// runs (cdk.json's .ci/app builds the same package with the same flags).
// It is kept between runs in testAppBinary, so a run in which no Go file
// changed checks it (about 1 s of CPU) instead of linking it (about 5 s).
func appBinary(t *testing.T) string {
	t.Helper()
	appOnce.Do(func() {
		appPath, appErr = filepath.Abs(testAppBinary)
		if appErr != nil {
			return
		}
		if appErr = os.MkdirAll(filepath.Dir(appPath), 0o755); appErr != nil {
			return
		}
		args := append(append([]string{"build"}, appBuildFlags...), "-o", appPath, ".")
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			appErr = fmt.Errorf("build app: %v\n%s", err, out)
		}
	})
	if appErr != nil {
		t.Fatal(appErr)
	}
	return appPath
}

// The CLI moves context to a file when the environment would grow too large;
// a bad value there fails the same way.
func TestConfigErrorInContextOverflowFile(t *testing.T) {
	dir := t.TempDir()
	overflow := filepath.Join(dir, "context-overflow.json")
	if err := os.WriteFile(overflow, []byte(`{"scanFailSeverity":"severe"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(appBinary(t))
	cmd.Env = append(os.Environ(), `CDK_CONTEXT_JSON={"environmentSuffix":"dev"}`,
		"CONTEXT_OVERFLOW_LOCATION_ENV="+overflow, "CDK_OUTDIR="+dir)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the app accepted scanFailSeverity=severe from the overflow file:\n%s", out)
	}
	if !strings.Contains(string(out), `error: invalid context value scanFailSeverity="severe"`) {
		t.Errorf("output %q, want the one-line error about scanFailSeverity", out)
	}
}

func TestCLIContext(t *testing.T) {
	overflow := filepath.Join(t.TempDir(), "overflow.json")
	if err := os.WriteFile(overflow, []byte(`{"tags":"{}"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if _, ok := cliContext(getenv); ok {
		t.Error("context without CDK_CONTEXT_JSON")
	}
	env["CDK_CONTEXT_JSON"] = `{"branch":"main"`
	if _, ok := cliContext(getenv); ok {
		t.Error("context from malformed CDK_CONTEXT_JSON: aws-cdk-lib should report it")
	}
	env["CDK_CONTEXT_JSON"] = `{"branch":"main"}`
	env["CONTEXT_OVERFLOW_LOCATION_ENV"] = overflow
	got, ok := cliContext(getenv)
	if !ok || got["branch"] != "main" || got["tags"] != "{}" {
		t.Errorf("context %v (ok %v), want branch from the environment and tags from the overflow file", got, ok)
	}
}

// appCommand is cdk.json's "app", split into words (it has no quoting).
func appCommand(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		App string `json:"app"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	return strings.Fields(file.App)
}

// stderrLines are the lines of out, without blank ones and Node's own
// end-of-life banner.
func stderrLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) != "" && !strings.HasPrefix(l, "!!") {
			lines = append(lines, l)
		}
	}
	return lines
}

const badSeverityLine = `error: invalid context value scanFailSeverity="bad": use one of CRITICAL, HIGH, MEDIUM, LOW, NONE (NONE disables the check)`

// cdk.json runs a built binary, not go run: a bad value prints exactly the
// app's line, and a warm run neither relinks nor leaves the binary where git
// would track it.
func TestAppCommand(t *testing.T) {
	command := appCommand(t)
	if strings.Join(command, " ") != "sh .ci/app" {
		t.Fatalf("cdk.json's app is %q, want sh .ci/app", strings.Join(command, " "))
	}
	for _, bin := range []string{".build/cicd", testAppBinary} {
		if out, err := exec.Command("git", "check-ignore", "-q", bin).CombinedOutput(); err != nil {
			t.Errorf("%s, where .ci/app or the tests build the app, is not git-ignored: %v %s", bin, err, out)
		}
	}
	shellcheck, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatal("shellcheck is not installed (Debian package shellcheck; .ci/run installs it)")
	}
	if out, err := exec.Command(shellcheck, ".ci/app").CombinedOutput(); err != nil {
		t.Errorf("shellcheck .ci/app: %v\n%s", err, out)
	}

	// The binary is appBinary's, built with the same flags. A busy machine
	// must not turn the up-to-date check into a notice (tested below).
	run := func(extraEnv ...string) (string, error) {
		cmd := exec.Command(command[0], command[1:]...)
		cmd.Env = append(os.Environ(), "CICD_APP_BINARY="+appBinary(t), "CICD_APP_NOTICE_AFTER=600",
			"CDK_OUTDIR="+t.TempDir(), `CDK_CONTEXT_JSON={"scanFailSeverity":"bad"}`)
		cmd.Env = append(cmd.Env, extraEnv...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		return stderr.String(), err
	}
	stderr, err := run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Errorf("exit: %v, want a non-zero exit code", err)
	}
	if lines := stderrLines(stderr); len(lines) != 1 || lines[0] != badSeverityLine {
		t.Errorf("stderr:\n%s\nwant exactly:\n%s", strings.Join(lines, "\n"), badSeverityLine)
	}
	// go build -x lists the commands it runs: none links an up-to-date app.
	// (go build touches the binary's mtime either way.)
	stderr, _ = run("GOFLAGS=-x")
	if strings.Contains(stderr, "/link ") || !strings.Contains(stderr, badSeverityLine) {
		t.Errorf("a warm run relinked the app, or did not run it:\n%s", stderr)
	}
}

// cdkCLI is the CDK CLI that npm ci installed, and the module root it is in.
func cdkCLI(t *testing.T) (cli, root string) {
	t.Helper()
	root, err := gomod.Root(".")
	if err != nil {
		t.Fatal(err)
	}
	cli = filepath.Join(root, "node_modules", ".bin", "cdk")
	if _, err := os.Stat(cli); err != nil {
		t.Fatalf("the CDK CLI is missing: run npm ci (%v)", err)
	}
	return cli, root
}

// Through the pinned CDK CLI, the app's line comes first; the CLI's own
// "Subprocess exited" line, which no exit code avoids, is the only other.
func TestAppCommandThroughCLI(t *testing.T) {
	cli, root := cdkCLI(t)
	out := t.TempDir()
	cmd := exec.Command(cli, "synth", "--no-notices", "--output", out, "-c", "scanFailSeverity=bad")
	// npx puts node_modules/.bin (Node 24) first on PATH; so does this.
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(root, "node_modules", ".bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"CICD_APP_BINARY="+appBinary(t), "CDK_DISABLE_CLI_TELEMETRY=true")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err == nil {
		t.Fatalf("cdk synth accepted scanFailSeverity=bad:\n%s%s", stdout.String(), stderr.String())
	}
	want := []string{badSeverityLine, "sh .ci/app: Subprocess exited with error 1"}
	if got := stderrLines(stdout.String() + stderr.String()); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("cdk synth printed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A build that takes more than a few seconds (the first one compiles the
// CDK's Go bindings for minutes) says so; a quick one prints nothing; a
// failed one does not run a stale binary. A stand-in go takes the time.
func TestAppCommandReportsLongBuilds(t *testing.T) {
	dir := fakeGo(t)
	notice := "cicd: building the CDK app with Go; the first build compiles the AWS CDK's Go bindings (about 4 minutes on 2 cores), later ones take seconds"
	for _, tc := range []struct {
		name    string
		env     []string
		want    []string
		failure bool
	}{
		{"slow build", []string{"FAKE_GO_SECONDS=4"}, []string{notice, "app ran"}, false},
		{"quick build", nil, []string{"app ran"}, false},
		{"failed build", []string{"FAKE_GO_FAILS=1"}, []string{"./cicd.go:1:1: syntax error", "error: go build failed (above); the CDK app was not run"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command("sh", ".ci/app")
			cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"),
				"CICD_APP_BINARY="+filepath.Join(t.TempDir(), "cicd"), "CICD_APP_NOTICE_AFTER=1")
			cmd.Env = append(cmd.Env, tc.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			err := cmd.Run()
			// Run returns once stderr is closed: nothing left behind (a
			// notice loop asleep for 30 s) holds it.
			if elapsed := time.Since(start); elapsed > 20*time.Second {
				t.Errorf(".ci/app took %v: something it started kept stderr open", elapsed)
			}
			if (err != nil) != tc.failure {
				t.Errorf("exit: %v, want failure %v", err, tc.failure)
			}
			if got := stderrLines(stderr.String()); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("stderr:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// fakeGo writes a stand-in go into a new folder and returns the folder. Its
// go env answers at once (GOVERSION from FAKE_GOVERSION); its go build takes
// FAKE_GO_SECONDS, fails when FAKE_GO_FAILS is set, appends a line to the
// file FAKE_GO_LOG names (if any), and writes an app that prints "app ran".
func fakeGo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	script := `#!/bin/sh
if [ "$1" = env ]; then
  shift
  for v; do case "$v" in GOVERSION) echo "${FAKE_GOVERSION:-go1.26.0}" ;; *) echo ;; esac; done
  exit 0
fi
[ -z "${FAKE_GO_LOG:-}" ] || echo "go $*" >>"$FAKE_GO_LOG"
while [ $# -gt 0 ]; do case "$1" in -o) out=$2; shift 2 ;; *) shift ;; esac; done
sleep "${FAKE_GO_SECONDS:-0}"
[ -z "${FAKE_GO_FAILS:-}" ] || { echo "./cicd.go:1:1: syntax error" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
printf '#!/bin/sh\necho "app ran" >&2\n' >"$out" && chmod +x "$out"
`
	if err := os.WriteFile(filepath.Join(dir, "go"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A synth whose app is up to date does not run go build at all: a stamp of
// what the binary is built from (the toolchain, go.mod, go.sum and the
// non-test Go files, tracked or not) says so. Each step changes something
// in a scratch module with a copy of .ci/app, and says whether the next run
// builds.
func TestAppCommandSkipsBuildWhenUnchanged(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is not installed")
	}
	goDir := fakeGo(t)
	repo := t.TempDir()
	script, err := os.ReadFile(".ci/app")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		t.Helper()
		path := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(".ci/app", string(script))
	write("go.mod", "module scratch\n\ngo 1.26\n")
	write("go.sum", "")
	write("main.go", "package main\n\nfunc main() {}\n")
	write("main_test.go", "package main\n")
	write("internal/x/x.go", "package x\n")
	write(".gitignore", "/.build/\nignored.go\n")
	for _, args := range [][]string{{"init", "-q"}, {"add", "go.mod", "main.go", "main_test.go", ".gitignore"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	bin := filepath.Join(repo, ".build", "cicd")
	builds := filepath.Join(t.TempDir(), "builds")
	run := func(extraEnv ...string) (int, string, error) {
		t.Helper()
		before, _ := os.ReadFile(builds)
		cmd := exec.Command("sh", filepath.Join(repo, ".ci", "app"))
		cmd.Env = append(os.Environ(), "PATH="+goDir+string(os.PathListSeparator)+os.Getenv("PATH"),
			"CICD_APP_BINARY="+bin, "CICD_APP_NOTICE_AFTER=600", "FAKE_GO_LOG="+builds)
		cmd.Env = append(cmd.Env, extraEnv...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		after, _ := os.ReadFile(builds)
		return strings.Count(string(after), "\n") - strings.Count(string(before), "\n"), stderr.String(), err
	}
	for _, step := range []struct {
		name   string
		change func()
		env    []string
		builds int
		fails  bool
	}{
		{"first run", func() {}, nil, 1, false},
		{"nothing changed", func() {}, nil, 0, false},
		{"a tracked Go file changed", func() { write("main.go", "package main\n\nfunc main() { println() }\n") }, nil, 1, false},
		{"only a test file changed", func() { write("main_test.go", "package main\n\n// more\n") }, nil, 0, false},
		{"an untracked Go file changed", func() { write("internal/x/x.go", "package x\n\nconst X = 1\n") }, nil, 1, false},
		{"a new untracked Go file", func() { write("internal/x/y.go", "package x\n") }, nil, 1, false},
		{"a git-ignored Go file", func() { write("ignored.go", "package main\n") }, nil, 0, false},
		{"go.sum changed", func() { write("go.sum", "example.com/m v1.0.0 h1:x=\n") }, nil, 1, false},
		{"another Go toolchain", func() {}, []string{"FAKE_GOVERSION=go1.27.0"}, 1, false},
		{"the binary was removed", func() { os.Remove(bin) }, []string{"FAKE_GOVERSION=go1.27.0"}, 1, false},
		{"a failed build", func() { write("main.go", "package main\n\nfunc main() {}\n") }, []string{"FAKE_GOVERSION=go1.27.0", "FAKE_GO_FAILS=1"}, 1, true},
		{"after a failed build", func() {}, []string{"FAKE_GOVERSION=go1.27.0"}, 1, false},
		{"up to date again", func() {}, []string{"FAKE_GOVERSION=go1.27.0"}, 0, false},
	} {
		step.change()
		n, stderr, err := run(step.env...)
		if n != step.builds {
			t.Errorf("%s: %d go builds, want %d", step.name, n, step.builds)
		}
		if (err != nil) != step.fails {
			t.Errorf("%s: exit %v, want failure %v\n%s", step.name, err, step.fails, stderr)
		}
		if !step.fails && strings.TrimSpace(stderr) != "app ran" {
			t.Errorf("%s: stderr %q, want only the app's line", step.name, stderr)
		}
	}
	// A go.mod that replaces a module by a local folder, whose files the
	// stamp does not cover: go build decides every time.
	write("go.mod", "module scratch\n\ngo 1.26\n\nreplace example.com/m => ../m\n")
	for i := range 2 {
		if n, stderr, _ := run("FAKE_GOVERSION=go1.27.0"); n != 1 {
			t.Errorf("local replace, run %d: %d go builds, want 1\n%s", i+1, n, stderr)
		}
	}
}
