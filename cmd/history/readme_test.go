package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cicd/internal/delivery"
	"cicd/internal/dora"
)

// TestREADMESampleIsTheOutput: the sample in the README's "Delivery
// metrics" section is what the command prints for its history.
func TestREADMESampleIsTheOutput(t *testing.T) {
	to := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	from := to.Add(-720 * time.Hour)
	at := func(days, hours float64) int64 {
		return from.Add(time.Duration((days*24 + hours) * float64(time.Hour))).UnixMilli()
	}
	r := func(id, env string, ts int64, st delivery.Status, tag, reason string, commit int64) delivery.Record {
		return delivery.Record{DeploymentID: id, Timestamp: ts, Status: st, Environment: env, ImageTag: tag, Reason: reason, CommitTime: commit}
	}
	recs := []delivery.Record{
		r("a", "dev", at(27, 1), delivery.StatusValidated, "4f9c2a1b7d3e", "scan COMPLETE, no findings at or above HIGH", 0),
		r("a", "dev", at(27, 1.2), delivery.StatusDeployed, "4f9c2a1b7d3e", "deployment ecs-svc/123 COMPLETED, runs the image", at(26, 23)),
		r("a", "prod", at(27, 3), delivery.StatusDeployFailed, "4f9c2a1b7d3e", "deployment failed: the circuit breaker rolled back to the previous task definition", 0),
		r("b", "dev", at(28, 9), delivery.StatusRejected, "9e1d0c55aa02", "image has findings at or above the threshold: CRITICAL 1 (threshold HIGH)", 0),
		r("c", "dev", at(28, 14), delivery.StatusValidated, "c03b7e9f1a44", "scan COMPLETE, no findings at or above HIGH", 0),
		r("c", "dev", at(28, 14.2), delivery.StatusDeployed, "c03b7e9f1a44", "deployment ecs-svc/124 COMPLETED, runs the image", at(28, 12)),
		r("c", "prod", at(28, 16), delivery.StatusDeployed, "c03b7e9f1a44", "deployment ecs-svc/88 COMPLETED, runs the image", at(28, 12)),
	}
	h := history{Table: "cicd-orders-history", Environments: []string{"dev", "prod"}, Period: dora.Period{From: from, To: to}, Timeline: recs}
	for _, env := range h.Environments {
		h.Reports = append(h.Reports, dora.Compute(env, delivery.Streak{Known: true}, recs, h.Period))
	}
	var out bytes.Buffer
	if err := writeText(&out, h); err != nil {
		t.Fatal(err)
	}

	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "\n```\nDeployment history of ")
	sample, _, closed := strings.Cut(rest, "\n```\n")
	if !ok || !closed {
		t.Fatal("README.md has no sample of the history command's output (a block beginning \"Deployment history of\")")
	}
	if got, want := strings.TrimRight(out.String(), "\n"), "Deployment history of "+sample; got != want {
		t.Errorf("README's sample differs from the output; the output is:\n%s", got)
	}
}
