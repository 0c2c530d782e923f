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
)

// The gate: one image, its scan, and the verdict. How the findings are read
// (pages, enhanced scanning, severities) is in findings_test.go.

// On a finished scan, findings at or above SCAN_FAIL_SEVERITY reject the
// image and the others are only recorded; NONE turns the check off.
func TestGateVerdict(t *testing.T) {
	gate := params("gate", testTag, testExec)
	testHandle(t, []handleCase{
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
	})
}

// While the scan is pending, running or not started, the gate continues the
// job, keeping the first start across continuations, and rejects the image
// once the bounded wait is over.
func TestGateWaitsForTheScan(t *testing.T) {
	gate := params("gate", testTag, testExec)
	testHandle(t, []handleCase{
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
	})
}

// An image that is not there, or whose scan ended without findings to judge,
// is rejected.
func TestGateRejectsMissingImagesAndFailedScans(t *testing.T) {
	gate := params("gate", testTag, testExec)
	testHandle(t, []handleCase{
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
	})
}

// A call to ECR that fails is an ERROR, recorded and announced, never a pass.
func TestGateRecordsAWSErrors(t *testing.T) {
	gate := params("gate", testTag, testExec)
	testHandle(t, []handleCase{
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

// The gate on the real SDK clients against moto's ECR, DynamoDB and SNS.
func TestIntegrationGate(t *testing.T) {
	fx := localFixture(t)
	cp := newCodePipelineFake(t)

	t.Run("gate validates a scanned image below the threshold", func(t *testing.T) {
		digest := fx.pushImage(t, "ok-1")
		fx.scanImage(t, "ok-1", ecrtypes.ScanStatusComplete, map[string]int32{"LOW": 2, "MEDIUM": 1})
		h, logs := fx.handler(t, cp, "unused")
		c := invoke(t, h, cp, "job-gate-ok", params("gate", "ok-1", "exec-gate-ok"), "", "PutJobSuccessResult")
		if _, ok := c.Body["continuationToken"]; ok {
			t.Fatalf("a finished check asked to continue: %v", c.Body)
		}
		items := fx.items(t, "exec-gate-ok")
		if len(items) != 1 || attrS(items[0], "status") != "VALIDATED" || attrS(items[0], "imageDigest") != digest {
			t.Fatalf("items %v", items)
		}
		f := items[0]["findings"].(*ddbtypes.AttributeValueMemberM).Value
		if f["LOW"].(*ddbtypes.AttributeValueMemberN).Value != "2" || f["MEDIUM"].(*ddbtypes.AttributeValueMemberN).Value != "1" {
			t.Errorf("findings %v", f)
		}
		if len(fx.inbox.about("ok-1")) != 0 {
			t.Error("a pass was announced")
		}
		if strings.Contains(logs.String(), testSecret) {
			t.Error("artifact credentials logged")
		}
	})

	t.Run("gate rejects moto's default HIGH finding and announces it", func(t *testing.T) {
		fx.pushImage(t, "vuln-1")
		fx.scanImage(t, "vuln-1", "", nil)
		h, _ := fx.handler(t, cp, "unused")
		c := invoke(t, h, cp, "job-gate-vuln", params("gate", "vuln-1", "exec-gate-vuln"), "", "PutJobFailureResult")
		if msg := failureMessage(c); !strings.Contains(msg, "REJECTED: ") || !strings.Contains(msg, "HIGH 1") {
			t.Errorf("failure message %q", msg)
		}
		if items := fx.items(t, "exec-gate-vuln"); len(items) != 1 || attrS(items[0], "status") != "REJECTED" {
			t.Fatalf("items %v", items)
		}
		msgs := fx.inbox.about("vuln-1")
		if len(msgs) != 1 || msgs[0].Subject != "[cicd-pipeline it] image vuln-1 rejected" ||
			!strings.Contains(msgs[0].Message, "Execution id:  exec-gate-vuln") || !strings.Contains(msgs[0].Message, "HIGH 1") {
			t.Fatalf("notifications %+v", msgs)
		}
	})

	t.Run("gate counts enhanced findings when ECR gives no counts", func(t *testing.T) {
		fx.pushImage(t, "enhanced-1")
		fx.scanResult(t, "enhanced-1", map[string]any{
			"imageScanStatus": map[string]string{"status": "ACTIVE", "description": "Continuous scan is selected for image."},
			"imageScanFindings": map[string]any{
				"imageScanCompletedAt": 1.7956e9,
				"enhancedFindings": []any{
					map[string]any{"severity": "LOW", "title": "CVE-2026-0001", "status": "ACTIVE", "type": "PACKAGE_VULNERABILITY"},
					map[string]any{"severity": "CRITICAL", "title": "CVE-2026-0002", "status": "ACTIVE", "type": "PACKAGE_VULNERABILITY"},
				},
			},
		})
		h, _ := fx.handler(t, cp, "unused")
		c := invoke(t, h, cp, "job-gate-enhanced", params("gate", "enhanced-1", "exec-gate-enhanced"), "", "PutJobFailureResult")
		if msg := failureMessage(c); !strings.Contains(msg, "REJECTED: ") || !strings.Contains(msg, "CRITICAL 1") {
			t.Errorf("failure message %q", msg)
		}
	})

	t.Run("gate waits while an enhanced scan has reported nothing", func(t *testing.T) {
		fx.pushImage(t, "enhanced-2")
		fx.scanResult(t, "enhanced-2", map[string]any{
			"imageScanStatus":   map[string]string{"status": "ACTIVE"},
			"imageScanFindings": map[string]any{},
		})
		h, _ := fx.handler(t, cp, "unused")
		c := invoke(t, h, cp, "job-gate-enhanced-wait", params("gate", "enhanced-2", "exec-gate-enhanced-wait"), "", "PutJobSuccessResult")
		if _, ok := c.Body["continuationToken"]; !ok {
			t.Fatalf("an enhanced scan with nothing reported passed: %v", c.Body)
		}
	})

	t.Run("gate lets an unscannable image pass when allowed, and says so", func(t *testing.T) {
		fx.pushImage(t, "scratch-1")
		fx.scanImage(t, "scratch-1", ecrtypes.ScanStatusUnsupportedImage, nil)
		h, _ := fx.handler(t, cp, "unused", map[string]string{"UNSCANNED_IMAGES": "allow"})
		invoke(t, h, cp, "job-gate-scratch", params("gate", "scratch-1", "exec-gate-scratch"), "", "PutJobSuccessResult")
		items := fx.items(t, "exec-gate-scratch")
		if len(items) != 1 || attrS(items[0], "status") != "VALIDATED" || attrS(items[0], "scanStatus") != "UNSUPPORTED_IMAGE" {
			t.Fatalf("items %v", items)
		}
		if msgs := fx.inbox.about("scratch-1"); len(msgs) != 1 || msgs[0].Subject != "[cicd-pipeline it] image scratch-1 passed unscanned" {
			t.Fatalf("notifications %+v", msgs)
		}
	})

	t.Run("gate rejects a FAILED scan", func(t *testing.T) {
		fx.pushImage(t, "failscan-1")
		fx.scanImage(t, "failscan-1", ecrtypes.ScanStatusFailed, nil)
		h, _ := fx.handler(t, cp, "unused")
		c := invoke(t, h, cp, "job-gate-failscan", params("gate", "failscan-1", "exec-gate-failscan"), "", "PutJobFailureResult")
		if msg := failureMessage(c); !strings.Contains(msg, "scan status FAILED") {
			t.Errorf("failure message %q", msg)
		}
	})

	t.Run("gate waits for a scan that has not started, then gives up", func(t *testing.T) {
		fx.pushImage(t, "noscan-1")
		h, _ := fx.handler(t, cp, "unused")
		c := invoke(t, h, cp, "job-gate-wait", params("gate", "noscan-1", "exec-gate-wait"), "", "PutJobSuccessResult")
		token, _ := c.Body["continuationToken"].(string)
		tok, err := parseContinuation(token, ModeGate, time.Now())
		if err != nil {
			t.Fatalf("continuation %q: %v", token, err)
		}
		if items := fx.items(t, "exec-gate-wait"); len(items) != 0 {
			t.Fatalf("a wait was recorded: %v", items)
		}
		// CodePipeline calls again with the token, after the bounded wait.
		tok.Since -= (defaultMaxWait + time.Second).Milliseconds()
		c = invoke(t, h, cp, "job-gate-wait-2", params("gate", "noscan-1", "exec-gate-wait"), tok.encode(), "PutJobFailureResult")
		if msg := failureMessage(c); !strings.Contains(msg, "did not finish in time") {
			t.Errorf("failure message %q", msg)
		}
		if items := fx.items(t, "exec-gate-wait"); len(items) != 1 || attrS(items[0], "status") != "REJECTED" {
			t.Fatalf("items %v", items)
		}
	})

	t.Run("gate rejects a tag that is not in the repository", func(t *testing.T) {
		h, _ := fx.handler(t, cp, "unused")
		invoke(t, h, cp, "job-gate-missing", params("gate", "never-pushed", "exec-gate-missing"), "", "PutJobFailureResult")
		if items := fx.items(t, "exec-gate-missing"); len(items) != 1 || !strings.Contains(attrS(items[0], "reason"), "image not found") {
			t.Fatalf("items %v", items)
		}
	})
}
