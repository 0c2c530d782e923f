package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

type jobResult int

const (
	noResult jobResult = iota
	succeeded
	continued
	failed
)

var throttled = &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}

func TestHandle(t *testing.T) {
	gate := params("gate", testTag, testExec)
	verify := params("verify", testTag, testExec)
	newImage := testRepoURI + ":" + testTag
	oldImage := testRepoURI + ":0ld0ld"

	cases := []struct {
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
	}{
		// gate
		{
			name: "gate validates an image without findings at or above the threshold",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, map[string]int32{"MEDIUM": 3, "LOW": 1})
			},
			event: jobEventJSON(testJob, gate, ""), result: succeeded, status: StatusValidated,
			reason: []string{"no findings at or above HIGH", "MEDIUM 3, LOW 1"},
			check: func(t *testing.T, w *world) {
				in := w.findings.calls[0]
				if aws.ToString(in.ImageId.ImageDigest) != testDigest {
					t.Errorf("findings asked for %+v, want the digest", in.ImageId)
				}
				item := w.table.records()[0]
				if got := item["findings"].(*ddbtypes.AttributeValueMemberM).Value["MEDIUM"]; got.(*ddbtypes.AttributeValueMemberN).Value != "3" {
					t.Errorf("findings.MEDIUM = %v", got)
				}
				if attrS(item, "imageDigest") != testDigest {
					t.Errorf("imageDigest = %q", attrS(item, "imageDigest"))
				}
			},
		},
		{
			name: "gate asks the findings when DescribeImages has no scan status (moto)",
			setup: func(w *world) {
				w.images.out = imageOut("")
				w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, nil)
			},
			event: jobEventJSON(testJob, gate, ""), result: succeeded, status: StatusValidated,
		},
		{
			name: "gate accepts ACTIVE (enhanced scanning) as a finished scan",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusActive)
				w.findings.out = findingsOut(ecrtypes.ScanStatusActive, map[string]int32{"UNTRIAGED": 4})
			},
			event: jobEventJSON(testJob, gate, ""), result: succeeded, status: StatusValidated,
		},
		{
			name: "gate rejects findings at or above the threshold",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, map[string]int32{"CRITICAL": 1, "HIGH": 2, "LOW": 7})
			},
			event: jobEventJSON(testJob, gate, ""), result: failed, failType: cptypes.FailureTypeJobFailed,
			status: StatusRejected, sns: true, reason: []string{"CRITICAL 1, HIGH 2 (threshold HIGH)"},
			check: func(t *testing.T, w *world) {
				if strings.Contains(w.table.records()[0]["reason"].(*ddbtypes.AttributeValueMemberS).Value, "LOW") {
					t.Error("reason names findings below the threshold")
				}
			},
		},
		{
			name: "gate with threshold NONE passes whatever the findings",
			setup: func(w *world) {
				w.env["SCAN_FAIL_SEVERITY"] = "NONE"
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, map[string]int32{"CRITICAL": 9})
			},
			event: jobEventJSON(testJob, gate, ""), result: succeeded, status: StatusValidated,
			reason: []string{"severity check disabled", "CRITICAL 9"},
		},
		{
			name:  "gate rejects an image that is not in the repository",
			setup: func(w *world) { w.images.err = &ecrtypes.ImageNotFoundException{Message: aws.String("not found")} },
			event: jobEventJSON(testJob, gate, ""), result: failed, failType: cptypes.FailureTypeJobFailed,
			status: StatusRejected, sns: true, reason: []string{"image not found", `"abc123"`, "cicd-pipeline-dev"},
		},
		{
			name:  "gate rejects an empty DescribeImages answer",
			setup: func(w *world) {},
			event: jobEventJSON(testJob, gate, ""), result: failed, status: StatusRejected, sns: true,
			failType: cptypes.FailureTypeJobFailed, reason: []string{"image not found"},
		},
		{
			name:  "gate waits while DescribeImages says the scan is in progress",
			setup: func(w *world) { w.images.out = imageOut(ecrtypes.ScanStatusInProgress) },
			event: jobEventJSON(testJob, gate, ""), result: continued,
			check: func(t *testing.T, w *world) {
				tok, err := parseContinuation(aws.ToString(w.pipeline.successes[0].ContinuationToken), ModeGate, testNow)
				if err != nil || tok.Since != testNow.UnixMilli() || tok.Attempt != 0 {
					t.Errorf("token %+v, %v: want since=now attempt=0", tok, err)
				}
				if len(w.findings.calls) != 0 {
					t.Error("asked the findings of a running scan")
				}
			},
		},
		{
			name:  "gate waits while the scan is PENDING",
			setup: func(w *world) { w.images.out = imageOut(ecrtypes.ScanStatusPending) },
			event: jobEventJSON(testJob, gate, ""), result: continued,
		},
		{
			name: "gate waits when the scan has not started (ScanNotFoundException)",
			setup: func(w *world) {
				w.images.out = imageOut("")
				w.findings.err = &ecrtypes.ScanNotFoundException{Message: aws.String("no scan")}
			},
			event: jobEventJSON(testJob, gate, ""), result: continued,
		},
		{
			name: "gate waits when the findings say IN_PROGRESS",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.findings.out = findingsOut(ecrtypes.ScanStatusInProgress, nil)
			},
			event: jobEventJSON(testJob, gate, ""), result: continued,
		},
		{
			name:  "gate keeps the start time across continuations",
			setup: func(w *world) { w.images.out = imageOut(ecrtypes.ScanStatusInProgress) },
			event: jobEventJSON(testJob, gate, tokenAt(ModeGate, testNow.Add(-2*time.Minute), 3)), result: continued,
			check: func(t *testing.T, w *world) {
				in := w.pipeline.successes[0]
				tok, err := parseContinuation(aws.ToString(in.ContinuationToken), ModeGate, testNow)
				if err != nil || tok.Since != testNow.Add(-2*time.Minute).UnixMilli() || tok.Attempt != 4 {
					t.Errorf("token %+v, %v: want the first start and attempt 4", tok, err)
				}
				if s := aws.ToString(in.ExecutionDetails.Summary); !strings.Contains(s, "2m0s of 15m0s") {
					t.Errorf("summary %q does not say how long it waited", s)
				}
			},
		},
		{
			name:   "gate rejects a scan still running after the bounded wait",
			setup:  func(w *world) { w.images.out = imageOut(ecrtypes.ScanStatusInProgress) },
			event:  jobEventJSON(testJob, gate, tokenAt(ModeGate, testNow.Add(-901*time.Second), 30)),
			result: failed, failType: cptypes.FailureTypeJobFailed, status: StatusRejected, sns: true,
			reason: []string{"did not finish in time", "15m1s", "limit 15m0s"},
		},
		{
			name: "gate honours SCAN_MAX_WAIT_SECONDS",
			setup: func(w *world) {
				w.env["SCAN_MAX_WAIT_SECONDS"] = "60"
				w.images.out = imageOut("")
				w.findings.err = &ecrtypes.ScanNotFoundException{Message: aws.String("no scan")}
			},
			event:  jobEventJSON(testJob, gate, tokenAt(ModeGate, testNow.Add(-61*time.Second), 1)),
			result: failed, failType: cptypes.FailureTypeJobFailed, status: StatusRejected, sns: true,
			reason: []string{"has not started", "limit 1m0s"},
		},
		{
			name:  "gate rejects a FAILED scan",
			setup: func(w *world) { w.images.out = imageOut(ecrtypes.ScanStatusFailed) },
			event: jobEventJSON(testJob, gate, ""), result: failed, failType: cptypes.FailureTypeJobFailed,
			status: StatusRejected, sns: true, reason: []string{"scan status FAILED"},
		},
		{
			name: "gate rejects an UNSUPPORTED_IMAGE scan reported by the findings",
			setup: func(w *world) {
				w.images.out = imageOut("")
				w.findings.out = findingsOut(ecrtypes.ScanStatusUnsupportedImage, nil)
			},
			event: jobEventJSON(testJob, gate, ""), result: failed, failType: cptypes.FailureTypeJobFailed,
			status: StatusRejected, sns: true, reason: []string{"UNSUPPORTED_IMAGE"},
		},
		{
			name:  "gate rejects other terminal scan states",
			setup: func(w *world) { w.images.out = imageOut(ecrtypes.ScanStatusFindingsUnavailable) },
			event: jobEventJSON(testJob, gate, ""), result: failed, status: StatusRejected, sns: true,
			failType: cptypes.FailureTypeJobFailed, reason: []string{"FINDINGS_UNAVAILABLE"},
		},
		{
			name:  "gate records ERROR when ECR fails",
			setup: func(w *world) { w.images.err = throttled },
			event: jobEventJSON(testJob, gate, ""), result: failed, failType: cptypes.FailureTypeJobFailed,
			status: StatusError, sns: true, reason: []string{"describe image cicd-pipeline-dev:abc123", "ThrottlingException"},
		},
		{
			name: "gate records ERROR when the findings call fails",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.findings.err = errors.New("connection reset")
			},
			event: jobEventJSON(testJob, gate, ""), result: failed, failType: cptypes.FailureTypeJobFailed,
			status: StatusError, sns: true, reason: []string{"describe scan findings", "connection reset"},
		},

		// verify
		{
			name: "verify passes when the completed primary deployment runs the tag",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.services.out = servicesOut(deployment("ecs-svc/2", "PRIMARY", tdNew, ecstypes.DeploymentRolloutStateCompleted, 2, 2, "done"))
				w.taskDefs.defs = taskDefs(map[string]string{tdNew: newImage})
			},
			event: jobEventJSON(testJob, verify, ""), result: succeeded, status: StatusDeployed,
			reason: []string{"ecs-svc/2 COMPLETED", "container app runs " + newImage, "kept from expiry as deployed-dev.20261125T120000.000Z"},
			check: func(t *testing.T, w *world) {
				in := w.services.calls[0]
				if aws.ToString(in.Cluster) != "production-cluster" || len(in.Services) != 1 || in.Services[0] != "cicd-pipeline-dev" {
					t.Errorf("DescribeServices(%v, %v)", aws.ToString(in.Cluster), in.Services)
				}
				if attrS(w.table.records()[0], "imageDigest") != testDigest {
					t.Error("verify did not record the digest")
				}
			},
		},
		{
			name: "verify accepts the image by digest",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.services.out = servicesOut(deployment("ecs-svc/2", "PRIMARY", tdNew, ecstypes.DeploymentRolloutStateCompleted, 1, 1, ""))
				w.taskDefs.defs = taskDefs(map[string]string{tdNew: testRepoURI + "@" + testDigest})
			},
			event: jobEventJSON(testJob, verify, ""), result: succeeded, status: StatusDeployed,
		},
		{
			name: "verify matches by tag when the digest lookup fails, and says the image is not protected",
			setup: func(w *world) {
				w.images.err = throttled
				w.services.out = servicesOut(deployment("ecs-svc/2", "PRIMARY", tdNew, ecstypes.DeploymentRolloutStateCompleted, 1, 1, ""))
				w.taskDefs.defs = taskDefs(map[string]string{tdNew: newImage})
			},
			event: jobEventJSON(testJob, verify, ""), result: succeeded, status: StatusDeployed, sns: true,
			reason: []string{"image not protected from expiry: the image's digest is unknown"},
		},
		{
			name: "verify fails a deployment the circuit breaker rolled back, naming the running image",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.services.out = servicesOut(
					deployment("ecs-svc/3", "PRIMARY", tdOld, ecstypes.DeploymentRolloutStateCompleted, 2, 2, "completed"),
					deployment("ecs-svc/2", "ACTIVE", tdNew, ecstypes.DeploymentRolloutStateFailed, 0, 2, "tasks failed to start"))
				w.taskDefs.defs = taskDefs(map[string]string{tdNew: newImage, tdOld: oldImage})
			},
			event: jobEventJSON(testJob, verify, ""), result: failed, failType: cptypes.FailureTypeJobFailed,
			status: StatusDeployFailed, sns: true,
			reason: []string{"container app runs " + oldImage, "expected " + newImage, "rolled back: deployment ecs-svc/2 of app:8 FAILED: tasks failed to start"},
		},
		{
			name: "verify fails a FAILED primary deployment and says what still runs",
			setup: func(w *world) {
				w.services.out = servicesOut(
					deployment("ecs-svc/2", "PRIMARY", tdNew, ecstypes.DeploymentRolloutStateFailed, 0, 2, "circuit breaker"),
					deployment("ecs-svc/1", "ACTIVE", tdOld, ecstypes.DeploymentRolloutStateCompleted, 2, 2, ""))
				w.taskDefs.defs = taskDefs(map[string]string{tdNew: newImage, tdOld: oldImage})
			},
			event: jobEventJSON(testJob, verify, ""), result: failed, failType: cptypes.FailureTypeJobFailed,
			status: StatusDeployFailed, sns: true,
			reason: []string{"ecs-svc/2 FAILED: circuit breaker", "still running: " + oldImage + " (deployment ecs-svc/1 ACTIVE, task definition app:7, 2 tasks)"},
		},
		{
			name: "verify waits for a rollout in progress",
			setup: func(w *world) {
				w.services.out = servicesOut(deployment("ecs-svc/2", "PRIMARY", tdNew, ecstypes.DeploymentRolloutStateInProgress, 1, 2, ""))
			},
			event: jobEventJSON(testJob, verify, ""), result: continued,
			check: func(t *testing.T, w *world) {
				if len(w.taskDefs.calls) != 0 {
					t.Error("described the task definition while waiting")
				}
				if s := aws.ToString(w.pipeline.successes[0].ExecutionDetails.Summary); !strings.Contains(s, "1 of 2 tasks running") {
					t.Errorf("summary %q", s)
				}
			},
		},
		{
			name: "verify fails a rollout stuck past the bounded wait, naming the image still running",
			setup: func(w *world) {
				w.services.out = servicesOut(
					deployment("ecs-svc/2", "PRIMARY", tdNew, ecstypes.DeploymentRolloutStateInProgress, 0, 2, ""),
					deployment("ecs-svc/1", "ACTIVE", tdOld, ecstypes.DeploymentRolloutStateCompleted, 2, 2, ""))
				w.taskDefs.defs = taskDefs(map[string]string{tdNew: newImage, tdOld: oldImage})
			},
			event:  jobEventJSON(testJob, verify, tokenAt(ModeVerify, testNow.Add(-20*time.Minute), 12)),
			result: failed, failType: cptypes.FailureTypeJobFailed, status: StatusDeployFailed, sns: true,
			reason: []string{"did not complete in time", "IN_PROGRESS after 20m0s", "still running: " + oldImage},
		},
		{
			name: "verify without a rollout state uses the settled counts",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.services.out = servicesOut(deployment("ecs-svc/2", "PRIMARY", tdNew, "", 2, 2, ""))
				w.taskDefs.defs = taskDefs(map[string]string{tdNew: newImage})
			},
			event: jobEventJSON(testJob, verify, ""), result: succeeded, status: StatusDeployed,
		},
		{
			name: "verify fails when the container is not in the task definition",
			setup: func(w *world) {
				w.env["CONTAINER_NAME"] = "web"
				w.services.out = servicesOut(deployment("ecs-svc/2", "PRIMARY", tdNew, ecstypes.DeploymentRolloutStateCompleted, 1, 1, ""))
				w.taskDefs.defs = taskDefs(map[string]string{tdNew: newImage})
			},
			event: jobEventJSON(testJob, verify, ""), result: failed, failType: cptypes.FailureTypeJobFailed,
			status: StatusDeployFailed, sns: true, reason: []string{"task definition app:8 has no container named web"},
		},
		{
			name: "verify records ERROR for a missing service",
			setup: func(w *world) {
				w.services.out = &ecs.DescribeServicesOutput{Failures: []ecstypes.Failure{{Reason: aws.String("MISSING")}}}
			},
			event: jobEventJSON(testJob, verify, ""), result: failed, failType: cptypes.FailureTypeJobFailed,
			status: StatusError, sns: true, reason: []string{"service cicd-pipeline-dev in cluster production-cluster: MISSING"},
		},
		{
			name: "verify records ERROR for a service with no primary deployment",
			setup: func(w *world) {
				w.services.out = servicesOut(deployment("ecs-svc/1", "ACTIVE", tdOld, ecstypes.DeploymentRolloutStateCompleted, 1, 1, ""))
			},
			event: jobEventJSON(testJob, verify, ""), result: failed, status: StatusError, sns: true,
			failType: cptypes.FailureTypeJobFailed, reason: []string{"no PRIMARY deployment"},
		},
		{
			name:  "verify records ERROR when ECS fails",
			setup: func(w *world) { w.services.err = throttled },
			event: jobEventJSON(testJob, verify, ""), result: failed, failType: cptypes.FailureTypeJobFailed,
			status: StatusError, sns: true, reason: []string{"describe service", "ThrottlingException"},
		},
		{
			name: "verify records ERROR when the task definition cannot be read",
			setup: func(w *world) {
				w.services.out = servicesOut(deployment("ecs-svc/2", "PRIMARY", tdNew, ecstypes.DeploymentRolloutStateCompleted, 1, 1, ""))
				w.taskDefs.err = throttled
			},
			event: jobEventJSON(testJob, verify, ""), result: failed, status: StatusError, sns: true,
			failType: cptypes.FailureTypeJobFailed, reason: []string{"describe task definition " + tdNew},
		},

		// history, notification and job result
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

		// input that cannot be checked
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
		{name: "an empty object is not a job", event: []byte(`{}`), wantErr: ErrNotAJob},
		{name: "null is not a job", event: []byte(`null`), wantErr: ErrNotAJob},
		{name: "an array is not a job", event: []byte(`[1,2]`), wantErr: ErrNotAJob},
		{name: "a string is not a job", event: []byte(`"CodePipeline.job"`), wantErr: ErrNotAJob},
		{name: "broken JSON is not a job", event: []byte(`{"CodePipeline.job":{"id":"x"`), wantErr: ErrNotAJob},
		{name: "an S3 event is not a job", event: []byte(`{"Records":[{"eventSource":"aws:s3","s3":{"bucket":{"name":"b"}}}]}`), wantErr: ErrNotAJob},
		{name: "a job with an empty id is not a job", event: jobEventJSON("", gate, ""), wantErr: ErrNotAJob},
		{name: "a job id with a newline is not a job", event: jobEventJSON("abc\ndef", gate, ""), wantErr: ErrNotAJob},
	}

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
