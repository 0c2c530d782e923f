// Package dora computes the four key delivery metrics (DORA) of one
// environment over a period from the pipeline's own history: deployment
// frequency, lead time for changes, change failure rate and time to
// restore. The README's "Delivery metrics" section gives each formula; the
// dashboard shows the same figures from the validator's metrics.
package dora

import (
	"math"
	"sort"
	"time"

	"cicd/internal/delivery"
)

// Period is the half-open interval [From, To).
type Period struct {
	From, To time.Time
}

// Days is the period's length in days.
func (p Period) Days() float64 { return p.To.Sub(p.From).Hours() / 24 }

func (p Period) contains(ms int64) bool {
	return ms >= p.From.UnixMilli() && ms < p.To.UnixMilli()
}

// Durations summarizes a set of durations; the zero value is an empty set.
type Durations struct {
	Count         int
	P50, P90, Max time.Duration
}

// Rate is a count of failures over a count of attempts.
type Rate struct {
	Failed, Attempted int
}

// Value is Failed/Attempted, and false when nothing was attempted (the rate
// is then undefined, not zero).
func (r Rate) Value() (float64, bool) {
	if r.Attempted == 0 {
		return 0, false
	}
	return float64(r.Failed) / float64(r.Attempted), true
}

// Report is one environment's figures over a period.
type Report struct {
	Environment string
	Period      Period
	// Deployments is the number of DEPLOYED verdicts in the period.
	Deployments int
	// PerDay and PerWeek are the deployment frequency: Deployments over the
	// period's length.
	PerDay, PerWeek float64
	// LeadTime is, over the DEPLOYED verdicts of the period that know their
	// commit time, the time from the commit to the verdict.
	LeadTime Durations
	// ChangeFailure is DEPLOY_FAILED over DEPLOYED plus DEPLOY_FAILED.
	ChangeFailure Rate
	// TimeToRestore is, over the DEPLOYED verdicts of the period that end a
	// run of DEPLOY_FAILED verdicts, the time from the run's first failure
	// (which may lie before the period) to that verdict.
	TimeToRestore Durations
	// FailingSince is the first failure of a run that is not restored by the
	// end of the period; zero when the environment's last verdict is
	// DEPLOYED, or the run's start is not known.
	FailingSince time.Time
	// GateValidations and GateRejections count the gate's verdicts recorded
	// for this environment (the pipeline's first), rejections by class.
	GateValidations int
	GateRejections  []ReasonCount
	// ValidatorErrors counts the ERROR outcomes.
	ValidatorErrors int
}

// ReasonCount is how many gate rejections one class had.
type ReasonCount struct {
	Reason delivery.RejectionReason
	Count  int
}

// Compute returns the report of environment over period from records, which
// may come in any order and hold other environments' or periods' outcomes
// (they are left out). before is the run of failures that leads up to the
// period's start (delivery.StreakBefore at period.From); when it is not
// known, the first restore in the period is not timed.
func Compute(environment string, before delivery.Streak, records []delivery.Record, period Period) Report {
	r := Report{Environment: environment, Period: period}
	var mine []delivery.Record
	for _, rec := range records {
		if rec.Environment == environment && period.contains(rec.Timestamp) {
			mine = append(mine, rec)
		}
	}
	// Time order, whatever order the items were written or read in; ties
	// (the same millisecond) in a fixed order, a failure before a success.
	sort.SliceStable(mine, func(i, j int) bool {
		a, b := mine[i], mine[j]
		if a.Timestamp != b.Timestamp {
			return a.Timestamp < b.Timestamp
		}
		if ra, rb := rank(a.Status), rank(b.Status); ra != rb {
			return ra < rb
		}
		return a.DeploymentID < b.DeploymentID
	})

	streak := before
	var lead, restore []time.Duration
	rejections := map[delivery.RejectionReason]int{}
	for _, rec := range mine {
		switch rec.Status {
		case delivery.StatusDeployed:
			r.Deployments++
			if rec.CommitTime > 0 && rec.CommitTime <= rec.Timestamp {
				lead = append(lead, millis(rec.Timestamp-rec.CommitTime))
			}
			if streak.Known && streak.Failures > 0 {
				restore = append(restore, millis(rec.Timestamp-streak.Since))
			}
			streak = delivery.Streak{Known: true}
		case delivery.StatusDeployFailed:
			r.ChangeFailure.Failed++
			if streak.Failures == 0 {
				streak.Since = rec.Timestamp
			}
			streak.Failures++
		case delivery.StatusValidated:
			r.GateValidations++
		case delivery.StatusRejected:
			rejections[delivery.ClassifyRejection(rec.Reason)]++
		case delivery.StatusError:
			r.ValidatorErrors++
		}
	}
	r.ChangeFailure.Attempted = r.Deployments + r.ChangeFailure.Failed
	if days := period.Days(); days > 0 {
		r.PerDay = float64(r.Deployments) / days
		r.PerWeek = r.PerDay * 7
	}
	r.LeadTime = summarize(lead)
	r.TimeToRestore = summarize(restore)
	if streak.Known && streak.Failures > 0 {
		r.FailingSince = time.UnixMilli(streak.Since).UTC()
	}
	for _, class := range delivery.RejectionReasons {
		if n := rejections[class]; n > 0 {
			r.GateRejections = append(r.GateRejections, ReasonCount{Reason: class, Count: n})
		}
	}
	return r
}

// rank orders outcomes recorded in the same millisecond.
func rank(s delivery.Status) int {
	switch s {
	case delivery.StatusValidated, delivery.StatusRejected:
		return 0
	case delivery.StatusDeployFailed:
		return 1
	case delivery.StatusDeployed:
		return 2
	}
	return 3
}

func millis(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// summarize gives the nearest-rank percentiles: the p-th percentile of n
// sorted values is the ceil(p/100*n)-th.
func summarize(ds []time.Duration) Durations {
	if len(ds) == 0 {
		return Durations{}
	}
	sorted := append([]time.Duration(nil), ds...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	return Durations{
		Count: len(sorted),
		P50:   Percentile(sorted, 50),
		P90:   Percentile(sorted, 90),
		Max:   sorted[len(sorted)-1],
	}
}

// Percentile is the nearest-rank p-th percentile of sorted (ascending,
// non-empty).
func Percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
