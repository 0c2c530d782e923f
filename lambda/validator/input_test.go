package main

import (
	"context"
	"strings"
	"testing"
	"time"

	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// Input that cannot be checked fails the job with a clear reason, and is
// recorded whenever the execution can be read. The parsers themselves are in
// parse_test.go.

// UserParameters that are not the contract fail the job as a configuration
// error.
func TestHandleInvalidUserParameters(t *testing.T) {
	testHandle(t, []handleCase{
		{
			name:  "UserParameters that are not JSON",
			event: jobEventJSON(testJob, "mode=gate", ""), result: failed, failType: cptypes.FailureTypeConfigurationError,
			sns: true, reason: []string{"invalid UserParameters: not a JSON object"},
		},
		{
			name:  "empty UserParameters",
			event: jobEventJSON(testJob, "", ""), result: failed, failType: cptypes.FailureTypeConfigurationError,
			sns: true, reason: []string{"invalid UserParameters: empty"},
		},
		{
			name:  "an unknown mode is recorded under its execution",
			event: jobEventJSON(testJob, params("deploy", testTag, testExec), ""), result: failed,
			failType: cptypes.FailureTypeConfigurationError, status: StatusError, sns: true,
			reason: []string{`mode "deploy" is not gate or verify`},
		},
		{
			name:  "missing fields",
			event: jobEventJSON(testJob, `{"mode":"gate"}`, ""), result: failed, failType: cptypes.FailureTypeConfigurationError,
			sns: true, reason: []string{"imageTag is missing", "executionId is missing"},
		},
		{
			name:  "an unresolved pipeline variable",
			event: jobEventJSON(testJob, params("gate", "#{BuildVariables.IMAGE_TAG}", testExec), ""), result: failed,
			failType: cptypes.FailureTypeConfigurationError, status: StatusError, sns: true,
			reason: []string{"imageTag is the unresolved pipeline variable"},
		},
	})
}

// A continuation token the validator could not have written for this mode
// fails the job.
func TestHandleInvalidContinuationToken(t *testing.T) {
	gate := params("gate", testTag, testExec)
	verify := params("verify", testTag, testExec)
	testHandle(t, []handleCase{
		{
			name:  "a continuation token the validator did not write",
			setup: func(w *world) { w.images.out = imageOut(ecrtypes.ScanStatusInProgress) },
			event: jobEventJSON(testJob, gate, "not-json"), result: failed, failType: cptypes.FailureTypeJobFailed,
			status: StatusError, sns: true, reason: []string{"invalid continuation token"},
		},
		{
			name:  "a continuation token from the other mode",
			event: jobEventJSON(testJob, verify, tokenAt(ModeGate, testNow, 1)), result: failed,
			failType: cptypes.FailureTypeJobFailed, status: StatusError, sns: true, reason: []string{`written for mode "gate"`},
		},
	})
}

// A function without its environment fails every job and checks nothing.
func TestHandleMisconfiguredFunction(t *testing.T) {
	gate := params("gate", testTag, testExec)
	testHandle(t, []handleCase{
		{
			name: "missing environment fails every job with the reason",
			setup: func(w *world) {
				delete(w.env, "ECS_CLUSTER")
				delete(w.env, "STATE_TABLE")
			},
			event: jobEventJSON(testJob, gate, ""), result: failed, failType: cptypes.FailureTypeConfigurationError,
			sns: true, reason: []string{"validator misconfigured", "STATE_TABLE, ECS_CLUSTER"},
			check: func(t *testing.T, w *world) {
				if len(w.images.calls)+len(w.services.calls) != 0 {
					t.Error("checked an image with a broken configuration")
				}
			},
		},
	})
}

// The event's data is only a hint: the job is judged as CodePipeline holds it.
func TestHandleMalformedEventData(t *testing.T) {
	gate := params("gate", testTag, testExec)
	testHandle(t, []handleCase{
		{
			name: "an event whose data does not decode is judged on the job CodePipeline holds",
			setup: func(w *world) {
				w.pipeline.addJob(testJob, gate, "")
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, nil)
			},
			event:  []byte(`{"CodePipeline.job":{"id":"` + testJob + `","data":{"actionConfiguration":{"configuration":{"UserParameters":42}}}}}`),
			result: succeeded, status: StatusValidated,
			check: func(t *testing.T, w *world) {
				if !strings.Contains(w.logs.String(), "malformed event") {
					t.Error("the malformed event is not logged")
				}
			},
		},
	})
}

// Issue 13.5: UserParameters are read strictly, every readable execution id
// is recorded, and a continuation token that could not have been written is
// refused.
func TestStrictInput(t *testing.T) {
	cases := []struct {
		name     string
		params   string
		token    string
		failType cptypes.FailureType
		status   Status // the one item; "" for none
		reason   string
	}{
		{
			name:     "a wrong-typed imageTag still records the execution",
			params:   `{"mode":"gate","imageTag":7,"executionId":"` + testExec + `"}`,
			failType: cptypes.FailureTypeConfigurationError, status: StatusError, reason: "imageTag is not a string",
		},
		{
			name:     "a wrong-typed mode still records the execution",
			params:   `{"mode":["gate"],"imageTag":"abc123","executionId":"` + testExec + `"}`,
			failType: cptypes.FailureTypeConfigurationError, status: StatusError, reason: "mode is not a string",
		},
		{
			name:     "a closing brace after the object",
			params:   params("gate", testTag, testExec) + "}",
			failType: cptypes.FailureTypeConfigurationError, status: "", reason: "text after the JSON object",
		},
		{
			name:     "a repeated key",
			params:   `{"mode":"verify","imageTag":"abc123","executionId":"` + testExec + `","mode":"gate"}`,
			failType: cptypes.FailureTypeConfigurationError, status: "", reason: `key "mode" appears twice`,
		},
		{
			name:     "keys that differ only in case",
			params:   `{"mode":"gate","imageTag":"abc123","executionId":"` + testExec + `","ImageTag":"clean"}`,
			failType: cptypes.FailureTypeConfigurationError, status: "", reason: `key "ImageTag" appears twice`,
		},
		{
			name:     "a known key in the wrong case",
			params:   `{"mode":"gate","IMAGETAG":"abc123","executionId":"` + testExec + `"}`,
			failType: cptypes.FailureTypeConfigurationError, status: StatusError, reason: `key "IMAGETAG" is spelled "imageTag"`,
		},
		{
			name:     "a continuation token that starts in the future",
			params:   params("gate", testTag, testExec),
			token:    tokenAt(ModeGate, testNow.Add(time.Hour), 1),
			failType: cptypes.FailureTypeJobFailed, status: StatusError, reason: "starts in the future",
		},
		{
			name:     "a continuation token with an absurd attempt count",
			params:   params("gate", testTag, testExec),
			token:    tokenAt(ModeGate, testNow.Add(-time.Minute), 1_000_000_000),
			failType: cptypes.FailureTypeJobFailed, status: StatusError, reason: "attempt 1000000000",
		},
		{
			name:     "a continuation token with a repeated key",
			params:   params("gate", testTag, testExec),
			token:    `{"mode":"gate","since":1,"attempt":1,"since":` + strconvMillis(testNow) + `}`,
			failType: cptypes.FailureTypeJobFailed, status: StatusError, reason: "invalid continuation token",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			w.images.out = imageOut(ecrtypes.ScanStatusInProgress)
			o := w.run(context.Background(), jobEventJSON(testJob, tc.params, tc.token))
			if o.panicked != nil || o.err != nil || o.result != failed || o.results != 1 {
				t.Fatalf("want one failed job result; got %s", o)
			}
			if ft := w.pipeline.failures[0].FailureDetails.Type; ft != tc.failType {
				t.Errorf("failure type %s, want %s", ft, tc.failType)
			}
			if !strings.Contains(o.text, tc.reason) {
				t.Errorf("job message %q lacks %q", o.text, tc.reason)
			}
			wantItems := map[bool]int{true: 1}[tc.status != ""]
			if len(o.items) != wantItems || (wantItems == 1 && (o.status() != tc.status || attrS(o.items[0], "deploymentId") != testExec)) {
				t.Errorf("want %d item with status %q for %s; got %s", wantItems, tc.status, testExec, o)
			}
			if len(w.images.calls) != 0 {
				t.Error("an image was checked for a job that could not be read")
			}
		})
	}
}
