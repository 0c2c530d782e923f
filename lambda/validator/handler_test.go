package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
)

// jobResult is how an invocation ended its job.
type jobResult int

const (
	noResult jobResult = iota
	succeeded
	continued
	failed
)

func (r jobResult) String() string {
	return [...]string{"none", "succeeded", "continued", "failed"}[r]
}

// throttled is how an AWS API refuses a caller over its rate.
var throttled = &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}

// handleCase is one invocation of Handle on a new world of fakes, and what it
// must do.
type handleCase struct {
	name     string
	setup    func(w *world)
	event    []byte
	wantErr  error // returned by Handle
	result   jobResult
	failType cptypes.FailureType
	status   Status // the item written; "" for none
	sns      bool
	reason   []string // in the item's reason and the job's message
	check    func(t *testing.T, w *world)
}

// testHandle runs each case on a new world. Besides what the case asks,
// every invocation must end its job at most once and as the case says, write
// at most one item, under the job's execution, send one message when the case
// expects one and none otherwise, and never leak the artifact credentials.
func testHandle(t *testing.T, cases []handleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			if tc.setup != nil {
				tc.setup(w)
			}
			err := w.handle(context.Background(), tc.event)

			switch {
			case tc.wantErr == errAny && err == nil, tc.wantErr == nil && err != nil,
				tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("Handle() error = %v, want %v", err, tc.wantErr)
			}
			if errors.Is(tc.wantErr, ErrNotAJob) && w.awsCalls() != 0 {
				t.Fatalf("a non-job made %d AWS calls", w.awsCalls())
			}

			// Exactly one job result, of the expected kind.
			gotResult := noResult
			switch n := len(w.pipeline.successes) + len(w.pipeline.failures); {
			case n > 1:
				t.Fatalf("%d job results for one invocation", n)
			case len(w.pipeline.failures) == 1:
				gotResult = failed
				fd := w.pipeline.failures[0].FailureDetails
				if aws.ToString(w.pipeline.failures[0].JobId) != testJob || fd.Type != tc.failType {
					t.Errorf("PutJobFailureResult(job %s, %s), want %s", aws.ToString(w.pipeline.failures[0].JobId), fd.Type, tc.failType)
				}
			case len(w.pipeline.successes) == 1 && w.pipeline.successes[0].ContinuationToken != nil:
				gotResult = continued
			case len(w.pipeline.successes) == 1:
				gotResult = succeeded
			}
			if gotResult != tc.result {
				t.Fatalf("job result %v, want %v; logs:\n%s", gotResult, tc.result, w.logs.String())
			}

			// One item, or none.
			items := w.table.records()
			wantItems := 0
			if tc.status != "" {
				wantItems = 1
			}
			if len(items) != wantItems {
				t.Fatalf("%d items, want %d: %v", len(items), wantItems, items)
			}
			itemReason := ""
			if wantItems == 1 {
				item := items[0]
				if got := Status(attrS(item, "status")); got != tc.status {
					t.Errorf("item status %s, want %s (reason %q)", got, tc.status, attrS(item, "reason"))
				}
				if attrS(item, "deploymentId") != testExec || attrS(item, "jobId") != testJob ||
					attrN(item, "timestamp") != strconvMillis(testNow) || attrS(item, "imageTag") != testTag && !strings.Contains(tc.name, "unresolved") {
					t.Errorf("item key or fields wrong: %v", item)
				}
				itemReason = attrS(item, "reason")
			}

			// Every failure notifies once; a pass or a wait never does.
			if got := len(w.topic.msgs); got != map[bool]int{true: 1}[tc.sns] {
				t.Fatalf("%d SNS messages, want sns=%v", got, tc.sns)
			}
			message := ""
			if tc.sns {
				m := w.topic.msgs[0]
				subj, body := aws.ToString(m.Subject), aws.ToString(m.Message)
				if len(subj) >= 100 || !strings.Contains(subj, "[cicd-pipeline ") {
					t.Errorf("subject %q", subj)
				}
				if w.cfgErr == nil && !strings.Contains(subj, " dev]") {
					t.Errorf("subject %q does not name the environment", subj)
				}
				message = body
			}

			jobText := ""
			if len(w.pipeline.failures) == 1 {
				jobText = aws.ToString(w.pipeline.failures[0].FailureDetails.Message)
			} else if len(w.pipeline.successes) == 1 && w.pipeline.successes[0].ExecutionDetails != nil {
				jobText = aws.ToString(w.pipeline.successes[0].ExecutionDetails.Summary)
			}
			for _, want := range tc.reason {
				if !strings.Contains(jobText, want) {
					t.Errorf("job message %q lacks %q", jobText, want)
				}
				if wantItems == 1 && !strings.Contains(itemReason, want) {
					t.Errorf("item reason %q lacks %q", itemReason, want)
				}
				if tc.sns && !strings.Contains(message, want) {
					t.Errorf("SNS message lacks %q:\n%s", want, message)
				}
			}

			// The artifact credentials never leave the event.
			for _, secret := range []string{testSecret, testToken, "AKIAEXAMPLEKEYID"} {
				if strings.Contains(w.logs.String(), secret) || strings.Contains(message, secret) || strings.Contains(jobText, secret) {
					t.Fatalf("artifact credential %q leaked", secret)
				}
			}
			if tc.check != nil {
				tc.check(t, w)
			}
		})
	}
}

// errAny stands for "some error" in the table.
var errAny = errors.New("any error")

// The outcome is recorded, announced and sent to CodePipeline; what cannot be
// delivered fails closed or is the handler's error, and a panic still ends
// the job.
func TestHandleDeliversTheOutcome(t *testing.T) {
	gate := params("gate", testTag, testExec)
	testHandle(t, []handleCase{
		{
			name: "a pass that cannot be recorded fails the job (fail closed)",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, nil)
				w.table.putErr = errors.New("AccessDeniedException: not authorized")
			},
			event: jobEventJSON(testJob, gate, ""), result: failed, failType: cptypes.FailureTypeJobFailed,
			sns: true, reason: []string{"could not record the outcome", "AccessDenied", "the check said VALIDATED"},
			check: func(t *testing.T, w *world) {
				if !strings.HasPrefix(aws.ToString(w.pipeline.failures[0].FailureDetails.Message), "ERROR: ") {
					t.Error("the failure does not say ERROR")
				}
			},
		},
		{
			name: "a lost notification does not hide the rejection",
			setup: func(w *world) {
				w.images.err = &ecrtypes.ImageNotFoundException{Message: aws.String("not found")}
				w.topic.err = errors.New("sns is down")
			},
			event: jobEventJSON(testJob, gate, ""), result: failed, failType: cptypes.FailureTypeJobFailed,
			status: StatusRejected, sns: true, reason: []string{"image not found"},
			check: func(t *testing.T, w *world) {
				if !strings.Contains(w.logs.String(), "notification not sent") {
					t.Error("the lost notification is not logged")
				}
			},
		},
		{
			name: "a job result that cannot be sent is the handler's error",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, nil)
				w.pipeline.successErr = errors.New("codepipeline is down")
			},
			event: jobEventJSON(testJob, gate, ""), wantErr: errAny, result: succeeded, status: StatusValidated,
		},
		{
			name: "a continuation that cannot be sent is the handler's error",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusInProgress)
				w.pipeline.successErr = throttled
			},
			event: jobEventJSON(testJob, gate, ""), wantErr: errAny, result: continued,
		},
		{
			name:  "a panic in the logic still ends the job, and Handle reports it",
			setup: func(w *world) { w.images.panic = true },
			event: jobEventJSON(testJob, gate, ""), wantErr: ErrInternal, result: failed, failType: cptypes.FailureTypeJobFailed,
			status: StatusError, sns: true, reason: []string{"internal error", "exploded"},
		},
	})
}

// An event that is not a CodePipeline job is refused before any AWS call.
func TestHandleIgnoresEventsThatAreNotJobs(t *testing.T) {
	gate := params("gate", testTag, testExec)
	testHandle(t, []handleCase{
		{name: "an empty object is not a job", event: []byte(`{}`), wantErr: ErrNotAJob},
		{name: "null is not a job", event: []byte(`null`), wantErr: ErrNotAJob},
		{name: "an array is not a job", event: []byte(`[1,2]`), wantErr: ErrNotAJob},
		{name: "a string is not a job", event: []byte(`"CodePipeline.job"`), wantErr: ErrNotAJob},
		{name: "broken JSON is not a job", event: []byte(`{"CodePipeline.job":{"id":"x"`), wantErr: ErrNotAJob},
		{name: "an S3 event is not a job", event: []byte(`{"Records":[{"eventSource":"aws:s3","s3":{"bucket":{"name":"b"}}}]}`), wantErr: ErrNotAJob},
		{name: "a job with an empty id is not a job", event: jobEventJSON("", gate, ""), wantErr: ErrNotAJob},
		{name: "a job id with a newline is not a job", event: jobEventJSON("abc\ndef", gate, ""), wantErr: ErrNotAJob},
	})
}
