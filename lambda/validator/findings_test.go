package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

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
