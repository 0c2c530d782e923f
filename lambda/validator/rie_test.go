package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

const rieInstall = "go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// buildBootstrapTo builds the Lambda binary as the stack does, for the host's
// architecture so that it runs here.
func buildBootstrapTo(out string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("go not on PATH: %w", err)
	}
	cmd := exec.Command(goTool, "build", "-trimpath", "-buildvcs=false", "-tags", "lambda.norpc",
		"-ldflags", "-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, b)
	}
	return out, nil
}

func gopathBin() string {
	if b, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		return filepath.Join(strings.TrimSpace(string(b)), "bin")
	}
	return ""
}

// The emulator's REPORT line has an "Init Duration" that only times handing
// the init to its sandbox; its own INIT REPORT line times what Lambda calls
// the init: from starting the runtime to its first request for an event.
var (
	initReport   = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	invokeDone   = regexp.MustCompile(`INVOKE RTDONE\(status: success, produced bytes: \d+, duration: ([0-9.]+)ms\)`)
	rieRequestID = 0
)

// bootstrapOnce builds the binary once for the test binary's emulator runs.
var bootstrapOnce struct {
	sync.Once
	path string
	err  error
}

func sharedBootstrap(t *testing.T) string {
	t.Helper()
	bootstrapOnce.Do(func() {
		dir, err := os.MkdirTemp("", "validator-bootstrap-")
		if err != nil {
			bootstrapOnce.err = err
			return
		}
		bootstrapOnce.path, bootstrapOnce.err = buildBootstrapTo(filepath.Join(dir, "bootstrap"))
	})
	if bootstrapOnce.err != nil {
		t.Fatal(bootstrapOnce.err)
	}
	return bootstrapOnce.path
}

// emulator is the bootstrap binary running under aws-lambda-rie.
type emulator struct {
	url string
	out *syncBuffer
}

// startEmulator runs bootstrap under the emulator with the function's
// environment: the stack's variables for fx, moto for every service but
// CodePipeline, which is cp; extra adds or replaces variables.
func startEmulator(t *testing.T, rie, bootstrap string, fx *fixture, cp *codePipelineFake, extra map[string]string) *emulator {
	t.Helper()
	// RIE passes the customer environment through but not AWS_REGION, which
	// Lambda sets itself: the clients take the region of the function's
	// repository (ECR_REPOSITORY_URI).
	home := t.TempDir()
	apiPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	runtimePort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"PATH": os.Getenv("PATH"), "HOME": home,
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_ENDPOINT_URL":              fx.endpoint,
		"AWS_ENDPOINT_URL_CODEPIPELINE": cp.URL,
		"AWS_LAMBDA_FUNCTION_TIMEOUT":   "30",
	}
	for k, v := range fx.env("unused") {
		vars[k] = v
	}
	for k, v := range extra {
		vars[k] = v
	}
	var env []string
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	out := &syncBuffer{}
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", "127.0.0.1:"+apiPort,
		"--runtime-api-address", "127.0.0.1:"+runtimePort, "--log-level", "info", bootstrap)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = env, home, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { killGroup(cmd) })
	if err := waitTCP("127.0.0.1:"+apiPort, 20*time.Second, exited); err != nil {
		t.Fatalf("emulator: %v\n%s", err, out.String())
	}
	return &emulator{url: "http://127.0.0.1:" + apiPort + "/2015-03-31/functions/function/invocations", out: out}
}

// call invokes the function with event and returns its answer.
func (e *emulator) call(t *testing.T, event []byte) string {
	t.Helper()
	rieRequestID++
	req, _ := http.NewRequest(http.MethodPost, e.url, bytes.NewReader(event))
	req.Header.Set("X-Amzn-RequestId", "req-"+strconv.Itoa(rieRequestID))
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("invoke: %v\n%s", err, e.out.String())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke: HTTP %d %s\n%s", resp.StatusCode, body, e.out.String())
	}
	return string(body)
}

// TestBootstrapUnderEmulator runs the real bootstrap binary under the Lambda
// Runtime Interface Emulator, wired only through environment variables (as
// the stack wires it) to moto and the CodePipeline fake, and invokes it over
// HTTP.
func TestBootstrapUnderEmulator(t *testing.T) {
	rie := findTool(t, "aws-lambda-rie", rieInstall, gopathBin())
	fx := localFixture(t)
	cp := newCodePipelineFake(t)
	bootstrap := sharedBootstrap(t)
	if fi, err := os.Stat(bootstrap); err == nil {
		t.Logf("bootstrap (linux/%s, release flags): %.1f MB", runtime.GOARCH, float64(fi.Size())/1e6)
	}

	fx.pushImage(t, "rie-1")
	fx.scanImage(t, "rie-1", ecrtypes.ScanStatusComplete, map[string]int32{"LOW": 1})

	em := startEmulator(t, rie, bootstrap, fx, cp, nil)
	out := em.out
	job := func(id, userParameters string) []byte {
		cp.addJob(id, userParameters, "")
		return jobEventJSON(id, userParameters, "")
	}

	// Cold: the first invocation starts the runtime.
	if got := em.call(t, job("rie-job-1", params("gate", "rie-1", "rie-exec-1"))); got != "null" {
		t.Fatalf("gate answered %s\n%s", got, out.String())
	}
	if c := cp.callsFor("rie-job-1"); len(c) != 1 || c[0].Op != "PutJobSuccessResult" {
		t.Fatalf("job result %+v\n%s", c, out.String())
	}
	if items := fx.items(t, "rie-exec-1"); len(items) != 1 || attrS(items[0], "status") != "VALIDATED" {
		t.Fatalf("items %v", items)
	}

	// Warm: a rejection (item, SNS, failure result) and a continuation.
	for i := range 5 {
		id := "rie-job-warm-" + strconv.Itoa(i)
		if got := em.call(t, job(id, params("gate", "never-pushed", "rie-exec-warm"))); got != "null" {
			t.Fatalf("gate answered %s", got)
		}
		if c := cp.callsFor(id); len(c) != 1 || c[0].Op != "PutJobFailureResult" {
			t.Fatalf("job result %+v", c)
		}
	}
	if n := len(fx.inbox.about("never-pushed")); n < 5 {
		t.Errorf("%d notifications for 5 rejections", n)
	}

	// Not a job: an error, and nothing else.
	before := len(cp.calls)
	if got := em.call(t, []byte(`{"Records":[{"eventSource":"aws:s3"}]}`)); !strings.Contains(got, "event is not a CodePipeline job") {
		t.Errorf("a non-job answered %s", got)
	}
	if len(cp.calls) != before {
		t.Error("a non-job ended a job")
	}

	// The emulator logs an invocation's end just after answering it.
	logs := out.String()
	for deadline := time.Now().Add(5 * time.Second); len(invokeDone.FindAllString(logs, -1)) < 7 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		logs = out.String()
	}
	for _, secret := range []string{testSecret, testToken} {
		if strings.Contains(logs, secret) {
			t.Fatalf("artifact credentials in the function's output")
		}
	}
	inits := initReport.FindStringSubmatch(logs)
	invokes := invokeDone.FindAllStringSubmatch(logs, -1)
	if inits == nil || len(invokes) < 7 {
		t.Fatalf("no INIT REPORT or fewer than 7 INVOKE RTDONE lines:\n%s", logs)
	}
	var warm []string
	for _, r := range invokes[1:6] {
		warm = append(warm, r[1]+" ms")
	}
	t.Logf("figures: init %s ms; first invocation %s ms; warm rejections against moto: %s; non-job %s ms",
		inits[1], invokes[0][1], strings.Join(warm, ", "), invokes[6][1])
}

// Issue 13.4: an SDK configuration that does not load (here a bad
// AWS_MAX_ATTEMPTS) still ends every job, with the reason.
func TestBootstrapEndsJobsWhenTheSDKConfigurationFails(t *testing.T) {
	rie := findTool(t, "aws-lambda-rie", rieInstall, gopathBin())
	fx := localFixture(t)
	cp := newCodePipelineFake(t)
	em := startEmulator(t, rie, sharedBootstrap(t), fx, cp, map[string]string{"AWS_MAX_ATTEMPTS": "three"})

	userParameters := params("gate", "never-pushed", "rie-exec-badconfig")
	cp.addJob("rie-job-badconfig", userParameters, "")
	em.call(t, jobEventJSON("rie-job-badconfig", userParameters, ""))
	c := cp.callsFor("rie-job-badconfig")
	if len(c) != 1 || c[0].Op != "PutJobFailureResult" {
		t.Fatalf("job result %+v, want one PutJobFailureResult\n%s", c, em.out.String())
	}
	fd, _ := c[0].Body["failureDetails"].(map[string]any)
	if msg := fmt.Sprint(fd["message"]); !strings.Contains(msg, "AWS_MAX_ATTEMPTS") || fd["type"] != "ConfigurationError" {
		t.Errorf("failure %v, want a ConfigurationError that names AWS_MAX_ATTEMPTS", fd)
	}
	if items := fx.items(t, "rie-exec-badconfig"); len(items) != 1 || attrS(items[0], "status") != "ERROR" {
		t.Errorf("items %v, want the ERROR recorded", items)
	}
}
