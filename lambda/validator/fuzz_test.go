package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// Fuzz targets: the seeds run as ordinary tests; CI also runs each briefly
// with go test -run='^$' -fuzz=FuzzX -fuzztime=10s ./lambda/validator.

func eventSeeds() [][]byte {
	return [][]byte{
		jobEventJSON(testJob, params("gate", testTag, testExec), ""),
		jobEventJSON(testJob, params("verify", testTag, testExec), tokenAt(ModeVerify, testNow, 2)),
		jobEventJSON(testJob, `{"mode":"gate"}`, "garbage"),
		jobEventJSON(testJob, "", ""),
		jobEventJSON("", "", ""),
		[]byte(`{"CodePipeline.job":{"id":"j","data":{"actionConfiguration":{"configuration":{"UserParameters":{"mode":"gate"}}}}}}`),
		[]byte(`{"CodePipeline.job":{"id":"j","data":{"continuationToken":{"since":1}}}}`),
		[]byte(`{"CodePipeline.job":null}`),
		[]byte(`{"CodePipeline.job":"x"}`),
		[]byte(`{"Records":[]}`),
		[]byte(`[]`), []byte(`null`), []byte(``), []byte(`{`), []byte("\xff\xfe"),
	}
}

func FuzzParseEvent(f *testing.F) {
	for _, s := range eventSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := parseEvent(raw)
		if ev.ID == "" {
			if !errors.Is(err, ErrNotAJob) {
				t.Fatalf("no job id but error %v", err)
			}
			return
		}
		if !validJobID.MatchString(ev.ID) {
			t.Fatalf("invalid job id %q accepted", ev.ID)
		}
		if err != nil && !errors.Is(err, ErrMalformedEvent) {
			t.Fatalf("job %q with error %v", ev.ID, err)
		}
	})
}

func FuzzParseUserParameters(f *testing.F) {
	for _, s := range []string{
		params("gate", testTag, testExec), params("verify", "v1.0", "e"), params("deploy", "", ""),
		`{"mode":"gate","imageTag":"#{BuildVariables.IMAGE_TAG}","executionId":"#{codepipeline.PipelineExecutionId}"}`,
		`{}`, `[]`, `null`, `"gate"`, ``, `{"mode":"gate"} trailing`, `{"mode":"gate","mode":"verify"}`,
		`{"imageTag":"` + strings.Repeat("a", 200) + `"}`, "{\"imageTag\":\"a\u0000\"}", `{"mode":{"x":1}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		up, err := parseUserParameters(s)
		if up.Mode != "" && up.Mode != ModeGate && up.Mode != ModeVerify {
			t.Fatalf("mode %q accepted", up.Mode)
		}
		if up.ImageTag != "" && !validTag.MatchString(up.ImageTag) {
			t.Fatalf("tag %q accepted", up.ImageTag)
		}
		if up.ExecutionID != "" && !validExecutionID.MatchString(up.ExecutionID) {
			t.Fatalf("execution id %q accepted", up.ExecutionID)
		}
		if err == nil && (up.Mode == "" || up.ImageTag == "" || up.ExecutionID == "") {
			t.Fatalf("%+v accepted with a field missing", up)
		}
		if err != nil && (!errors.Is(err, ErrBadParameters) || strings.ContainsAny(err.Error(), "\n\r\x00")) {
			t.Fatalf("error %q", err)
		}
		if _, err := parseContinuation(s, ModeGate); err != nil && !errors.Is(err, ErrBadContinuation) {
			t.Fatalf("continuation error %v", err)
		}
	})
}

// FuzzHandle runs whole invocations on fakes: whatever the event, a job is
// ended exactly once, a non-job touches nothing, and nothing panics.
func FuzzHandle(f *testing.F) {
	for i, s := range eventSeeds() {
		f.Add(s, uint8(i))
	}
	f.Fuzz(func(t *testing.T, raw []byte, knobs uint8) {
		w := newWorld()
		// The knobs pick the answers of the fakes.
		switch knobs % 4 {
		case 0:
			w.images.out = imageOut(ecrtypes.ScanStatusComplete)
		case 1:
			w.images.out = imageOut(ecrtypes.ScanStatusInProgress)
		case 2:
			w.images.err = &ecrtypes.ImageNotFoundException{}
		}
		if knobs&4 != 0 {
			w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, map[string]int32{"CRITICAL": 1})
		}
		if knobs&8 != 0 {
			w.services.out = servicesOut(deployment("d", "PRIMARY", tdNew, ecstypes.DeploymentRolloutStateCompleted, 1, 1, ""))
			w.taskDefs.defs = taskDefs(map[string]string{tdNew: testRepoURI + ":" + testTag})
		}
		if knobs&16 != 0 {
			w.table.resendFirst = true
		}
		if knobs&32 != 0 {
			w.topic.err = errors.New("down")
		}
		w.now = testNow.Add(time.Duration(knobs) * time.Minute)

		err := w.handler().Handle(context.Background(), raw)
		ev, _ := parseEvent(raw)
		results := len(w.pipeline.successes) + len(w.pipeline.failures)
		switch {
		case ev.ID == "" && (err == nil || w.awsCalls() != 0):
			t.Fatalf("non-job: err %v, %d AWS calls", err, w.awsCalls())
		case ev.ID != "" && results != 1:
			t.Fatalf("job ended %d times", results)
		case ev.ID != "" && err != nil:
			t.Fatalf("job ended but Handle() = %v", err)
		case strings.Contains(w.logs.String(), `"msg":"panic"`):
			t.Fatalf("recovered panic: %s", w.logs.String())
		}
	})
}
