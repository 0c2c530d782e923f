package main

import (
	"bytes"
	"context"
	"encoding/json"
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

// SDK settings the validator does not read are named in one warning at
// start, and fail nothing.
func TestWiringWarnsOfSDKSettingsItDoesNotRead(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra map[string]string
		want  []any // the warning's "ignored"; nil: no warning
	}{
		{name: "Lambda's environment"},
		{name: "a profile and a CA bundle", extra: map[string]string{"AWS_PROFILE": "dev", "AWS_CA_BUNDLE": "/etc/ca.pem"}, want: []any{"AWS_PROFILE", "AWS_CA_BUNDLE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv()
			env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = "test", "test"
			for k, v := range tc.extra {
				env[k] = v
			}
			var logs bytes.Buffer
			newHandlerFromEnvironment(func(k string) string { return env[k] }, slog.New(slog.NewJSONHandler(&logs, nil)))
			var warnings [][]any
			for line := range strings.Lines(logs.String()) {
				var entry map[string]any
				if err := json.Unmarshal([]byte(line), &entry); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				switch entry["level"] {
				case "WARN":
					ignored, _ := entry["ignored"].([]any)
					warnings = append(warnings, ignored)
				case "ERROR":
					t.Errorf("logged %s, want no error", strings.TrimSpace(line))
				}
			}
			switch {
			case tc.want == nil && len(warnings) > 0:
				t.Errorf("warnings %v, want none", warnings)
			case tc.want != nil && (len(warnings) != 1 || fmt.Sprint(warnings[0]) != fmt.Sprint(tc.want)):
				t.Errorf("warnings %v, want one that names %v", warnings, tc.want)
			}
		})
	}
}
