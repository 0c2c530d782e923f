package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
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
			w.rolledOut(testRepoURI + ":" + testTag)
			w.manifests.hang = true
		}, status: StatusDeployed},
		{name: "STS AssumeRole hangs", event: multi("verify", map[string]any{"target": map[string]any{"roleArn": stagingRole}}),
			setup: func(w *world) { w.roles.hang = true }, status: StatusError},
	}
	// The cases wait on hung calls, not on the processor, so they run all
	// at once (t.Parallel runs GOMAXPROCS tests at a time), then each is
	// checked.
	type run struct {
		w        *world
		o        observed
		deadline time.Time
		returned time.Time
	}
	runs := make([]run, len(cases))
	var wg sync.WaitGroup
	for i, tc := range cases {
		w := newWorld()
		tc.setup(w)
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()
			deadline, _ := ctx.Deadline()
			o := w.run(ctx, jobEventJSON(testJob, tc.event, ""))
			runs[i] = run{w: w, o: o, deadline: deadline, returned: time.Now()}
		})
	}
	wg.Wait()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, o := runs[i].w, runs[i].o
			if o.panicked != nil || o.results != 1 {
				t.Fatalf("want one job result; got %s", o)
			}
			if err := w.pipeline.resultErrs[0]; err != nil {
				t.Fatalf("the job result was sent with a context that was already done (%v); %s", err, o)
			}
			if o.err != nil {
				t.Errorf("the job was ended, but Handle() = %v", o.err)
			}
			if left := runs[i].deadline.Sub(runs[i].returned); left <= 0 {
				t.Errorf("Handle returned %s after the deadline", -left)
			}
			if tc.status != "" && o.status() != tc.status {
				t.Errorf("item status %q, want %q; %s", o.status(), tc.status, o)
			}
			if tc.status == StatusError && o.result != failed {
				t.Errorf("job result %v with an ERROR item, want it failed; %s", o.result, o)
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
