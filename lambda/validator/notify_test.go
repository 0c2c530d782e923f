package main

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSubject(t *testing.T) {
	cases := []struct {
		rec  Record
		want string
	}{
		{Record{Status: StatusRejected, ImageTag: "abc123"}, "[cicd-pipeline dev] image abc123 rejected"},
		{Record{Status: StatusDeployFailed, ImageTag: "abc123"}, "[cicd-pipeline dev] deploy of image abc123 failed"},
		{Record{Status: StatusError, ImageTag: "abc123"}, "[cicd-pipeline dev] validator error for image abc123"},
		{Record{Status: StatusError}, "[cicd-pipeline dev] validator error for image (unknown)"},
	}
	for _, tc := range cases {
		if got := subject("dev", tc.rec); got != tc.want {
			t.Errorf("subject() = %q, want %q", got, tc.want)
		}
	}
	long := subject(strings.Repeat("é", 80), Record{Status: StatusRejected, ImageTag: strings.Repeat("t", 128)})
	if len(long) >= 100 || strings.ContainsFunc(long, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		t.Errorf("subject %q is not a valid SNS subject", long)
	}
}

func TestBody(t *testing.T) {
	rec := Record{DeploymentID: testExec, Status: StatusRejected, Mode: ModeGate, ImageTag: testTag, ImageDigest: testDigest,
		Findings: map[string]int32{"HIGH": 2, "CRITICAL": 1}, JobID: testJob, Reason: "too many findings"}
	b := body("dev", rec, testNow)
	for _, want := range []string{"rejected image abc123 in environment dev", "Environment:   dev", "Image tag:     abc123",
		"Execution id:  " + testExec, "Reason:        too many findings", "Findings:      CRITICAL 1, HIGH 2",
		"Stage:         gate (before deploy)", "Time:          2026-11-25T12:00:00Z"} {
		if !strings.Contains(b, want) {
			t.Errorf("body lacks %q:\n%s", want, b)
		}
	}
	huge := body("dev", Record{Status: StatusError, Reason: strings.Repeat("ü", maxMessageLen)}, testNow)
	if len(huge) > maxMessageLen || !utf8.ValidString(huge) {
		t.Errorf("body of %d bytes, valid UTF-8 %v", len(huge), utf8.ValidString(huge))
	}
}

func TestTruncate(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"longer than ten", 10, "longer ..."},
		{"ééééé", 6, "é..."},
	}
	for _, tc := range cases {
		if got := truncate(tc.in, tc.max); got != tc.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}
