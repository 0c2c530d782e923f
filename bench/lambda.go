package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"cicd/internal/gobundle"
)

// lambdaBuild is one build of the validator.
type lambdaBuild struct {
	Path   string
	Bytes  int64
	Zipped int64
	Wall   time.Duration
}

func (b *bench) buildValidator(goarch string) (lambdaBuild, error) {
	// The environment and flags of the bundler itself (internal/gobundle), so
	// that the size measured here is the size of what the stack deploys.
	env := gobundle.Env()
	// A fresh output path, as the bundler's: go build skips the link when
	// the file is already up to date.
	out := filepath.Join(b.work, "bootstrap-"+goarch)
	_ = os.Remove(out)
	cmdEnv := append([]string(nil), b.env...)
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := env[k]
		if k == "GOARCH" {
			v = goarch
		}
		cmdEnv = append(cmdEnv, k+"="+v)
	}
	r, err := measure(b.root, cmdEnv, "go", gobundle.Args("lambda/validator", out)...)
	if err != nil {
		return lambdaBuild{}, err
	}
	fi, err := os.Stat(out)
	if err != nil {
		return lambdaBuild{}, err
	}
	zipped, err := zipSize(out)
	if err != nil {
		return lambdaBuild{}, err
	}
	return lambdaBuild{Path: out, Bytes: fi.Size(), Zipped: zipped, Wall: r.Wall}, nil
}

// zipSize is the size of the deployment package: bootstrap alone, deflated.
func zipSize(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "bootstrap", Method: zip.Deflate})
	if err != nil {
		return 0, err
	}
	if _, err := w.Write(data); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return int64(buf.Len()), nil
}

// emulatorRun is one cold start and a series of warm gate invocations of the
// validator under the Lambda Runtime Interface Emulator.
type emulatorRun struct {
	InitMs     float64   // the emulator's INIT REPORT: runtime start to its first request for an event
	FirstMs    float64   // the first invocation, seen by the caller (init included)
	WarmMs     []float64 // function duration of each warm invocation (INVOKE RTDONE)
	WarmWallMs []float64 // the same invocations, seen by the caller
}

var (
	initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	invokeDone = regexp.MustCompile(`INVOKE RTDONE\(status: success, produced bytes: \d+, duration: ([0-9.]+)ms\)`)
)

// awsFake answers the calls of a passing gate at once, as AWS's JSON
// protocols do: the invocation's cost is then the validator's own.
type awsFake struct {
	mu  sync.Mutex
	ops map[string]int
}

var gateAnswers = map[string]string{
	"AmazonEC2ContainerRegistry_V20150921.DescribeImages": `{"imageDetails":[{"imageDigest":"sha256:1111111111111111111111111111111111111111111111111111111111111111",` +
		`"imageTags":["bench"],"imagePushedAt":1.7e9,"repositoryName":"cicd-pipeline-bench"}]}`,
	"AmazonEC2ContainerRegistry_V20150921.DescribeImageScanFindings": `{"imageScanStatus":{"status":"COMPLETE"},` +
		`"imageScanFindings":{"findingSeverityCounts":{"MEDIUM":2,"LOW":5}}}`,
	"DynamoDB_20120810.PutItem":                 `{}`,
	"CodePipeline_20150709.PutJobSuccessResult": `{}`,
	"CodePipeline_20150709.PutJobFailureResult": `{}`,
}

// The pipeline and function the validator serves; the job CodePipeline
// holds (GetJobDetails) must name them.
const (
	benchPipeline = "cicd-pipeline-bench"
	benchFunction = "validator"
)

func (f *awsFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, _ := io.ReadAll(r.Body)
	target := r.Header.Get("X-Amz-Target")
	f.mu.Lock()
	f.ops[target]++
	f.mu.Unlock()
	body, ok := gateAnswers[target]
	if target == "CodePipeline_20150709.GetJobDetails" {
		var in struct{ JobId string }
		ok = json.Unmarshal(req, &in) == nil && in.JobId != ""
		body = jobDetails(in.JobId)
	}
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		body = `{"__type":"UnknownOperationException"}`
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10))
	_, _ = io.WriteString(w, body)
}

func (f *awsFake) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops[op]
}

func gateParameters(job string) string {
	params, _ := json.Marshal(map[string]string{"mode": "gate", "imageTag": "bench", "executionId": "bench-" + job})
	return string(params)
}

// jobDetails is CodePipeline's answer to GetJobDetails for a gate job of the
// bench pipeline.
func jobDetails(job string) string {
	out, _ := json.Marshal(map[string]any{"jobDetails": map[string]any{
		"id": job, "accountId": "123456789012",
		"data": map[string]any{
			"actionTypeId":        map[string]any{"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"},
			"actionConfiguration": map[string]any{"configuration": map[string]any{"FunctionName": benchFunction, "UserParameters": gateParameters(job)}},
			"pipelineContext":     map[string]any{"pipelineName": benchPipeline, "pipelineExecutionId": "bench-" + job},
		},
	}})
	return string(out)
}

func gateEvent(job string) []byte {
	ev, _ := json.Marshal(map[string]any{"CodePipeline.job": map[string]any{
		"id": job, "accountId": "123456789012",
		"data": map[string]any{
			"actionConfiguration": map[string]any{"configuration": map[string]any{"FunctionName": benchFunction, "UserParameters": gateParameters(job)}},
			"inputArtifacts":      []any{}, "outputArtifacts": []any{},
			"artifactCredentials": map[string]any{"accessKeyId": "AKIDBENCH", "secretAccessKey": "bench", "sessionToken": "bench"},
		},
	}})
	return ev
}

func (b *bench) emulator(rie, bootstrap string, warm int) (emulatorRun, error) {
	var er emulatorRun
	fake := &awsFake{ops: map[string]int{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	home, err := os.MkdirTemp(b.work, "rie-")
	if err != nil {
		return er, err
	}
	defer os.RemoveAll(home)
	// The emulator does not pass AWS_REGION on: the validator takes the
	// region of its repository (ECR_REPOSITORY_URI).
	apiPort, err := freePort()
	if err != nil {
		return er, err
	}
	runtimePort, err := freePort()
	if err != nil {
		return er, err
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench",
		"AWS_ENDPOINT_URL=" + srv.URL, "AWS_LAMBDA_FUNCTION_TIMEOUT=30",
		"STATE_TABLE=cicd-pipeline-state-bench", "ECR_REPOSITORY=cicd-pipeline-bench",
		"ECR_REPOSITORY_URI=123456789012.dkr.ecr.us-east-1.amazonaws.com/cicd-pipeline-bench",
		"SNS_TOPIC_ARN=arn:aws:sns:us-east-1:123456789012:cicd-pipeline-notifications-bench",
		"SCAN_FAIL_SEVERITY=CRITICAL", "ECS_CLUSTER=production-cluster", "ECS_SERVICE=cicd-pipeline-bench",
		"CONTAINER_NAME=app", "ENVIRONMENT=bench", "PIPELINE_NAME=" + benchPipeline, "SERVICE=bench",
		"AWS_LAMBDA_FUNCTION_NAME=" + benchFunction,
	}
	var logs syncBuffer
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", "127.0.0.1:"+apiPort,
		"--runtime-api-address", "127.0.0.1:"+runtimePort, "--log-level", "info", bootstrap)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = env, home, &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return er, err
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	if err := waitTCP("127.0.0.1:"+apiPort, 20*time.Second); err != nil {
		return er, fmt.Errorf("emulator: %w\n%s", err, logs.String())
	}

	url := "http://127.0.0.1:" + apiPort + "/2015-03-31/functions/function/invocations"
	client := &http.Client{Timeout: 60 * time.Second}
	invoke := func(i int) (float64, error) {
		job := "bench-job-" + strconv.Itoa(i)
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(gateEvent(job)))
		req.Header.Set("X-Amzn-RequestId", "bench-req-"+strconv.Itoa(i))
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		ms := float64(time.Since(start).Microseconds()) / 1000
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "null" {
			return 0, fmt.Errorf("invocation %d: HTTP %d %s\n%s", i, resp.StatusCode, body, tail(logs.String(), 20))
		}
		return ms, nil
	}
	if er.FirstMs, err = invoke(0); err != nil {
		return er, err
	}
	for i := 1; i <= warm; i++ {
		ms, err := invoke(i)
		if err != nil {
			return er, err
		}
		er.WarmWallMs = append(er.WarmWallMs, ms)
	}
	// Every invocation must have passed the gate and ended its job.
	if n := fake.count("CodePipeline_20150709.PutJobSuccessResult"); n != warm+1 {
		return er, fmt.Errorf("%d of %d gate invocations succeeded (calls %v)\n%s", n, warm+1, fake.ops, tail(logs.String(), 20))
	}
	// The emulator logs an invocation's end just after answering it.
	var text string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		text = logs.String()
		if len(invokeDone.FindAllString(text, -1)) >= warm+1 {
			break
		}
	}
	m := initReport.FindStringSubmatch(text)
	done := invokeDone.FindAllStringSubmatch(text, -1)
	if m == nil || len(done) < warm+1 {
		return er, fmt.Errorf("no INIT REPORT or too few INVOKE RTDONE lines in the emulator's log:\n%s", tail(text, 30))
	}
	er.InitMs, _ = strconv.ParseFloat(m[1], 64)
	for _, d := range done[1 : warm+1] {
		v, _ := strconv.ParseFloat(d[1], 64)
		er.WarmMs = append(er.WarmMs, v)
	}
	return er, nil
}

// findRIE looks for the emulator on PATH and in $(go env GOPATH)/bin.
func (b *bench) findRIE() string {
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "aws-lambda-rie")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

func waitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s did not open within %s", addr, timeout)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
