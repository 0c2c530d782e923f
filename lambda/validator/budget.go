package main

import (
	"context"
	"time"
)

// The time budgets of one invocation. The function's timeout is 60 s; the
// job result must go out before it whatever else is slow, so its time is
// reserved first, from the invocation's deadline, and recording and
// notifying get bounded budgets inside what is left. The checks (including
// asking CodePipeline for the job) get the rest.
const (
	resultReserve = 5 * time.Second // PutJobSuccessResult / PutJobFailureResult
	recordBudget  = 8 * time.Second // PutItem, a few collisions, GetItem
	notifyBudget  = 4 * time.Second // Publish
	// resultMargin ends the job result call this long before the deadline,
	// so a result that cannot be sent is still logged.
	resultMargin = 250 * time.Millisecond
)

// budget is one invocation's plan, made when it starts.
type budget struct {
	deadline time.Time // zero: the context has none
	result   time.Duration
	record   time.Duration
	notify   time.Duration
	margin   time.Duration
}

// newBudget plans an invocation that must end by ctx's deadline. With less
// time than twice the sum of the reserves, every reserve shrinks in
// proportion, so the checks always keep at least half of the time.
func newBudget(ctx context.Context) budget {
	b := budget{result: resultReserve, record: recordBudget, notify: notifyBudget, margin: resultMargin}
	deadline, ok := ctx.Deadline()
	if !ok {
		return b
	}
	b.deadline = deadline
	need := 2 * (b.result + b.record + b.notify)
	if left := time.Until(deadline); left < need {
		scale := func(d time.Duration) time.Duration {
			return time.Duration(float64(d) * float64(max(left, 0)) / float64(need))
		}
		b.result, b.record, b.notify, b.margin = scale(b.result), scale(b.record), scale(b.notify), scale(b.margin)
	}
	return b
}

// within derives a context that ends after d, or at end, whichever comes
// first (a zero end is no limit beyond d; d 0 is no limit beyond end).
func within(ctx context.Context, d time.Duration, end time.Time) (context.Context, context.CancelFunc) {
	limit := end
	if d > 0 {
		if byBudget := time.Now().Add(d); limit.IsZero() || byBudget.Before(limit) {
			limit = byBudget
		}
	}
	if limit.IsZero() {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, limit)
}

// before is the deadline minus the reserves that come after a phase.
func (b budget) before(reserves ...time.Duration) time.Time {
	if b.deadline.IsZero() {
		return time.Time{}
	}
	t := b.deadline
	for _, r := range reserves {
		t = t.Add(-r)
	}
	return t
}

// check is the context of the checks: it ends when recording, notifying and
// the job result still have their full budgets.
func (b budget) check(ctx context.Context) (context.Context, context.CancelFunc) {
	return within(ctx, 0, b.before(b.result, b.notify, b.record))
}

// recording is bounded by its budget and leaves notifying and the result theirs.
func (b budget) recording(ctx context.Context) (context.Context, context.CancelFunc) {
	return within(ctx, b.record, b.before(b.result, b.notify))
}

// notifying is bounded by its budget and leaves the result its reserve.
func (b budget) notifying(ctx context.Context) (context.Context, context.CancelFunc) {
	return within(ctx, b.notify, b.before(b.result))
}

// ending is the job result's context: everything up to the margin before the
// deadline. It does not inherit a cancellation of the invocation's context
// short of its deadline: the job must still be ended.
func (b budget) ending(ctx context.Context) (context.Context, context.CancelFunc) {
	return within(context.WithoutCancel(ctx), 0, b.before(b.margin))
}
