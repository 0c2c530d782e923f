package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Mode says which pipeline action invoked the validator.
type Mode string

const (
	ModeGate   Mode = "gate"   // before Deploy: may this image be deployed?
	ModeVerify Mode = "verify" // after Deploy: does the service run it?
)

// Status is the outcome written to the history table. The values are part of
// the table's contract with the people and tools that read it.
type Status string

const (
	StatusValidated    Status = "VALIDATED"
	StatusRejected     Status = "REJECTED"
	StatusDeployed     Status = "DEPLOYED"
	StatusDeployFailed Status = "DEPLOY_FAILED"
	StatusError        Status = "ERROR"
)

// passed reports whether the pipeline may go on.
func (s Status) passed() bool { return s == StatusValidated || s == StatusDeployed }

// Verdicts: the check ran and said no. Everything else that goes wrong is an
// error of the validator itself (status ERROR).
var (
	ErrImageNotFound  = errors.New("image not found")
	ErrScanFailed     = errors.New("image scan did not succeed")
	ErrScanTimeout    = errors.New("image scan did not finish in time")
	ErrVulnerable     = errors.New("image has findings at or above the threshold")
	ErrRolloutFailed  = errors.New("deployment failed")
	ErrRolloutTimeout = errors.New("deployment did not complete in time")
	ErrImageMismatch  = errors.New("service does not run the pushed image")
	// ErrDigestMismatch: the tag resolves to another image than the build
	// pushed (UserParameters imageDigest).
	ErrDigestMismatch = errors.New("image tag does not resolve to the built digest")
	// ErrScanUnreadable: the scan finished but its findings could not all be
	// read, so the image cannot be shown to be safe.
	ErrScanUnreadable = errors.New("could not read all findings of the image scan")
)

// Errors that keep the validator from deciding.
var (
	ErrNotAJob         = errors.New("event is not a CodePipeline job")
	ErrMalformedEvent  = errors.New("malformed CodePipeline job event")
	ErrBadParameters   = errors.New("invalid UserParameters")
	ErrBadContinuation = errors.New("invalid continuation token")
	ErrConfig          = errors.New("validator misconfigured")
	ErrBadTarget       = errors.New("invalid verify target")
	ErrHistory         = errors.New("could not record the outcome in the state table")
	ErrInternal        = errors.New("internal error")
	// ErrJobDetails: CodePipeline could not be asked about the job, so it
	// cannot be checked; the job fails.
	ErrJobDetails = errors.New("could not read the job from CodePipeline")
)

// ErrForeignJob refuses a job that is not one of this validator's: another
// pipeline's, another function's, or one CodePipeline does not know. Nothing
// is done for it, not even ending it.
var ErrForeignJob = errors.New("job refused: not a job of this pipeline's validator actions")

// statusOf maps the error a check returned to the status recorded for it.
func statusOf(err error) Status {
	switch {
	case errors.Is(err, ErrImageNotFound), errors.Is(err, ErrScanFailed),
		errors.Is(err, ErrScanTimeout), errors.Is(err, ErrVulnerable), errors.Is(err, ErrScanUnreadable),
		errors.Is(err, ErrDigestMismatch):
		return StatusRejected
	case errors.Is(err, ErrRolloutFailed), errors.Is(err, ErrRolloutTimeout),
		errors.Is(err, ErrImageMismatch):
		return StatusDeployFailed
	default:
		return StatusError
	}
}

// Result is what a check learned. Pending is set while the scan or the
// rollout is still running; the facts are kept even when the check fails, so
// the history item records them.
type Result struct {
	Status     Status
	Pending    string // non-empty: not finished yet, and why
	Digest     string
	Findings   map[string]int32
	ScanStatus string // gate: the ECR scan status the verdict rests on
	Detail     string // what a pass was based on, for the item and the job summary
	// DeployedTag is the tag verify added to the running image, which the
	// lifecycle policy keeps.
	DeployedTag string
	// Notice is set on a pass that people must hear about (an image that
	// passed unscanned); it is announced like a failure.
	Notice string
}

// Severity is the lowest ECR finding severity that rejects an image.
type Severity string

const (
	SeverityCritical Severity = "CRITICAL"
	SeverityHigh     Severity = "HIGH"
	SeverityMedium   Severity = "MEDIUM"
	SeverityLow      Severity = "LOW"
	SeverityNone     Severity = "NONE" // no severity rejects (the scan must still finish)
)

// How each finding severity label of ECR (basic and enhanced scanning)
// weighs against the threshold, and where it is listed. A label whose weight
// is at or above the threshold's rejects the image.
//
// A finding of unknown severity (UNDEFINED in basic scanning, UNTRIAGED in
// enhanced scanning, an enhanced finding without a severity, or a label this
// code does not know) weighs as LOW: it rejects at threshold LOW only.
// Ranking it CRITICAL would stop most images, since distributions leave many
// CVEs unscored; ignoring it would let an unscored CVE through the strictest
// threshold. INFORMATIONAL is not a vulnerability and never rejects.
var severityRank = map[string]struct{ weight, order int }{
	"CRITICAL":      {4, 0},
	"HIGH":          {3, 1},
	"MEDIUM":        {2, 2},
	"LOW":           {1, 3},
	"UNDEFINED":     {1, 4},
	"UNTRIAGED":     {1, 5},
	"INFORMATIONAL": {0, 6},
}

// unknownSeverity is the rank of a label not in severityRank.
var unknownSeverity = struct{ weight, order int }{1, 7}

func rankOf(label string) struct{ weight, order int } {
	if r, ok := severityRank[label]; ok {
		return r
	}
	return unknownSeverity
}

// severityLabel normalizes a finding's severity as ECR wrote it: upper case,
// printable, short; no severity at all is UNDEFINED.
func severityLabel(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "" {
		return "UNDEFINED"
	}
	return asciiLine(s, 32)
}

func parseSeverity(s string) (Severity, error) {
	switch v := Severity(s); v {
	case SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow, SeverityNone:
		return v, nil
	}
	return "", fmt.Errorf("unknown severity %q", s)
}

// blocking returns the counts at or above the threshold, highest first, as
// "CRITICAL 1, HIGH 2"; empty when none block.
func (t Severity) blocking(counts map[string]int32) string {
	if t == SeverityNone {
		return ""
	}
	threshold := severityRank[string(t)].weight
	var keys []string
	for sev, n := range counts {
		if w := rankOf(sev).weight; w > 0 && w >= threshold && n > 0 {
			keys = append(keys, sev)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	return formatCounts(counts, keys)
}

// formatCounts renders counts highest severity first; keys nil means all.
func formatCounts(counts map[string]int32, keys []string) string {
	if keys == nil {
		for sev := range counts {
			keys = append(keys, sev)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		ri, rj := rankOf(keys[i]).order, rankOf(keys[j]).order
		if ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
	}
	return strings.Join(parts, ", ")
}
