package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

const rieInstall = "go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// buildBootstrap builds the Lambda binary as the stack does, for the host's
// architecture so that it runs here.
func buildBootstrap(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not on PATH: %v", err)
	}
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command(goTool, "build", "-trimpath", "-buildvcs=false", "-tags", "lambda.norpc",
		"-ldflags", "-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
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

// TestBootstrapUnderEmulator runs the real bootstrap binary under the Lambda
// Runtime Interface Emulator, wired only through environment variables (as
// the stack wires it) to moto and the CodePipeline fake, and invokes it over
// HTTP.
func TestBootstrapUnderEmulator(t *testing.T) {
	rie := findTool(t, "aws-lambda-rie", rieInstall, gopathBin())
	fx := localFixture(t)
	cp := newCodePipelineFake(t)
	bootstrap := buildBootstrap(t)
	if fi, err := os.Stat(bootstrap); err == nil {
		t.Logf("bootstrap (linux/%s, release flags): %.1f MB", runtime.GOARCH, float64(fi.Size())/1e6)
	}

	fx.pushImage(t, "rie-1")
	fx.scanImage(t, "rie-1", ecrtypes.ScanStatusComplete, map[string]int32{"LOW": 1})

	// RIE passes the customer environment through but not AWS_REGION, which
	// Lambda sets itself: the region comes from a config file, which the
	// standard SDK configuration reads like any other.
	home := t.TempDir()
	awsConfig := filepath.Join(home, "aws-config")
	if err := os.WriteFile(awsConfig, []byte("[default]\nregion = us-east-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	apiPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	runtimePort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE=" + awsConfig, "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL=" + fx.endpoint,
		"AWS_ENDPOINT_URL_CODEPIPELINE=" + cp.URL,
		"AWS_LAMBDA_FUNCTION_TIMEOUT=30",
	}
	for k, v := range fx.env("unused") {
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

	url := "http://127.0.0.1:" + apiPort + "/2015-03-31/functions/function/invocations"
	call := func(event []byte) string {
		t.Helper()
		rieRequestID++
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(event))
		req.Header.Set("X-Amzn-RequestId", "req-"+strconv.Itoa(rieRequestID))
		resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("invoke: %v\n%s", err, out.String())
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("invoke: HTTP %d %s\n%s", resp.StatusCode, body, out.String())
		}
		return string(body)
	}

	// Cold: the first invocation starts the runtime.
	if got := call(jobEventJSON("rie-job-1", params("gate", "rie-1", "rie-exec-1"), "")); got != "null" {
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
		job := "rie-job-warm-" + strconv.Itoa(i)
		if got := call(jobEventJSON(job, params("gate", "never-pushed", "rie-exec-warm"), "")); got != "null" {
			t.Fatalf("gate answered %s", got)
		}
		if c := cp.callsFor(job); len(c) != 1 || c[0].Op != "PutJobFailureResult" {
			t.Fatalf("job result %+v", c)
		}
	}
	if n := len(fx.inbox.about("never-pushed")); n < 5 {
		t.Errorf("%d notifications for 5 rejections", n)
	}

	// Not a job: an error, and nothing else.
	before := len(cp.calls)
	if got := call([]byte(`{"Records":[{"eventSource":"aws:s3"}]}`)); !strings.Contains(got, "event is not a CodePipeline job") {
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
