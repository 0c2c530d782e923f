package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go/middleware"
)

// A real local DynamoDB and SSM: moto's server, one per test binary,
// started by the tests themselves.

func TestMain(m *testing.M) {
	code := m.Run()
	stopMoto()
	os.Exit(code)
}

var moto struct {
	once sync.Once
	cmd  *exec.Cmd
	// exited is closed once the server has exited and been reaped.
	exited chan struct{}
	url    string
	err    error
}

// motoURL starts moto's server on first use. Missing, it fails the test
// under CI=true (CI must not pass by skipping) and skips it elsewhere.
func motoURL(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("moto_server")
	if err != nil {
		if p := filepath.Join(os.Getenv("HOME"), ".pyenv", "shims", "moto_server"); fileExists(p) {
			path, err = p, nil
		}
	}
	if err != nil {
		msg := `moto_server not found on PATH: install moto's server (Python): pip install "moto[server]>=5.2,<6"`
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg + " (this test fails instead of skipping when CI=true)")
	}
	moto.once.Do(func() { moto.url, moto.err = startMoto(path) })
	if moto.err != nil {
		t.Fatalf("moto server: %v", moto.err)
	}
	return moto.url
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func startMoto(path string) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	cmd := exec.Command(path, "-H", "127.0.0.1", "-p", port)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // pyenv shims exec through a few layers
	if err := cmd.Start(); err != nil {
		return "", err
	}
	moto.cmd, moto.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(moto.exited) }()
	url := "http://127.0.0.1:" + port
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(45 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		select {
		case <-moto.exited:
			return "", fmt.Errorf("%s exited before it answered on %s: %s", path, url, out.String())
		default:
		}
		if resp, err := client.Get(url + "/moto-api/"); err == nil {
			resp.Body.Close()
			return url, nil
		}
	}
	stopMoto()
	return "", fmt.Errorf("%s did not answer within 45s: %s", url, out.String())
}

// stopMoto ends the server's process group: SIGTERM, and SIGKILL for what
// is left when the server has not exited within 5 seconds. The server is
// reaped as it exits: unreaped, it would keep its group alive, and the
// stop would wait out the 5 seconds every time.
func stopMoto() {
	if moto.cmd == nil || moto.cmd.Process == nil {
		return
	}
	pgid := moto.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-moto.exited:
	case <-time.After(5 * time.Second):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-moto.exited:
	case <-time.After(5 * time.Second):
	}
}

// operations records the AWS operations the clients call.
type operations struct {
	mu  sync.Mutex
	ops []string
}

func (o *operations) add(op string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ops = append(o.ops, op)
}

// count returns how many calls each operation had.
func (o *operations) count() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]int{}
	for _, op := range o.ops {
		out[op]++
	}
	return out
}

// localConfig is the standard SDK configuration pointed at moto, with
// dummy credentials, nothing from the machine's ~/.aws, and every call
// recorded in ops (when not nil).
func localConfig(t *testing.T, ops *operations) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("eu-west-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithBaseEndpoint(motoURL(t)),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
	)
	if err != nil {
		t.Fatal(err)
	}
	if ops != nil {
		cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("RecordOperation",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					ops.add(awsmiddleware.GetServiceID(ctx) + ":" + awsmiddleware.GetOperationName(ctx))
					return next.HandleInitialize(ctx, in)
				}), middleware.Before)
		})
	}
	return cfg
}

// localConnect is the command's connect, against moto, recording calls.
func localConnect(t *testing.T, ops *operations) func(context.Context, string, string) (clients, error) {
	cfg := localConfig(t, ops)
	return func(context.Context, string, string) (clients, error) {
		return clients{Query: dynamodb.NewFromConfig(cfg), Parameters: ssm.NewFromConfig(cfg)}, nil
	}
}
