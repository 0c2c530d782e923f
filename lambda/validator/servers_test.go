package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Real local servers for the integration tests, started by the tests
// themselves: moto's server (ECR, DynamoDB, SNS, ECS), a CodePipeline fake
// speaking AWS JSON 1.1, and an HTTP endpoint subscribed to the SNS topic.

func TestMain(m *testing.M) {
	// moto takes seconds to start: it starts now, beside the tests that
	// need no server, and the first test that needs it waits for it. Not
	// when fuzzing: no fuzz target needs it, and a fuzz worker's moto
	// would inherit the worker's pipes to the fuzzing process, which then
	// waits on them for ever.
	flag.Parse()
	if path, ok := lookTool("moto_server"); ok && !fuzzing() {
		go moto.once.Do(func() { moto.url, moto.err = startMoto(path) })
	}
	code := m.Run()
	stopMoto()
	if bootstrapOnce.path != "" {
		_ = os.RemoveAll(filepath.Dir(bootstrapOnce.path))
	}
	os.Exit(code)
}

// fuzzing reports whether this process runs a fuzz target: as the fuzzing
// process (-test.fuzz) or as one of its workers (-test.fuzzworker).
func fuzzing() bool {
	for _, name := range []string{"test.fuzz", "test.fuzzworker"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" && f.Value.String() != "false" {
			return true
		}
	}
	return false
}

// findTool looks for a command on PATH and in extra directories. Missing, it
// fails the test under CI=true (CI must not pass by skipping) and skips it
// elsewhere, saying what to install either way.
func findTool(t testing.TB, name, install string, extraDirs ...string) string {
	t.Helper()
	if p, ok := lookTool(name, extraDirs...); ok {
		return p
	}
	msg := fmt.Sprintf("%s not found on PATH: %s", name, install)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg + " (this test fails instead of skipping when CI=true)")
	return ""
}

// lookTool looks for a command on PATH and in extra directories.
func lookTool(name string, extraDirs ...string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, dir := range extraDirs {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

var moto struct {
	once sync.Once
	cmd  *exec.Cmd
	url  string
	out  *syncBuffer
	err  error
}

// motoURL starts one moto server for the test binary and returns its URL.
func motoURL(t testing.TB) string {
	t.Helper()
	path := findTool(t, "moto_server", `install moto's server (Python): pip install "moto[server]>=5.2,<6"`)
	moto.once.Do(func() { moto.url, moto.err = startMoto(path) })
	if moto.err != nil {
		t.Fatalf("moto server: %v", moto.err)
	}
	return moto.url
}

func startMoto(path string) (string, error) {
	var lastErr error
	for range 3 { // a free port can be taken between choosing and binding it
		port, err := freePort()
		if err != nil {
			return "", err
		}
		out := &syncBuffer{}
		cmd := exec.Command(path, "-H", "127.0.0.1", "-p", port)
		// Services report their single task as running, so a rollout to
		// desiredCount 1 is COMPLETED and one to 2 stays IN_PROGRESS.
		cmd.Env = append(os.Environ(), "MOTO_ECS_SERVICE_RUNNING=1")
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return "", err
		}
		url := "http://127.0.0.1:" + port
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if err := waitHTTP(url+"/moto-api/", 45*time.Second, exited); err != nil {
			killGroup(cmd)
			lastErr = fmt.Errorf("%w; output:\n%s", err, out.String())
			continue
		}
		moto.cmd, moto.out = cmd, out
		return url, nil
	}
	return "", lastErr
}

func stopMoto() {
	moto.once.Do(func() {}) // waits for a start under way
	if moto.cmd != nil {
		killGroup(moto.cmd)
	}
}

// killGroup ends a process we started and its children (pyenv shims exec
// through a few layers).
func killGroup(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for range 50 {
			if syscall.Kill(-cmd.Process.Pid, 0) != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		close(done)
	}()
	<-done
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

// waitHTTP polls url until it answers, the process exits, or the time is up.
func waitHTTP(url string, limit time.Duration, exited <-chan error) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited before serving: %v", err)
		default:
		}
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer within %s", url, limit)
}

// waitTCP polls addr until it accepts connections.
func waitTCP(addr string, limit time.Duration, exited <-chan error) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited before listening: %v", err)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not listen within %s", addr, limit)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cpCall is one request the CodePipeline fake received.
type cpCall struct {
	Op   string         // PutJobSuccessResult or PutJobFailureResult
	Body map[string]any // the JSON request
}

// codePipelineFake answers GetJobDetails for the jobs a test registered,
// and PutJobSuccessResult and PutJobFailureResult, the way the service does
// (AWS JSON 1.1), and records the results.
type codePipelineFake struct {
	*httptest.Server
	mu    sync.Mutex
	jobs  map[string]map[string]any // jobDetails by job id
	calls []cpCall
	// throttle answers this many of the next result requests with ThrottlingException.
	throttle int
	// throttled counts the requests answered so.
	throttled int
}

func newCodePipelineFake(t testing.TB) *codePipelineFake {
	f := &codePipelineFake{jobs: map[string]map[string]any{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "CodePipeline_20150709.")
		body, _ := io.ReadAll(r.Body)
		var m map[string]any
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		known := op == "PutJobSuccessResult" || op == "PutJobFailureResult" || op == "GetJobDetails"
		if !ok || !known || json.Unmarshal(body, &m) != nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"__type":"UnknownOperationException","message":"unexpected %q"}`, r.Header.Get("X-Amz-Target"))
			return
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"__type":"MissingAuthenticationTokenException","message":"unsigned"}`)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if op == "GetJobDetails" {
			job, ok := f.jobs[fmt.Sprint(m["jobId"])]
			if !ok {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"__type":"JobNotFoundException","message":"The job was not found"}`)
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"jobDetails": job})
			return
		}
		if f.throttle > 0 {
			f.throttle--
			f.throttled++
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"__type":"ThrottlingException","message":"Rate exceeded"}`)
			return
		}
		f.calls = append(f.calls, cpCall{Op: op, Body: m})
		fmt.Fprint(w, `{}`)
	}))
	t.Cleanup(f.Close)
	return f
}

// addJob registers a job of the test pipeline's invoke action of the test
// function, with artifact credentials that must never be logged.
func (f *codePipelineFake) addJob(jobID, userParameters, continuationToken string) {
	data := map[string]any{
		"actionTypeId": map[string]any{"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"},
		"actionConfiguration": map[string]any{"configuration": map[string]any{
			"FunctionName": testFunction, "UserParameters": userParameters}},
		"pipelineContext": map[string]any{"pipelineName": testPipeline, "stage": map[string]any{"name": "Validate"},
			"action": map[string]any{"name": "ScanGate"}},
		"artifactCredentials": map[string]any{"accessKeyId": "AKIAEXAMPLEKEYID", "secretAccessKey": testSecret, "sessionToken": testToken},
	}
	if continuationToken != "" {
		data["continuationToken"] = continuationToken
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs[jobID] = map[string]any{"id": jobID, "accountId": "123456789012", "data": data}
}

// callsFor returns the calls for one job.
func (f *codePipelineFake) callsFor(jobID string) []cpCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []cpCall
	for _, c := range f.calls {
		if c.Body["jobId"] == jobID {
			out = append(out, c)
		}
	}
	return out
}

// snsInbox is an HTTP endpoint subscribed to the topic: moto delivers each
// published message to it before Publish returns.
type snsInbox struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []snsNotification
}

type snsNotification struct {
	Type    string `json:"Type"`
	Subject string `json:"Subject"`
	Message string `json:"Message"`
}

// newSNSInbox lives as long as the test binary, like the topic it is
// subscribed to.
func newSNSInbox() *snsInbox {
	in := &snsInbox{}
	in.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n snsNotification
		if err := json.NewDecoder(r.Body).Decode(&n); err == nil && n.Type == "Notification" {
			in.mu.Lock()
			in.msgs = append(in.msgs, n)
			in.mu.Unlock()
		}
	}))
	return in
}

// about returns the notifications whose subject mentions s.
func (in *snsInbox) about(s string) []snsNotification {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []snsNotification
	for _, m := range in.msgs {
		if strings.Contains(m.Subject, s) {
			out = append(out, m)
		}
	}
	return out
}

// localAWSConfig is the standard SDK configuration pointed at moto, with
// dummy credentials: what main builds, with the endpoint passed as an option.
func localAWSConfig(t testing.TB, endpoint string) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithBaseEndpoint(endpoint),
		// Only the test's own files: nothing from the machine's ~/.aws.
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
	)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
