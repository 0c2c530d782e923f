package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
)

// CodePipeline limits on what a job result may carry.
const (
	maxSummaryLen = 2048
	maxFailureLen = 5000
	maxTokenLen   = 2048
)

// Jobs ends CodePipeline jobs.
type Jobs struct {
	Succeed jobSucceeder
	Fail    jobFailer
}

// Success ends the job: the pipeline goes on.
func (j *Jobs) Success(ctx context.Context, jobID, summary string) error {
	_, err := j.Succeed.PutJobSuccessResult(ctx, &codepipeline.PutJobSuccessResultInput{
		JobId:            aws.String(jobID),
		ExecutionDetails: &cptypes.ExecutionDetails{Summary: aws.String(truncate(summary, maxSummaryLen))},
	})
	if err != nil {
		return fmt.Errorf("put job success result for %s: %w", jobID, err)
	}
	return nil
}

// Continue asks CodePipeline to invoke the action again with token.
func (j *Jobs) Continue(ctx context.Context, jobID string, token continuation, summary string) error {
	_, err := j.Succeed.PutJobSuccessResult(ctx, &codepipeline.PutJobSuccessResultInput{
		JobId:             aws.String(jobID),
		ContinuationToken: aws.String(token.encode()),
		ExecutionDetails:  &cptypes.ExecutionDetails{Summary: aws.String(truncate(summary, maxSummaryLen))},
	})
	if err != nil {
		return fmt.Errorf("put job continuation for %s: %w", jobID, err)
	}
	return nil
}

// Failure ends the job: the pipeline stops with reason.
func (j *Jobs) Failure(ctx context.Context, jobID string, kind cptypes.FailureType, reason string) error {
	_, err := j.Fail.PutJobFailureResult(ctx, &codepipeline.PutJobFailureResultInput{
		JobId: aws.String(jobID),
		FailureDetails: &cptypes.FailureDetails{
			Type:    kind,
			Message: aws.String(truncate(reason, maxFailureLen)),
		},
	})
	if err != nil {
		return fmt.Errorf("put job failure result for %s: %w", jobID, err)
	}
	return nil
}

// continuation travels through CodePipeline between invocations of one job:
// the start of the wait makes the total wait bounded across invocations.
type continuation struct {
	Mode    Mode  `json:"mode"`
	Since   int64 `json:"since"` // epoch ms of the first invocation
	Attempt int   `json:"attempt"`
}

func (c continuation) encode() string {
	b, _ := json.Marshal(c) // plain struct of strings and ints: cannot fail
	return string(b)
}

// parseContinuation reads a token this validator wrote for a job of mode.
func parseContinuation(s string, mode Mode) (continuation, error) {
	var c continuation
	if len(s) > maxTokenLen {
		return c, fmt.Errorf("%w: longer than %d bytes", ErrBadContinuation, maxTokenLen)
	}
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return c, fmt.Errorf("%w: %w", ErrBadContinuation, err)
	}
	if c.Mode != mode {
		return c, fmt.Errorf("%w: written for mode %q, job is %q", ErrBadContinuation, c.Mode, mode)
	}
	if c.Since <= 0 || c.Attempt < 0 {
		return c, fmt.Errorf("%w: no start time", ErrBadContinuation)
	}
	return c, nil
}

// waited is how long the job has waited at now; never negative, so a clock
// that went back cannot extend the wait beyond the bound by much.
func (c continuation) waited(now time.Time) time.Duration {
	d := now.Sub(time.UnixMilli(c.Since))
	if d < 0 {
		return 0
	}
	return d
}
