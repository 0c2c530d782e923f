package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
)

// Deps are the AWS operations the validator uses; main passes the SDK clients.
type Deps struct {
	Images    imageDescriber
	Findings  scanFindingsDescriber
	Manifests imageBatchGetter
	Tags      imagePutter
	Services  serviceDescriber
	TaskDefs  taskDefinitionDescriber
	Put       itemPutter
	Get       itemGetter
	Query     itemQuerier
	Topics    publisher
	Details   jobDetailsGetter
	Succeed   jobSucceeder
	Fail      jobFailer
	// Roles and ECSFor reach a verify target in another account or region:
	// the role is assumed through Roles, and ECSFor builds the ECS clients
	// (once per region and role; nil: only the function's own).
	Roles  roleAssumer
	ECSFor ecsFactory
	// Metrics receives the delivery metrics, one EMF line per outcome, which
	// CloudWatch Logs turns into metrics (nil: standard output).
	Metrics io.Writer
}

// Handler translates a CodePipeline job event into a check and always ends the
// job. It is built once per container and is safe for sequential invocations.
type Handler struct {
	cfg     Config
	cfgErr  error
	gate    *Gate
	verify  *Verifier
	targets *targets
	protect *Protector
	history *History
	notify  *Notifier
	jobs    *Jobs
	metrics *metrics
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
			Threshold: cfg.Threshold, Unscanned: cfg.Unscanned, MaxWait: cfg.MaxWait},
		verify: &Verifier{Images: d.Images, Repository: cfg.Repository, RepositoryURI: cfg.RepositoryURI,
			MaxWait: cfg.MaxWait, Log: log},
		targets: &targets{cfg: cfg, local: ecsPorts{Services: d.Services, TaskDefs: d.TaskDefs},
			factory: d.ECSFor, roles: d.Roles},
		protect: &Protector{Get: d.Manifests, Put: d.Tags, Images: d.Images, Repository: cfg.Repository},
		history: &History{Put: d.Put, Get: d.Get, Table: cfg.Table},
		notify:  &Notifier{Topics: d.Topics, TopicARN: cfg.TopicARN, Environment: cfg.environmentName(), Service: cfg.ServiceName},
		jobs:    &Jobs{Get: d.Details, Succeed: d.Succeed, Fail: d.Fail},
		metrics: &metrics{out: cmp.Or[io.Writer](d.Metrics, os.Stdout), query: d.Query, table: cfg.Table},
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
	ImageDigest string
	CommitTime  time.Time
	Environment string  // the environment checked (UserParameters, else ENVIRONMENT)
	Target      *target // verify: where it looked, once resolved
}

// outcome is a finished check: a pass, or the error that says why not.
type outcome struct {
	Result
	err  error
	kind cptypes.FailureType // for PutJobFailureResult
}

// Handle is the Lambda entry point. It returns an error when the event is not
// a job of this validator (nothing else is done), when the job could not be
// ended, and after any panic; every other problem ends the job with a failure.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (err error) {
	ev, perr := parseEvent(raw)
	if ev.ID == "" {
		h.log.Error("invocation ignored", "error", perr.Error())
		return perr
	}
	inv := &invocation{h: h, req: Request{JobID: ev.ID}, now: h.now(), log: h.log.With("jobId", ev.ID), budget: newBudget(ctx)}
	defer func() {
		p := recover()
		if p != nil {
			// A bug outside the guarded calls. The job must still end, or
			// the pipeline hangs until the action times out; finish skips
			// what was already tried, so nothing is written or sent twice.
			inv.recovered("handler", p)
			if !inv.ended {
				err = inv.guard("recovery", func() error {
					return inv.finish(ctx, outcome{err: fmt.Errorf("%w: %v", ErrInternal, p), kind: cptypes.FailureTypeJobFailed})
				})
			}
		}
		if inv.panicked != nil {
			// Whatever the job's result, a panic is a defect: the
			// invocation reports it.
			perr := fmt.Errorf("%w: recovered from a panic: %v", ErrInternal, inv.panicked)
			if err != nil {
				perr = fmt.Errorf("%w; %w", err, perr)
			}
			err = perr
		}
	}()
	if perr != nil {
		// Only the job id is taken from the event; the job itself comes
		// from CodePipeline.
		inv.log.Warn("malformed event", "error", perr.Error())
	}
	return inv.run(ctx, ev)
}

// invocation carries one job through check, record, notify and result.
type invocation struct {
	h      *Handler
	req    Request
	now    time.Time
	log    *slog.Logger
	budget budget
	// What was tried, so that a recovery does not repeat it.
	recordTried, notifyTried, ended bool
	panicked                        any
}

// guard runs one call whose panic must not escape: the panic becomes the
// call's error, and Handle reports it once the job has ended.
func (inv *invocation) guard(what string, call func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			inv.recovered(what, p)
			err = fmt.Errorf("%w: panic in %s: %v", ErrInternal, what, p)
		}
	}()
	return call()
}

func (inv *invocation) recovered(what string, p any) {
	inv.log.Error("panic", "in", what, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	if inv.panicked == nil {
		inv.panicked = p
	}
}

func (inv *invocation) run(ctx context.Context, ev jobEvent) error {
	h := inv.h
	work, cancel := inv.budget.check(ctx)
	defer cancel()

	// The job as CodePipeline holds it: the event only names it.
	var job jobDetails
	derr := inv.guard("GetJobDetails", func() (err error) {
		job, err = h.jobs.Details(work, inv.req.JobID)
		return err
	})
	if derr == nil {
		derr = h.belongs(job)
	}
	switch {
	case errors.Is(derr, ErrForeignJob):
		inv.log.Error("job refused", "error", derr.Error())
		return derr
	case derr != nil:
		// The job cannot be confirmed, so it fails. The event's parameters
		// only name the execution for the record.
		up, _ := parseUserParameters(ev.UserParameters)
		inv.use(up)
		return inv.finish(ctx, outcome{err: derr, kind: cptypes.FailureTypeJobFailed})
	}
	if ev.UserParameters != job.UserParameters || ev.ContinuationToken != job.ContinuationToken {
		inv.log.Warn("the event differs from the job CodePipeline holds; the job's own configuration is used")
	}

	up, uerr := parseUserParameters(job.UserParameters)
	if up.ExecutionID == "" && validExecutionID.MatchString(job.ExecutionID) {
		up.ExecutionID = job.ExecutionID
	}
	inv.use(up)
	switch {
	case h.cfgErr != nil:
		return inv.finish(ctx, outcome{err: h.cfgErr, kind: cptypes.FailureTypeConfigurationError})
	case uerr != nil:
		return inv.finish(ctx, outcome{err: uerr, kind: cptypes.FailureTypeConfigurationError})
	}

	token := continuation{Mode: up.Mode, Since: epochMillis(inv.now)}
	if job.ContinuationToken != "" {
		var err error
		if token, err = parseContinuation(job.ContinuationToken, up.Mode, inv.now); err != nil {
			return inv.finish(ctx, outcome{err: err, kind: cptypes.FailureTypeJobFailed})
		}
		token.Attempt++
	}
	waited := token.waited(inv.now)

	var res Result
	err := inv.guard("the "+string(up.Mode)+" check", func() (err error) {
		if up.Mode == ModeGate {
			res, err = h.gate.Check(work, up.ImageTag, up.ImageDigest, waited)
			return err
		}
		p, err := inv.placement(up.Target)
		if err != nil {
			return err
		}
		res, err = h.verify.Check(work, up.ImageTag, up.ImageDigest, p, waited)
		return err
	})
	if err == nil && res.Status == StatusDeployed {
		inv.protect(work, &res)
	}
	if err == nil && res.Pending != "" {
		summary := fmt.Sprintf("waiting: %s (%s of %s)", res.Pending, waited.Round(time.Second), h.cfg.MaxWait)
		inv.ended = true
		end, cancel := inv.budget.ending(ctx)
		defer cancel()
		if cerr := inv.guard("PutJobSuccessResult", func() error { return h.jobs.Continue(end, inv.req.JobID, token, summary) }); cerr != nil {
			inv.log.Error("job not ended", "error", cerr.Error())
			return cerr
		}
		inv.log.Info("job continues", "reason", res.Pending, "waited", waited.Round(time.Second).String(), "attempt", token.Attempt)
		return nil
	}
	kind := cptypes.FailureTypeJobFailed
	if errors.Is(err, ErrBadTarget) {
		kind = cptypes.FailureTypeConfigurationError
	}
	return inv.finish(ctx, outcome{Result: res, err: err, kind: kind})
}

// protect tags the image that runs as deployed to the environment, so that
// the lifecycle policy keeps it. Best effort, and visible: a failure leaves
// the verdict DEPLOYED and the job successful (the deploy did take effect),
// and the item, the job summary and a message say the image is not protected.
func (inv *invocation) protect(ctx context.Context, res *Result) {
	var tag string
	err := inv.guard("the deployed tag", func() (err error) {
		tag, err = inv.h.protect.Protect(ctx, inv.req.Environment, res.Digest, inv.now)
		return err
	})
	if err != nil {
		inv.log.Error("image not protected from expiry", "error", err.Error())
		res.Detail += "; image not protected from expiry: " + err.Error()
		res.Notice = "deployed, not protected from expiry"
		return
	}
	res.DeployedTag = tag
	res.Detail += "; kept from expiry as " + tag
}

// placement resolves where verify looks, and the clients that reach it.
func (inv *invocation) placement(tp *targetParams) (placement, error) {
	ts := inv.h.targets
	t, err := ts.resolve(tp)
	if err != nil {
		return placement{}, err
	}
	inv.req.Target = &t
	ports, err := ts.ports(t)
	if err != nil {
		return placement{}, err
	}
	return placement{ecsPorts: ports, Cluster: t.Cluster, Service: t.Service, Container: t.Container, Where: t.where(ts.cfg)}, nil
}

// use takes what could be read of the job's parameters into the request.
func (inv *invocation) use(up userParameters) {
	inv.req.Mode, inv.req.ImageTag, inv.req.ExecutionID = up.Mode, up.ImageTag, up.ExecutionID
	inv.req.ImageDigest, inv.req.CommitTime, inv.req.Environment = up.ImageDigest, up.CommitTime, up.Environment
	if inv.req.Environment == "" {
		inv.req.Environment = inv.h.cfg.Environment
	}
	inv.log = inv.log.With("mode", string(up.Mode), "imageTag", up.ImageTag, "executionId", up.ExecutionID,
		"environment", inv.req.Environment)
}

// belongs refuses a job that is not an invoke action of this function in
// this validator's pipeline: whoever may invoke the function cannot make it
// act on, or end, another pipeline's job.
func (h *Handler) belongs(j jobDetails) error {
	var why string
	switch {
	case h.cfg.Pipeline != "" && j.Pipeline != h.cfg.Pipeline:
		why = fmt.Sprintf("it belongs to pipeline %q, and this validator serves %q", clip(j.Pipeline), h.cfg.Pipeline)
	case j.Category != "Invoke" || j.Owner != "AWS" || j.Provider != "Lambda":
		why = fmt.Sprintf("its action type is %s/%s/%s, not an AWS Lambda invoke action", clip(j.Category), clip(j.Owner), clip(j.Provider))
	case h.cfg.FunctionName != "" && !sameFunction(j.FunctionName, h.cfg.FunctionName):
		why = fmt.Sprintf("its action invokes function %q, not %q", clip(j.FunctionName), h.cfg.FunctionName)
	default:
		return nil
	}
	return fmt.Errorf("%w: job %s: %s", ErrForeignJob, j.ID, why)
}

// sameFunction tells whether an action's FunctionName (a name, a name with a
// qualifier, or an ARN) names the function called name.
func sameFunction(configured, name string) bool {
	if _, after, ok := strings.Cut(configured, ":function:"); ok {
		configured = after
	}
	configured, _, _ = strings.Cut(configured, ":")
	return configured == name
}

// finish records the outcome, tells people when it stops the pipeline (or
// passes with a notice), and ends the job. Recording comes first and fails
// closed: an outcome that is not in the history does not pass. Each step has
// its own time budget, and the job result keeps its reserve whatever the
// others did; a step already tried (before a panic) is not tried again.
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
		ScanStatus:   o.ScanStatus,
		JobID:        inv.req.JobID,
		Reason:       o.Detail,
		Notice:       o.Notice,
		Environment:  inv.req.Environment,
		Pipeline:     h.cfg.ServiceName,
		DeployedTag:  o.DeployedTag,
	}
	if rec.ImageDigest == "" {
		rec.ImageDigest = inv.req.ImageDigest
	}
	if !inv.req.CommitTime.IsZero() {
		rec.CommitTime = epochMillis(inv.req.CommitTime)
	}
	if t := inv.req.Target; t != nil && t.remote(h.cfg) {
		rec.Account, rec.Region = t.Account, t.Region
	}
	if o.err != nil {
		rec.Status, rec.Reason, rec.Notice = statusOf(o.err), o.err.Error(), ""
	} else if !rec.Status.passed() {
		rec.Status, rec.Reason = StatusError, fmt.Sprintf("%v: check ended without a verdict", ErrInternal)
	}

	switch {
	case inv.recordTried:
		inv.log.Warn("outcome not recorded again", "status", string(rec.Status))
	case rec.DeploymentID == "" || h.cfg.Table == "":
		inv.log.Warn("outcome not recorded: no execution id or no table", "status", string(rec.Status))
	default:
		inv.recordTried = true
		rctx, cancel := inv.budget.recording(ctx)
		err := inv.guard("PutItem", func() error { return h.history.Append(rctx, &rec) })
		cancel()
		if err != nil {
			inv.log.Error("outcome not recorded", "status", string(rec.Status), "error", err.Error())
			rec.Reason = fmt.Sprintf("%v (the check said %s: %s)", err, rec.Status, rec.Reason)
			// The failure keeps its kind: a configuration error stays one.
			rec.Status, rec.Notice = StatusError, ""
		}
	}

	if (!rec.Status.passed() || rec.Notice != "") && !inv.notifyTried {
		// A lost message must not change the job's result: log it and go on.
		inv.notifyTried = true
		nctx, cancel := inv.budget.notifying(ctx)
		err := inv.guard("Publish", func() error { return h.notify.Notify(nctx, rec, inv.now) })
		cancel()
		if err != nil {
			inv.log.Error("notification not sent", "status", string(rec.Status), "error", err.Error())
		}
	}

	inv.ended = true
	end, cancel := inv.budget.ending(ctx)
	defer cancel()
	err := inv.guard("the job result", func() error {
		if rec.Status.passed() {
			return h.jobs.Success(end, inv.req.JobID, string(rec.Status)+": "+rec.Reason)
		}
		return h.jobs.Failure(end, inv.req.JobID, o.kind, string(rec.Status)+": "+rec.Reason)
	})
	// The metrics come after the job's end: they never hold up the pipeline.
	if rec.Environment == "" {
		rec.Environment = h.cfg.Environment
	}
	inv.guard("the delivery metrics", func() error { h.metrics.emit(ctx, inv.log, rec); return nil })
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

// jobEvent is what the validator takes from the event: never the artifact
// credentials, so nothing downstream can log them.
type jobEvent struct {
	ID                string
	UserParameters    string
	ContinuationToken string
}

// parseEvent reads a CodePipeline job event. Without a valid job id, taken
// as written, it is not a job (ErrNotAJob); with one, a malformed rest still
// yields the id so the job can be failed instead of left to time out.
func parseEvent(raw []byte) (jobEvent, error) {
	var ev events.CodePipelineJobEvent
	err := json.Unmarshal(raw, &ev)
	job := ev.CodePipelineJob
	out := jobEvent{
		ID:                job.ID,
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
