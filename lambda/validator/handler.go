package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
)

// Deps are the AWS operations the validator uses; main passes the SDK clients.
type Deps struct {
	Images   imageDescriber
	Findings scanFindingsDescriber
	Services serviceDescriber
	TaskDefs taskDefinitionDescriber
	Put      itemPutter
	Get      itemGetter
	Topics   publisher
	Succeed  jobSucceeder
	Fail     jobFailer
}

// Handler translates a CodePipeline job event into a check and always ends the
// job. It is built once per container and is safe for sequential invocations.
type Handler struct {
	cfg     Config
	cfgErr  error
	gate    *Gate
	verify  *Verifier
	history *History
	notify  *Notifier
	jobs    *Jobs
	log     *slog.Logger
	now     func() time.Time
}

// NewHandler wires the logic to its ports. cfgErr, when set, fails every job
// with that reason (the job still ends, and people are told).
func NewHandler(cfg Config, cfgErr error, d Deps, log *slog.Logger, now func() time.Time) *Handler {
	return &Handler{
		cfg:    cfg,
		cfgErr: cfgErr,
		gate: &Gate{Images: d.Images, Findings: d.Findings, Repository: cfg.Repository,
			Threshold: cfg.Threshold, MaxWait: cfg.MaxWait},
		verify: &Verifier{Services: d.Services, TaskDefs: d.TaskDefs, Images: d.Images,
			Cluster: cfg.Cluster, Service: cfg.Service, Container: cfg.Container,
			Repository: cfg.Repository, RepositoryURI: cfg.RepositoryURI, MaxWait: cfg.MaxWait, Log: log},
		history: &History{Put: d.Put, Get: d.Get, Table: cfg.Table},
		notify:  &Notifier{Topics: d.Topics, TopicARN: cfg.TopicARN, Environment: cfg.environmentName()},
		jobs:    &Jobs{Succeed: d.Succeed, Fail: d.Fail},
		log:     log,
		now:     now,
	}
}

// Request is one job as the logic sees it. Fields that could not be read are
// empty.
type Request struct {
	JobID       string
	Mode        Mode
	ImageTag    string
	ExecutionID string
}

// outcome is a finished check: a pass, or the error that says why not.
type outcome struct {
	Result
	err  error
	kind cptypes.FailureType // for PutJobFailureResult
}

// Handle is the Lambda entry point. It returns an error only when the event is
// not a CodePipeline job (nothing else is done) or when the job could not be
// ended; every other problem ends the job with a failure.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (err error) {
	ev, perr := parseEvent(raw)
	if ev.ID == "" {
		h.log.Error("invocation ignored", "error", perr.Error())
		return perr
	}
	inv := &invocation{h: h, req: Request{JobID: ev.ID}, now: h.now(), log: h.log.With("jobId", ev.ID)}
	defer func() {
		if p := recover(); p != nil {
			// A bug must still end the job, or the pipeline hangs until the action times out.
			inv.log.Error("panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !inv.ended {
				err = inv.finish(ctx, outcome{err: fmt.Errorf("%w: %v", ErrInternal, p), kind: cptypes.FailureTypeJobFailed})
			}
		}
	}()
	return inv.run(ctx, ev, perr)
}

// invocation carries one job through check, record, notify and result.
type invocation struct {
	h     *Handler
	req   Request
	now   time.Time
	log   *slog.Logger
	ended bool
}

func (inv *invocation) run(ctx context.Context, ev jobEvent, perr error) error {
	h := inv.h
	up, uerr := parseUserParameters(ev.UserParameters)
	inv.req.Mode, inv.req.ImageTag, inv.req.ExecutionID = up.Mode, up.ImageTag, up.ExecutionID
	inv.log = inv.log.With("mode", string(up.Mode), "imageTag", up.ImageTag, "executionId", up.ExecutionID)

	switch {
	case h.cfgErr != nil:
		return inv.finish(ctx, outcome{err: h.cfgErr, kind: cptypes.FailureTypeConfigurationError})
	case perr != nil:
		return inv.finish(ctx, outcome{err: perr, kind: cptypes.FailureTypeJobFailed})
	case uerr != nil:
		return inv.finish(ctx, outcome{err: uerr, kind: cptypes.FailureTypeConfigurationError})
	}

	token := continuation{Mode: up.Mode, Since: epochMillis(inv.now)}
	if ev.ContinuationToken != "" {
		var err error
		if token, err = parseContinuation(ev.ContinuationToken, up.Mode); err != nil {
			return inv.finish(ctx, outcome{err: err, kind: cptypes.FailureTypeJobFailed})
		}
		token.Attempt++
	}
	waited := token.waited(inv.now)

	work, cancel := workContext(ctx)
	defer cancel()
	var res Result
	var err error
	if up.Mode == ModeGate {
		res, err = h.gate.Check(work, up.ImageTag, waited)
	} else {
		res, err = h.verify.Check(work, up.ImageTag, waited)
	}
	if err == nil && res.Pending != "" {
		summary := fmt.Sprintf("waiting: %s (%s of %s)", res.Pending, waited.Round(time.Second), h.cfg.MaxWait)
		inv.ended = true
		if cerr := h.jobs.Continue(ctx, inv.req.JobID, token, summary); cerr != nil {
			inv.log.Error("job not ended", "error", cerr.Error())
			return cerr
		}
		inv.log.Info("job continues", "reason", res.Pending, "waited", waited.Round(time.Second).String(), "attempt", token.Attempt)
		return nil
	}
	return inv.finish(ctx, outcome{Result: res, err: err, kind: cptypes.FailureTypeJobFailed})
}

// finish records the outcome, tells people when it stops the pipeline, and
// ends the job. Recording comes first and fails closed: an outcome that is not
// in the history does not pass.
func (inv *invocation) finish(ctx context.Context, o outcome) error {
	h := inv.h
	rec := Record{
		DeploymentID: inv.req.ExecutionID,
		Timestamp:    epochMillis(inv.now),
		Status:       o.Status,
		Mode:         inv.req.Mode,
		ImageTag:     inv.req.ImageTag,
		ImageDigest:  o.Digest,
		Findings:     o.Findings,
		JobID:        inv.req.JobID,
		Reason:       o.Detail,
	}
	if o.err != nil {
		rec.Status, rec.Reason = statusOf(o.err), o.err.Error()
	} else if !rec.Status.passed() {
		rec.Status, rec.Reason = StatusError, fmt.Sprintf("%v: check ended without a verdict", ErrInternal)
	}

	switch {
	case rec.DeploymentID == "" || h.cfg.Table == "":
		inv.log.Warn("outcome not recorded: no execution id or no table", "status", string(rec.Status))
	default:
		if err := h.history.Append(ctx, &rec); err != nil {
			inv.log.Error("outcome not recorded", "status", string(rec.Status), "error", err.Error())
			rec.Reason = fmt.Sprintf("%v (the check said %s: %s)", err, rec.Status, rec.Reason)
			rec.Status = StatusError
			o.kind = cptypes.FailureTypeJobFailed
		}
	}

	if !rec.Status.passed() {
		// A lost message must not change the job's result: log it and go on.
		if err := h.notify.Notify(ctx, rec, inv.now); err != nil {
			inv.log.Error("notification not sent", "status", string(rec.Status), "error", err.Error())
		}
	}

	inv.ended = true
	var err error
	if rec.Status.passed() {
		err = h.jobs.Success(ctx, inv.req.JobID, string(rec.Status)+": "+rec.Reason)
	} else {
		err = h.jobs.Failure(ctx, inv.req.JobID, o.kind, string(rec.Status)+": "+rec.Reason)
	}
	attrs := []any{"status", string(rec.Status), "reason", rec.Reason, "imageDigest", rec.ImageDigest, "timestamp", rec.Timestamp}
	switch {
	case err != nil:
		inv.log.Error("job not ended", append(attrs, "error", err.Error())...)
	case rec.Status.passed():
		inv.log.Info("job succeeded", attrs...)
	case rec.Status == StatusError:
		inv.log.Error("job failed", attrs...)
	default:
		inv.log.Warn("job failed", attrs...)
	}
	return err
}

// workContext leaves part of the Lambda's remaining time for recording,
// notifying and ending the job after the checks.
func workContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	reserve := min(time.Until(deadline)/3, 5*time.Second)
	return context.WithDeadline(ctx, deadline.Add(-reserve))
}

// jobEvent is what the validator takes from the event: never the artifact
// credentials, so nothing downstream can log them.
type jobEvent struct {
	ID                string
	UserParameters    string
	ContinuationToken string
}

// parseEvent reads a CodePipeline job event. Without a job id it is not a job
// (ErrNotAJob); with one, a malformed rest still yields the id so the job can
// be failed instead of left to time out.
func parseEvent(raw []byte) (jobEvent, error) {
	var ev events.CodePipelineJobEvent
	err := json.Unmarshal(raw, &ev)
	job := ev.CodePipelineJob
	out := jobEvent{
		ID:                strings.TrimSpace(job.ID),
		UserParameters:    job.Data.ActionConfiguration.Configuration.UserParameters,
		ContinuationToken: job.Data.ContinuationToken,
	}
	if out.ID == "" || !validJobID.MatchString(out.ID) {
		out.ID = ""
		return out, ErrNotAJob
	}
	if err != nil {
		// Decoding errors name types and offsets, never values.
		return out, fmt.Errorf("%w: %w", ErrMalformedEvent, err)
	}
	return out, nil
}

// userParameters is the action's UserParameters JSON.
type userParameters struct {
	Mode        Mode   `json:"mode"`
	ImageTag    string `json:"imageTag"`
	ExecutionID string `json:"executionId"`
}

var (
	// validJobID: CodePipeline job ids are UUIDs; this also keeps logs clean.
	validJobID = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)
	// validTag is Docker's tag grammar (ECR accepts these).
	validTag = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	// validExecutionID: execution ids are UUIDs; this keeps the table key sane.
	validExecutionID = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)
)

// parseUserParameters reads and checks UserParameters. Fields that do not pass
// their check are left empty, so messages never repeat malformed input.
func parseUserParameters(s string) (userParameters, error) {
	var raw userParameters
	const want = `expected {"mode":"gate"|"verify","imageTag":"<tag>","executionId":"<id>"}`
	if strings.TrimSpace(s) == "" {
		return userParameters{}, fmt.Errorf("%w: empty; %s", ErrBadParameters, want)
	}
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&raw); err != nil {
		return userParameters{}, fmt.Errorf("%w: not a JSON object (%v); %s", ErrBadParameters, err, want)
	}
	if dec.More() {
		return userParameters{}, fmt.Errorf("%w: text after the JSON object; %s", ErrBadParameters, want)
	}
	var out userParameters
	var problems []string
	switch raw.Mode {
	case ModeGate, ModeVerify:
		out.Mode = raw.Mode
	case "":
		problems = append(problems, "mode is missing")
	default:
		problems = append(problems, fmt.Sprintf("mode %q is not gate or verify", clip(string(raw.Mode))))
	}
	check := func(name, v string, re *regexp.Regexp, dst *string) {
		switch {
		case v == "":
			problems = append(problems, name+" is missing")
		case strings.Contains(v, "#{"):
			problems = append(problems, fmt.Sprintf("%s is the unresolved pipeline variable %q", name, clip(v)))
		case !re.MatchString(v):
			problems = append(problems, fmt.Sprintf("%s %q is not valid", name, clip(v)))
		default:
			*dst = v
		}
	}
	check("imageTag", raw.ImageTag, validTag, &out.ImageTag)
	check("executionId", raw.ExecutionID, validExecutionID, &out.ExecutionID)
	if len(problems) > 0 {
		return out, fmt.Errorf("%w: %s", ErrBadParameters, strings.Join(problems, "; "))
	}
	return out, nil
}

// clip keeps echoed input short and printable.
func clip(s string) string { return asciiLine(s, 64) }
