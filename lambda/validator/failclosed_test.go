package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// The validator fails closed and always ends its job, whatever AWS or the
// caller does. Each test here failed on the validator before it was made so.

// observed is what one invocation did, as the fakes saw it.
type observed struct {
	err      error // returned by Handle
	panicked any   // a panic that escaped Handle
	result   jobResult
	results  int
	text     string // the job result's message or summary
	items    []map[string]ddbtypes.AttributeValue
	msgs     []*sns.PublishInput
	took     time.Duration
}

func (w *world) run(ctx context.Context, raw []byte) (o observed) {
	start := time.Now()
	func() {
		defer func() { o.panicked = recover() }()
		o.err = w.handle(ctx, raw)
	}()
	o.took = time.Since(start)
	o.results = len(w.pipeline.successes) + len(w.pipeline.failures)
	switch {
	case len(w.pipeline.failures) > 0:
		o.result = failed
		o.text = aws.ToString(w.pipeline.failures[0].FailureDetails.Message)
	case len(w.pipeline.successes) > 0 && w.pipeline.successes[0].ContinuationToken != nil:
		o.result = continued
	case len(w.pipeline.successes) > 0:
		o.result = succeeded
	}
	if o.result == succeeded || o.result == continued {
		if d := w.pipeline.successes[0].ExecutionDetails; d != nil {
			o.text = aws.ToString(d.Summary)
		}
	}
	o.items = w.table.records()
	o.msgs = w.topic.msgs
	return o
}

// status is the only item's status, "" when there is not exactly one.
func (o observed) status() Status {
	if len(o.items) != 1 {
		return ""
	}
	return Status(attrS(o.items[0], "status"))
}

func (o observed) String() string {
	var subjects []string
	for _, m := range o.msgs {
		subjects = append(subjects, aws.ToString(m.Subject))
	}
	reason := ""
	if len(o.items) == 1 {
		reason = attrS(o.items[0], "reason")
	}
	return fmt.Sprintf("Handle() = %v (panic %v); %d job results, first %v %q; %d items (status %q, reason %q); messages %q",
		o.err, o.panicked, o.results, o.result, o.text, len(o.items), o.status(), reason, subjects)
}

func (r jobResult) String() string {
	return [...]string{"none", "succeeded", "continued", "failed"}[r]
}

func completedAt() *time.Time { return aws.Time(testNow.Add(-time.Minute)) }

// page is one answer of DescribeImageScanFindings without severity counts:
// basic findings (Findings) or enhanced ones (EnhancedFindings).
func page(status ecrtypes.ScanStatus, enhanced bool, completed bool, next string, severities ...string) *ecr.DescribeImageScanFindingsOutput {
	f := &ecrtypes.ImageScanFindings{}
	if completed {
		f.ImageScanCompletedAt = completedAt()
	}
	for i, sev := range severities {
		name := fmt.Sprintf("CVE-2026-%04d", i)
		if enhanced {
			e := ecrtypes.EnhancedImageScanFinding{Title: aws.String(name), Status: aws.String("ACTIVE")}
			if sev != "" {
				e.Severity = aws.String(sev)
			}
			f.EnhancedFindings = append(f.EnhancedFindings, e)
		} else {
			f.Findings = append(f.Findings, ecrtypes.ImageScanFinding{Name: aws.String(name), Severity: ecrtypes.FindingSeverity(sev)})
		}
	}
	out := &ecr.DescribeImageScanFindingsOutput{
		ImageScanStatus:   &ecrtypes.ImageScanStatus{Status: status},
		ImageScanFindings: f,
	}
	if next != "" {
		out.NextToken = aws.String(next)
	}
	return out
}

// Issue 13.1: the gate counts every finding when ECR gives no counts (enhanced
// scanning), waits while an enhanced scan has reported nothing, and rejects
// what it cannot read.
func TestGateReadsEveryFinding(t *testing.T) {
	gate := params("gate", testTag, testExec)
	cases := []struct {
		name   string
		setup  func(w *world)
		token  string
		result jobResult
		status Status
		reason []string
		check  func(t *testing.T, w *world)
	}{
		{
			name: "enhanced findings without counts reject a CRITICAL",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusActive)
				w.findings.out = page(ecrtypes.ScanStatusActive, true, true, "", "LOW", "CRITICAL")
			},
			result: failed, status: StatusRejected, reason: []string{"CRITICAL 1 (threshold HIGH)"},
			check: func(t *testing.T, w *world) {
				f := w.table.records()[0]["findings"].(*ddbtypes.AttributeValueMemberM).Value
				if len(f) != 2 || f["LOW"].(*ddbtypes.AttributeValueMemberN).Value != "1" {
					t.Errorf("findings recorded %v, want CRITICAL 1 and LOW 1", f)
				}
			},
		},
		{
			name: "basic findings on a later page count",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.findings.pages = map[string]*ecr.DescribeImageScanFindingsOutput{
					"":   page(ecrtypes.ScanStatusComplete, false, true, "p2", "LOW", "MEDIUM"),
					"p2": page(ecrtypes.ScanStatusComplete, false, true, "p3", "HIGH"),
					"p3": page(ecrtypes.ScanStatusComplete, false, true, "", "CRITICAL", "INFORMATIONAL"),
				}
			},
			result: failed, status: StatusRejected, reason: []string{"CRITICAL 1, HIGH 1 (threshold HIGH)"},
			check: func(t *testing.T, w *world) {
				if len(w.findings.calls) != 3 || aws.ToString(w.findings.calls[2].NextToken) != "p3" {
					t.Fatalf("%d findings calls, want 3 following nextToken", len(w.findings.calls))
				}
				for _, c := range w.findings.calls {
					if aws.ToString(c.ImageId.ImageDigest) != testDigest {
						t.Errorf("a page asked for %+v, not the digest", c.ImageId)
					}
				}
			},
		},
		{
			name: "counts that leave out a finding on the page do not hide it",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusActive)
				w.findings.out = page(ecrtypes.ScanStatusActive, true, true, "", "CRITICAL")
				w.findings.out.ImageScanFindings.FindingSeverityCounts = map[string]int32{"LOW": 3}
			},
			result: failed, status: StatusRejected, reason: []string{"CRITICAL 1"},
		},
		{
			name: "ACTIVE with nothing reported yet waits",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusActive)
				w.findings.out = page(ecrtypes.ScanStatusActive, true, false, "")
			},
			result: continued, reason: []string{"no findings reported yet"},
		},
		{
			name: "ACTIVE with nothing reported after the bounded wait rejects",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusActive)
				w.findings.out = page(ecrtypes.ScanStatusActive, true, false, "")
			},
			token:  tokenAt(ModeGate, testNow.Add(-901*time.Second), 30),
			result: failed, status: StatusRejected, reason: []string{"did not finish in time", "no findings reported yet"},
		},
		{
			name: "ACTIVE with a completed scan and no findings passes",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusActive)
				w.findings.out = page(ecrtypes.ScanStatusActive, true, true, "")
			},
			result: succeeded, status: StatusValidated,
		},
		{
			name: "COMPLETE with an empty basic answer passes",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.findings.out = page(ecrtypes.ScanStatusComplete, false, false, "")
			},
			result: succeeded, status: StatusValidated,
		},
		{
			name: "a nextToken that never ends rejects",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.findings.pages = map[string]*ecr.DescribeImageScanFindingsOutput{
					"":     page(ecrtypes.ScanStatusComplete, false, true, "loop", "LOW"),
					"loop": page(ecrtypes.ScanStatusComplete, false, true, "loop", "LOW"),
				}
			},
			result: failed, status: StatusRejected, reason: []string{"could not read all findings"},
		},
		{
			name: "a page that fails makes the gate an ERROR, not a pass",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.findings.pages = map[string]*ecr.DescribeImageScanFindingsOutput{
					"": page(ecrtypes.ScanStatusComplete, false, true, "gone", "LOW"),
				}
			},
			result: failed, status: StatusError, reason: []string{"invalid nextToken"},
		},
		{
			name: "UNTRIAGED rejects at threshold LOW",
			setup: func(w *world) {
				w.env["SCAN_FAIL_SEVERITY"] = "LOW"
				w.images.out = imageOut(ecrtypes.ScanStatusActive)
				w.findings.out = findingsOut(ecrtypes.ScanStatusActive, map[string]int32{"UNTRIAGED": 2, "INFORMATIONAL": 5})
			},
			result: failed, status: StatusRejected, reason: []string{"UNTRIAGED 2 (threshold LOW)"},
		},
		{
			name: "UNDEFINED rejects at threshold LOW",
			setup: func(w *world) {
				w.env["SCAN_FAIL_SEVERITY"] = "LOW"
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, map[string]int32{"UNDEFINED": 1})
			},
			result: failed, status: StatusRejected, reason: []string{"UNDEFINED 1 (threshold LOW)"},
		},
		{
			name: "an enhanced finding without a severity is UNDEFINED",
			setup: func(w *world) {
				w.env["SCAN_FAIL_SEVERITY"] = "LOW"
				w.images.out = imageOut(ecrtypes.ScanStatusActive)
				w.findings.out = page(ecrtypes.ScanStatusActive, true, true, "", "")
			},
			result: failed, status: StatusRejected, reason: []string{"UNDEFINED 1"},
		},
		{
			name: "a severity the validator does not know rejects at threshold LOW",
			setup: func(w *world) {
				w.env["SCAN_FAIL_SEVERITY"] = "LOW"
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, map[string]int32{"SEVERE": 1})
			},
			result: failed, status: StatusRejected, reason: []string{"SEVERE 1 (threshold LOW)"},
		},
		{
			name: "UNDEFINED and UNTRIAGED do not reject at MEDIUM",
			setup: func(w *world) {
				w.env["SCAN_FAIL_SEVERITY"] = "MEDIUM"
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, map[string]int32{"UNDEFINED": 4, "UNTRIAGED": 1, "LOW": 2})
			},
			result: succeeded, status: StatusValidated,
		},
		{
			name: "INFORMATIONAL never rejects",
			setup: func(w *world) {
				w.env["SCAN_FAIL_SEVERITY"] = "LOW"
				w.images.out = imageOut(ecrtypes.ScanStatusActive)
				w.findings.out = page(ecrtypes.ScanStatusActive, true, true, "", "INFORMATIONAL", "INFORMATIONAL")
			},
			result: succeeded, status: StatusValidated, reason: []string{"INFORMATIONAL 2"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			tc.setup(w)
			o := w.run(context.Background(), jobEventJSON(testJob, gate, tc.token))
			if o.panicked != nil || o.err != nil || o.result != tc.result || o.results != 1 || o.status() != tc.status {
				t.Fatalf("want one %v job result and status %q; got %s", tc.result, tc.status, o)
			}
			for _, want := range tc.reason {
				if !strings.Contains(o.text, want) {
					t.Errorf("job message %q lacks %q", o.text, want)
				}
			}
			if tc.check != nil {
				tc.check(t, w)
			}
		})
	}
}

// Issue 13.2: whatever hangs, the job result goes out, with time left, before
// the invocation's deadline.
func TestJobEndsInTime(t *testing.T) {
	const limit = 2 * time.Second
	gate := params("gate", testTag, testExec)
	verify := params("verify", testTag, testExec)
	cases := []struct {
		name   string
		event  string
		setup  func(w *world)
		status Status
	}{
		{name: "ECR DescribeImages hangs", event: gate, setup: func(w *world) { w.images.hang = true }, status: StatusError},
		{name: "ECR DescribeImageScanFindings hangs", event: gate, setup: func(w *world) {
			w.images.out = imageOut(ecrtypes.ScanStatusComplete)
			w.findings.hang = true
		}, status: StatusError},
		{name: "ECS DescribeServices hangs", event: verify, setup: func(w *world) { w.services.hang = true }, status: StatusError},
		{name: "ECS DescribeTaskDefinition hangs", event: verify, setup: func(w *world) {
			w.services.out = servicesOut(deployment("ecs-svc/2", "PRIMARY", tdNew, ecstypes.DeploymentRolloutStateCompleted, 1, 1, ""))
			w.taskDefs.hang = true
		}, status: StatusError},
		{name: "DynamoDB PutItem hangs", event: gate, setup: func(w *world) {
			w.images.out = imageOut(ecrtypes.ScanStatusComplete)
			w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, nil)
			w.table.hang = true
		}},
		{name: "DynamoDB GetItem hangs", event: gate, setup: func(w *world) {
			w.images.out = imageOut(ecrtypes.ScanStatusComplete)
			w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, nil)
			w.table.resendFirst, w.table.noAllOld = true, true
			w.table.getHang = true
		}, status: StatusValidated},
		{name: "SNS Publish hangs", event: gate, setup: func(w *world) { w.topic.hang = true }, status: StatusRejected},
		{name: "CodePipeline GetJobDetails hangs", event: gate, setup: func(w *world) { w.pipeline.hangDetails = true }, status: StatusError},
		{name: "ECR BatchGetImage hangs", event: verify, setup: func(w *world) {
			w.images.out = imageOut(ecrtypes.ScanStatusComplete)
			w.services.out = servicesOut(deployment("ecs-svc/2", "PRIMARY", tdNew, ecstypes.DeploymentRolloutStateCompleted, 1, 1, ""))
			w.taskDefs.defs = taskDefs(map[string]string{tdNew: testRepoURI + ":" + testTag})
			w.manifests.hang = true
		}, status: StatusDeployed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld()
			tc.setup(w)
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()
			deadline, _ := ctx.Deadline()
			o := w.run(ctx, jobEventJSON(testJob, tc.event, ""))
			if o.panicked != nil || o.results != 1 {
				t.Fatalf("want one job result; got %s", o)
			}
			if err := w.pipeline.resultErrs[0]; err != nil {
				t.Fatalf("the job result was sent with a context that was already done (%v); %s", err, o)
			}
			if o.err != nil {
				t.Errorf("the job was ended, but Handle() = %v", o.err)
			}
			if left := time.Until(deadline); left <= 0 {
				t.Errorf("Handle returned %s after the deadline", -left)
			}
			if tc.status != "" && o.status() != tc.status {
				t.Errorf("item status %q, want %q; %s", o.status(), tc.status, o)
			}
		})
	}
}

// Issue 13.3: a panic is recovered once: nothing is written or sent twice,
// the job is ended once, and Handle reports it.
func TestRecovery(t *testing.T) {
	gate := params("gate", testTag, testExec)
	cases := []struct {
		name   string
		setup  func(w *world)
		result jobResult
		items  int
		puts   int
		msgs   int
	}{
		{
			name:   "a panic inside Publish",
			setup:  func(w *world) { w.topic.panic = true },
			result: failed, items: 1, puts: 1, msgs: 1,
		},
		{
			name: "a panic inside PutItem",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, nil)
				w.table.panicOnPut = true
			},
			result: failed, items: 1, puts: 1, msgs: 1,
		},
		{
			name: "a panic after the job was ended",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, nil)
				w.pipeline.panicAfterResult = true
			},
			result: succeeded, items: 1, puts: 1, msgs: 0,
		},
		{
			name:   "a panic in the check",
			setup:  func(w *world) { w.images.panic = true },
			result: failed, items: 1, puts: 1, msgs: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			tc.setup(w)
			o := w.run(context.Background(), jobEventJSON(testJob, gate, ""))
			if o.panicked != nil {
				t.Fatalf("the panic escaped Handle: %v; %s", o.panicked, o)
			}
			if !errors.Is(o.err, ErrInternal) {
				t.Errorf("Handle() = %v, want an ErrInternal error after a panic", o.err)
			}
			if o.results != 1 || o.result != tc.result || len(o.items) != tc.items || w.table.puts != tc.puts || len(o.msgs) != tc.msgs {
				t.Errorf("want one %v job result, %d items from %d puts, %d messages; got %d puts, %s",
					tc.result, tc.items, tc.puts, tc.msgs, w.table.puts, o)
			}
		})
	}
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

// Issue 13.6: the validator acts on the job as CodePipeline holds it, and only
// on jobs of its own pipeline's invoke actions of this function.
func TestTrustCodePipeline(t *testing.T) {
	gate := params("gate", testTag, testExec)
	t.Run("a job of another pipeline is refused and left alone", func(t *testing.T) {
		w := newWorld()
		w.images.out = imageOut(ecrtypes.ScanStatusComplete)
		w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, nil)
		w.pipeline.addJob(testJob, gate, "").Data.PipelineContext.PipelineName = aws.String("someone-elses-pipeline")
		o := w.run(context.Background(), jobEventJSON(testJob, gate, ""))
		if !errors.Is(o.err, ErrForeignJob) || o.results != 0 || len(o.items) != 0 || len(w.images.calls) != 0 {
			t.Fatalf("want ErrForeignJob and nothing else; got %s", o)
		}
		if !strings.Contains(w.logs.String(), "someone-elses-pipeline") {
			t.Errorf("the refusal is not logged with the pipeline's name:\n%s", w.logs.String())
		}
	})
	t.Run("a job for another function is refused", func(t *testing.T) {
		w := newWorld()
		w.pipeline.addJob(testJob, gate, "").Data.ActionConfiguration.Configuration["FunctionName"] = "another-function"
		o := w.run(context.Background(), jobEventJSON(testJob, gate, ""))
		if !errors.Is(o.err, ErrForeignJob) || o.results != 0 || len(o.items) != 0 {
			t.Fatalf("want ErrForeignJob and nothing else; got %s", o)
		}
	})
	t.Run("a job of another action type is refused", func(t *testing.T) {
		w := newWorld()
		w.pipeline.addJob(testJob, gate, "").Data.ActionTypeId.Owner = cptypes.ActionOwnerCustom
		o := w.run(context.Background(), jobEventJSON(testJob, gate, ""))
		if !errors.Is(o.err, ErrForeignJob) || o.results != 0 {
			t.Fatalf("want ErrForeignJob and nothing else; got %s", o)
		}
	})
	t.Run("a job CodePipeline does not know is refused", func(t *testing.T) {
		w := newWorld()
		w.images.out = imageOut(ecrtypes.ScanStatusComplete)
		w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, nil)
		o := observed{}
		o.err = w.handler().Handle(context.Background(), jobEventJSON(testJob, gate, ""))
		if !errors.Is(o.err, ErrForeignJob) || len(w.pipeline.successes)+len(w.pipeline.failures) != 0 || len(w.table.records()) != 0 {
			t.Fatalf("Handle() = %v with %d job results and %d items; want ErrForeignJob and nothing else",
				o.err, len(w.pipeline.successes)+len(w.pipeline.failures), len(w.table.records()))
		}
	})
	t.Run("the job's parameters come from CodePipeline, not from the event", func(t *testing.T) {
		w := newWorld()
		w.images.out = imageOut(ecrtypes.ScanStatusComplete)
		w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, map[string]int32{"CRITICAL": 1})
		w.pipeline.addJob(testJob, params("gate", "vulnerable-1", testExec), "")
		o := w.run(context.Background(), jobEventJSON(testJob, params("gate", "clean-1", "exec-forged"), ""))
		if o.result != failed || o.status() != StatusRejected {
			t.Fatalf("want the job's own image rejected; got %s", o)
		}
		if tag := aws.ToString(w.images.calls[0].ImageIds[0].ImageTag); tag != "vulnerable-1" {
			t.Errorf("checked tag %q, want the job's vulnerable-1", tag)
		}
		if attrS(o.items[0], "deploymentId") != testExec || attrS(o.items[0], "imageTag") != "vulnerable-1" {
			t.Errorf("item %v, want the job's own execution and tag", o.items[0])
		}
	})
	t.Run("the continuation token comes from CodePipeline, not from the event", func(t *testing.T) {
		w := newWorld()
		w.images.out = imageOut(ecrtypes.ScanStatusInProgress)
		w.pipeline.addJob(testJob, gate, tokenAt(ModeGate, testNow.Add(-901*time.Second), 30))
		o := w.run(context.Background(), jobEventJSON(testJob, gate, tokenAt(ModeGate, testNow, 0)))
		if o.result != failed || o.status() != StatusRejected || !strings.Contains(o.text, "did not finish in time") {
			t.Fatalf("want the scan timed out by the job's own token; got %s", o)
		}
	})
	t.Run("when CodePipeline cannot be asked, the job fails and is recorded", func(t *testing.T) {
		w := newWorld()
		w.images.out = imageOut(ecrtypes.ScanStatusComplete)
		w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, nil)
		w.pipeline.detailsErr = throttled
		o := w.run(context.Background(), jobEventJSON(testJob, gate, ""))
		if o.result != failed || o.status() != StatusError || len(o.msgs) != 1 || !strings.Contains(o.text, "ThrottlingException") {
			t.Fatalf("want a failed job, an ERROR item and one message; got %s", o)
		}
		if len(w.images.calls) != 0 {
			t.Error("the image was checked for a job CodePipeline did not confirm")
		}
	})
	t.Run("the artifact credentials CodePipeline returns are never logged", func(t *testing.T) {
		w := newWorld()
		w.images.err = throttled
		o := w.run(context.Background(), jobEventJSON(testJob, gate, ""))
		if o.results != 1 {
			t.Fatalf("got %s", o)
		}
		for _, secret := range []string{testSecret, testToken, "AKIAEXAMPLEKEYID"} {
			if strings.Contains(w.logs.String(), secret) || strings.Contains(o.text, secret) || strings.Contains(aws.ToString(o.msgs[0].Message), secret) {
				t.Fatalf("artifact credential %q leaked", secret)
			}
		}
	})
}

// Issue 13.7: UNSCANNED_IMAGES=allow lets an image that ECR cannot scan pass,
// and says so in the item and in a message; by default it is rejected.
func TestUnscannedImages(t *testing.T) {
	gate := params("gate", testTag, testExec)
	cases := []struct {
		name    string
		setting string
		status  ecrtypes.ScanStatus
		result  jobResult
		item    Status
		subject string // of the one message
	}{
		{name: "rejected by default", status: ecrtypes.ScanStatusUnsupportedImage, result: failed, item: StatusRejected,
			subject: "[cicd-pipeline dev] image abc123 rejected"},
		{name: "rejected with reject", setting: "reject", status: ecrtypes.ScanStatusUnsupportedImage, result: failed, item: StatusRejected,
			subject: "[cicd-pipeline dev] image abc123 rejected"},
		{name: "allowed with allow, and announced", setting: "allow", status: ecrtypes.ScanStatusUnsupportedImage, result: succeeded,
			item: StatusValidated, subject: "[cicd-pipeline dev] image abc123 passed unscanned"},
		{name: "a failed scan is still rejected with allow", setting: "allow", status: ecrtypes.ScanStatusFailed, result: failed,
			item: StatusRejected, subject: "[cicd-pipeline dev] image abc123 rejected"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			if tc.setting != "" {
				w.env["UNSCANNED_IMAGES"] = tc.setting
			}
			w.images.out = imageOut("")
			w.findings.out = findingsOut(tc.status, nil)
			o := w.run(context.Background(), jobEventJSON(testJob, gate, ""))
			if o.result != tc.result || o.status() != tc.item || len(o.msgs) != 1 || aws.ToString(o.msgs[0].Subject) != tc.subject {
				t.Fatalf("want %v, item %s, message %q; got %s", tc.result, tc.item, tc.subject, o)
			}
			if attrS(o.items[0], "scanStatus") != string(tc.status) {
				t.Errorf("item scanStatus %q, want %s", attrS(o.items[0], "scanStatus"), tc.status)
			}
			if tc.result == succeeded {
				for _, text := range []string{o.text, attrS(o.items[0], "reason"), aws.ToString(o.msgs[0].Message)} {
					if !strings.Contains(text, "not scanned") || !strings.Contains(text, "UNSCANNED_IMAGES=allow") {
						t.Errorf("%q does not say the image was not scanned and why it passed", text)
					}
				}
			}
		})
	}
	t.Run("an unknown setting fails every job", func(t *testing.T) {
		w := newWorld()
		w.env["UNSCANNED_IMAGES"] = "sometimes"
		o := w.run(context.Background(), jobEventJSON(testJob, gate, ""))
		if o.result != failed || w.pipeline.failures[0].FailureDetails.Type != cptypes.FailureTypeConfigurationError ||
			!strings.Contains(o.text, `UNSCANNED_IMAGES "sometimes" is not reject or allow`) {
			t.Fatalf("got %s", o)
		}
	})
}
