package main

import (
	"context"
	"encoding/json"
	"errors"
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

// Jobs reads CodePipeline jobs and ends them.
type Jobs struct {
	Get     jobDetailsGetter
	Succeed jobSucceeder
	Fail    jobFailer
}

// jobDetails is a job as CodePipeline holds it: the trusted source of its
// configuration, whatever the invocation event says. The artifact
// credentials CodePipeline returns with it are never copied out.
type jobDetails struct {
	ID                string
	Pipeline          string // the pipeline the job belongs to
	ExecutionID       string // the pipeline execution, when CodePipeline gives it
	Category          string // action type: Invoke/AWS/Lambda for the validator's actions
	Owner             string
	Provider          string
	FunctionName      string // the action's FunctionName
	UserParameters    string
	ContinuationToken string
}

// Details asks CodePipeline for the job. A job it does not know is
// ErrForeignJob; any other failure is ErrJobDetails.
func (j *Jobs) Details(ctx context.Context, jobID string) (jobDetails, error) {
	out, err := j.Get.GetJobDetails(ctx, &codepipeline.GetJobDetailsInput{JobId: aws.String(jobID)})
	var notFound *cptypes.JobNotFoundException
	var invalid *cptypes.ValidationException
	if errors.As(err, &notFound) || errors.As(err, &invalid) {
		return jobDetails{}, fmt.Errorf("%w: CodePipeline does not know job %s (%w)", ErrForeignJob, jobID, err)
	}
	if err != nil {
		return jobDetails{}, fmt.Errorf("%w: get job details of %s: %w", ErrJobDetails, jobID, err)
	}
	jd := out.JobDetails
	if jd == nil || jd.Data == nil {
		return jobDetails{}, fmt.Errorf("%w: get job details of %s: empty answer", ErrJobDetails, jobID)
	}
	d := jobDetails{ID: aws.ToString(jd.Id), ContinuationToken: aws.ToString(jd.Data.ContinuationToken)}
	if t := jd.Data.ActionTypeId; t != nil {
		d.Category, d.Owner, d.Provider = string(t.Category), string(t.Owner), aws.ToString(t.Provider)
	}
	if c := jd.Data.ActionConfiguration; c != nil {
		d.FunctionName, d.UserParameters = c.Configuration["FunctionName"], c.Configuration["UserParameters"]
	}
	if p := jd.Data.PipelineContext; p != nil {
		d.Pipeline, d.ExecutionID = aws.ToString(p.PipelineName), aws.ToString(p.PipelineExecutionId)
	}
	if d.ID != jobID {
		return jobDetails{}, fmt.Errorf("%w: get job details of %s: answered for job %q", ErrJobDetails, jobID, clip(d.ID))
	}
	return d, nil
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

// Bounds on a continuation token: a start in the future (beyond clock skew
// between containers) or an attempt count no wait could reach means the token
// was not written by this validator for this job.
const (
	maxClockSkew = 5 * time.Minute
	maxAttempts  = 100_000
)

// parseContinuation reads a token this validator wrote for a job of mode,
// strictly (no key twice, no other key, nothing after the object).
func parseContinuation(s string, mode Mode, now time.Time) (continuation, error) {
	var c continuation
	if len(s) > maxTokenLen {
		return c, fmt.Errorf("%w: longer than %d bytes", ErrBadContinuation, maxTokenLen)
	}
	fields, err := objectFields(s)
	if err != nil {
		return c, fmt.Errorf("%w: %v", ErrBadContinuation, err)
	}
	for k, raw := range fields {
		var dst any
		switch k {
		case "mode":
			dst = &c.Mode
		case "since":
			dst = &c.Since
		case "attempt":
			dst = &c.Attempt
		default:
			return c, fmt.Errorf("%w: unknown key %q", ErrBadContinuation, clip(k))
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return c, fmt.Errorf("%w: %s: %v", ErrBadContinuation, k, err)
		}
	}
	switch {
	case c.Mode != mode:
		return c, fmt.Errorf("%w: written for mode %q, job is %q", ErrBadContinuation, clip(string(c.Mode)), mode)
	case c.Since <= 0:
		return c, fmt.Errorf("%w: no start time", ErrBadContinuation)
	case time.UnixMilli(c.Since).After(now.Add(maxClockSkew)):
		return c, fmt.Errorf("%w: the wait starts in the future (%s)", ErrBadContinuation, time.UnixMilli(c.Since).UTC().Format(time.RFC3339))
	case c.Attempt < 0 || c.Attempt > maxAttempts:
		return c, fmt.Errorf("%w: attempt %d is not between 0 and %d", ErrBadContinuation, c.Attempt, maxAttempts)
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
