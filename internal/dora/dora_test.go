package dora

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"cicd/internal/delivery"
)

var t0 = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC) // a Monday

// at is t0 plus hours.
func at(hours float64) int64 { return t0.Add(time.Duration(hours * float64(time.Hour))).UnixMilli() }

func deployed(env string, hours, commitHoursBefore float64) delivery.Record {
	r := delivery.Record{DeploymentID: "x", Timestamp: at(hours), Status: delivery.StatusDeployed, Mode: delivery.ModeVerify, Environment: env}
	if commitHoursBefore > 0 {
		r.CommitTime = at(hours - commitHoursBefore)
	}
	return r
}

func failed(env string, hours float64) delivery.Record {
	return delivery.Record{DeploymentID: "x", Timestamp: at(hours), Status: delivery.StatusDeployFailed, Mode: delivery.ModeVerify, Environment: env}
}

func outcome(env string, hours float64, status delivery.Status, reason string) delivery.Record {
	return delivery.Record{DeploymentID: "x", Timestamp: at(hours), Status: status, Mode: delivery.ModeGate, Environment: env, Reason: reason}
}

func week() Period { return Period{From: t0, To: t0.Add(7 * 24 * time.Hour)} }

func TestCompute(t *testing.T) {
	h := time.Hour
	tests := []struct {
		name    string
		env     string
		before  delivery.Streak
		records []delivery.Record
		want    Report
	}{
		{
			name:   "no deployments",
			env:    "prod",
			before: delivery.Streak{Known: true},
			want:   Report{},
		},
		{
			name:   "only failures: rate 100%, nothing restored, failing since the first",
			env:    "prod",
			before: delivery.Streak{Known: true},
			records: []delivery.Record{
				failed("prod", 10), failed("prod", 20), failed("prod", 30),
			},
			want: Report{
				ChangeFailure: Rate{Failed: 3, Attempted: 3},
				FailingSince:  time.UnixMilli(at(10)).UTC(),
			},
		},
		{
			name:   "a restore that spans the period's start is timed from the failure before it",
			env:    "prod",
			before: delivery.Streak{Known: true, Failures: 2, Since: at(-5)},
			records: []delivery.Record{
				failed("prod", -5), failed("prod", -2), // before the period: not counted as failures in it
				failed("prod", 1), deployed("prod", 3, 4),
			},
			want: Report{
				Deployments: 1, PerDay: 1.0 / 7, PerWeek: 1,
				LeadTime:      Durations{Count: 1, P50: 4 * h, P90: 4 * h, Max: 4 * h},
				ChangeFailure: Rate{Failed: 1, Attempted: 2},
				TimeToRestore: Durations{Count: 1, P50: 8 * h, P90: 8 * h, Max: 8 * h},
			},
		},
		{
			name:   "a run before the period of unknown start: the restore is not timed, later ones are",
			env:    "prod",
			before: delivery.Streak{},
			records: []delivery.Record{
				failed("prod", 1), deployed("prod", 2, 0),
				failed("prod", 10), failed("prod", 11), deployed("prod", 13, 0),
			},
			want: Report{
				Deployments: 2, PerDay: 2.0 / 7, PerWeek: 2,
				ChangeFailure: Rate{Failed: 3, Attempted: 5},
				TimeToRestore: Durations{Count: 1, P50: 3 * h, P90: 3 * h, Max: 3 * h},
			},
		},
		{
			name:   "a failure in the period that is restored after it: failing since, not a restore",
			env:    "prod",
			before: delivery.Streak{Known: true},
			records: []delivery.Record{
				deployed("prod", 1, 2), failed("prod", 160), deployed("prod", 7*24+1, 1),
			},
			want: Report{
				Deployments: 1, PerDay: 1.0 / 7, PerWeek: 1,
				LeadTime:      Durations{Count: 1, P50: 2 * h, P90: 2 * h, Max: 2 * h},
				ChangeFailure: Rate{Failed: 1, Attempted: 2},
				FailingSince:  time.UnixMilli(at(160)).UTC(),
			},
		},
		{
			name:   "several environments: only this one's outcomes count; another's failure is not restored here",
			env:    "staging",
			before: delivery.Streak{Known: true},
			records: []delivery.Record{
				deployed("dev", 1, 1), failed("dev", 2),
				deployed("staging", 3, 3), failed("prod", 4), deployed("staging", 5, 5),
				deployed("prod", 6, 6),
				outcome("dev", 0.5, delivery.StatusRejected, "image has findings at or above the threshold: HIGH 1"),
			},
			want: Report{
				Deployments: 2, PerDay: 2.0 / 7, PerWeek: 2,
				LeadTime:      Durations{Count: 2, P50: 3 * h, P90: 5 * h, Max: 5 * h},
				ChangeFailure: Rate{Failed: 0, Attempted: 2},
			},
		},
		{
			name:   "gate verdicts and errors of the first environment",
			env:    "dev",
			before: delivery.Streak{Known: true},
			records: []delivery.Record{
				outcome("dev", 1, delivery.StatusValidated, "scan COMPLETE"),
				outcome("dev", 2, delivery.StatusRejected, "image scan did not finish in time: IN_PROGRESS"),
				outcome("dev", 3, delivery.StatusRejected, "image has findings at or above the threshold: CRITICAL 1"),
				outcome("dev", 4, delivery.StatusRejected, "image has findings at or above the threshold: HIGH 3"),
				outcome("dev", 5, delivery.StatusError, "validator misconfigured"),
				outcome("dev", 6, delivery.StatusRejected, "something nobody classified"),
			},
			want: Report{
				GateValidations: 1,
				GateRejections: []ReasonCount{
					{delivery.ReasonVulnerable, 2}, {delivery.ReasonScanTimeout, 1}, {delivery.ReasonOther, 1},
				},
				ValidatorErrors: 1,
			},
		},
		{
			name:   "lead time percentiles by nearest rank, commit times after the deploy left out",
			env:    "prod",
			before: delivery.Streak{Known: true},
			records: []delivery.Record{
				deployed("prod", 10, 1), deployed("prod", 20, 2), deployed("prod", 30, 3), deployed("prod", 40, 4),
				deployed("prod", 50, 5), deployed("prod", 60, 6), deployed("prod", 70, 7), deployed("prod", 80, 8),
				deployed("prod", 90, 9), deployed("prod", 100, 10), deployed("prod", 110, 0),
				{DeploymentID: "skew", Timestamp: at(120), CommitTime: at(121), Status: delivery.StatusDeployed, Environment: "prod"},
			},
			want: Report{
				Deployments: 12, PerDay: 12.0 / 7, PerWeek: 12,
				LeadTime:      Durations{Count: 10, P50: 5 * h, P90: 9 * h, Max: 10 * h},
				ChangeFailure: Rate{Attempted: 12},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.Environment, tc.want.Period = tc.env, week()
			got := Compute(tc.env, tc.before, tc.records, week())
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("report\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestClockOrderNotWriteOrder: the items' order (as written, or as read
// from several pages and environments) does not change the figures; only
// their timestamps do.
func TestClockOrderNotWriteOrder(t *testing.T) {
	records := []delivery.Record{
		deployed("prod", 1, 3), failed("prod", 2), failed("prod", 4), deployed("prod", 9, 1),
		failed("prod", 20), deployed("prod", 21, 2), deployed("prod", 40, 30), deployed("dev", 5, 1),
		// A verify that started first but was written last: its timestamp is the earlier one.
		{DeploymentID: "slow", Timestamp: at(0.5), Status: delivery.StatusDeployFailed, Environment: "prod"},
	}
	want := Compute("prod", delivery.Streak{Known: true}, records, week())
	// In time order: F0.5 D1, F2 F4 D9, F20 D21, D40.
	if want.TimeToRestore != (Durations{Count: 3, P50: time.Hour, P90: 7 * time.Hour, Max: 7 * time.Hour}) {
		t.Fatalf("restores %+v: want 0.5h, 7h and 1h", want.TimeToRestore)
	}
	if want.ChangeFailure != (Rate{Failed: 4, Attempted: 8}) {
		t.Fatalf("change failure %+v, want 4 of 8", want.ChangeFailure)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		shuffled := append([]delivery.Record(nil), records...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if got := Compute("prod", delivery.Streak{Known: true}, shuffled, week()); !reflect.DeepEqual(got, want) {
			t.Fatalf("order %v changed the report:\n got %+v\nwant %+v", shuffled, got, want)
		}
	}
}

func TestRateValue(t *testing.T) {
	if _, ok := (Rate{}).Value(); ok {
		t.Error("a rate of nothing attempted is defined; want undefined, not 0%")
	}
	if v, ok := (Rate{Failed: 1, Attempted: 4}).Value(); !ok || v != 0.25 {
		t.Errorf("1 of 4 = %v, %v", v, ok)
	}
}

func TestPercentile(t *testing.T) {
	d := func(xs ...int) []time.Duration {
		var out []time.Duration
		for _, x := range xs {
			out = append(out, time.Duration(x))
		}
		return out
	}
	tests := []struct {
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{d(7), 50, 7}, {d(7), 90, 7},
		{d(1, 2), 50, 1}, {d(1, 2), 90, 2},
		{d(1, 2, 3, 4), 50, 2}, {d(1, 2, 3, 4, 5), 50, 3},
		{d(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9}, {d(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), 90, 10},
	}
	for _, tc := range tests {
		if got := Percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("p%v of %v = %v, want %v", tc.p, tc.sorted, got, tc.want)
		}
	}
}
