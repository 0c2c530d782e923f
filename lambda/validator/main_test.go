package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// Issue 13.4, in process: with an SDK setting that cannot be used, main's
// wiring still ends every job, as a ConfigurationError that names the
// cause, through clients built from the rest of the environment (which
// honour the endpoint overrides).
func TestWiringEndsJobsWhenTheSDKConfigurationFails(t *testing.T) {
	cp := newCodePipelineFake(t)
	env := testEnv()
	for k, v := range map[string]string{
		"AWS_MAX_ATTEMPTS": "three", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_ENDPOINT_URL": cp.URL, "AWS_ENDPOINT_URL_CODEPIPELINE": cp.URL,
	} {
		env[k] = v
	}
	var logs bytes.Buffer
	h := newHandlerFromEnvironment(func(k string) string { return env[k] }, slog.New(slog.NewJSONHandler(&logs, nil)))

	userParameters := params("gate", testTag, testExec)
	cp.addJob(testJob, userParameters, "")
	if err := h.Handle(context.Background(), jobEventJSON(testJob, userParameters, "")); err != nil {
		t.Fatalf("Handle() = %v\n%s", err, logs.String())
	}
	c := cp.callsFor(testJob)
	if len(c) != 1 || c[0].Op != "PutJobFailureResult" {
		t.Fatalf("job results %+v, want one PutJobFailureResult\n%s", c, logs.String())
	}
	fd, _ := c[0].Body["failureDetails"].(map[string]any)
	msg := fmt.Sprint(fd["message"])
	if fd["type"] != "ConfigurationError" || !strings.Contains(msg, "AWS_MAX_ATTEMPTS") || strings.Contains(msg, "\n") {
		t.Errorf("failure %v, want a one-line ConfigurationError that names AWS_MAX_ATTEMPTS", fd)
	}
}
