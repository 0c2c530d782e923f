package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"cicd/internal/delivery"
)

// streakBudget bounds the read of the verdicts before a verify's. It runs
// after the job has ended, so it delays nothing but the function's return.
const streakBudget = 2 * time.Second

// metrics writes the delivery metrics of each outcome (internal/delivery
// holds their contract with the dashboard): an EMF line on standard output,
// so no PutMetricData call and no permission.
type metrics struct {
	out   io.Writer
	query itemQuerier // nil: no failures in a row, no time to restore
	table string
}

// emit writes rec's metrics. A verify's verdict also needs the verdicts
// before it in its environment (failures in a row, time to restore); when
// they cannot be read, those two are left out and the rest still go.
func (m *metrics) emit(ctx context.Context, log *slog.Logger, rec Record) {
	out := delivery.Record{
		DeploymentID: rec.DeploymentID,
		Timestamp:    rec.Timestamp,
		Status:       delivery.Status(rec.Status),
		Mode:         delivery.Mode(rec.Mode),
		ImageTag:     rec.ImageTag,
		ImageDigest:  rec.ImageDigest,
		JobID:        rec.JobID,
		Reason:       rec.Reason,
		Environment:  rec.Environment,
		Pipeline:     rec.Pipeline,
		CommitTime:   rec.CommitTime,
		Account:      rec.Account,
		Region:       rec.Region,
	}
	var prev delivery.Streak
	if (rec.Status == StatusDeployed || rec.Status == StatusDeployFailed) && m.query != nil && m.table != "" && rec.Environment != "" {
		qctx, cancel := context.WithTimeout(ctx, streakBudget)
		s, err := delivery.StreakBefore(qctx, m.query, m.table, rec.Environment, rec.Timestamp)
		cancel()
		if err != nil {
			log.Warn("earlier verdicts not read: failures in a row and time to restore left out", "error", err.Error())
		} else {
			prev = s
		}
	}
	if err := delivery.WriteEMF(m.out, out, prev); err != nil {
		log.Error("delivery metrics not written", "error", err.Error())
	}
}
