package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// The world the handler tests run in: the fakes of fakes_test.go wired as
// main wires the SDK clients, the test job and its event, and builders for
// the SDK's answers.

// remoteECS is what ecsFor builds: the same fakes for every region and
// role, which first fetch the client's credentials as a signed request does.
type remoteECS struct {
	region string
	creds  aws.CredentialsProvider
	w      *world
}

// signing fetches the credentials the client would sign with and records
// the request's region and access key.
func (r remoteECS) signing(ctx context.Context) error {
	key := "(function's own)"
	if r.creds != nil {
		c, err := r.creds.Retrieve(ctx)
		if err != nil {
			return err
		}
		key = c.AccessKeyID
	}
	r.w.remoteCalls = append(r.w.remoteCalls, r.region+" "+key)
	return nil
}

func (r remoteECS) DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, o ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	if err := r.signing(ctx); err != nil {
		return nil, err
	}
	return r.w.services.DescribeServices(ctx, in, o...)
}

func (r remoteECS) DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, o ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error) {
	if err := r.signing(ctx); err != nil {
		return nil, err
	}
	return r.w.taskDefs.DescribeTaskDefinition(ctx, in, o...)
}

// world is one set of fakes and a handler on them. The handler's
// configuration is read from env, as main reads the function's environment.
type world struct {
	images    fakeImages
	findings  fakeFindings
	manifests fakeManifests
	tags      fakeTags
	services  fakeServices
	taskDefs  fakeTaskDefs
	table     fakeTable
	topic     fakeTopic
	pipeline  fakePipeline
	roles     fakeRoles
	query     fakeQuery
	metrics   bytes.Buffer
	// factoryCalls lists the ECS clients built for targets ("region role?"),
	// remoteCalls the requests they made ("region access-key").
	factoryCalls []string
	remoteCalls  []string
	logs         bytes.Buffer
	env          map[string]string
	cfg          Config // what handler() read from env
	cfgErr       error
	now          time.Time
}

const (
	testRepoURI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/cicd-pipeline-dev"
	testDigest  = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	testTag     = "abc123"
	testExec    = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
	testJob     = "11111111-2222-3333-4444-555555555555"
	testSecret  = "wJalrXUtnFEMI-K7MDENG-SECRETKEY"
	testToken   = "FwoGZXIvYXdzE-SESSIONTOKEN"
	// testPipeline and testFunction are where the test's jobs come from.
	testPipeline = "cicd-pipeline-dev"
	testFunction = "cicd-pipeline-validator-dev"
)

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// testEnv is the function's environment as the stack sets it (and Lambda:
// AWS_LAMBDA_FUNCTION_NAME, AWS_REGION).
func testEnv() map[string]string {
	return map[string]string{
		"STATE_TABLE":              "cicd-pipeline-dev-state",
		"ECR_REPOSITORY":           "cicd-pipeline-dev",
		"ECR_REPOSITORY_URI":       testRepoURI,
		"SNS_TOPIC_ARN":            "arn:aws:sns:us-east-1:123456789012:cicd-pipeline-dev",
		"SCAN_FAIL_SEVERITY":       "HIGH",
		"ECS_CLUSTER":              "production-cluster",
		"ECS_SERVICE":              "cicd-pipeline-dev",
		"CONTAINER_NAME":           "app",
		"ENVIRONMENT":              "dev",
		"PIPELINE_NAME":            testPipeline,
		"SERVICE":                  "dev",
		"AWS_LAMBDA_FUNCTION_NAME": testFunction,
		"AWS_REGION":               "us-east-1",
	}
}

func testConfig() Config {
	env := testEnv()
	c, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		panic(err)
	}
	return c
}

func newWorld() *world { return &world{env: testEnv(), now: testNow} }

func (w *world) handler() *Handler {
	w.cfg, w.cfgErr = LoadConfig(func(k string) string { return w.env[k] })
	log := slog.New(slog.NewJSONHandler(&w.logs, nil))
	return NewHandler(w.cfg, w.cfgErr, Deps{
		Images: &w.images, Findings: &w.findings, Manifests: &w.manifests, Tags: &w.tags, Services: &w.services, TaskDefs: &w.taskDefs,
		Put: &w.table, Get: &w.table, Query: &w.query, Topics: &w.topic, Succeed: &w.pipeline, Fail: &w.pipeline,
		Details: &w.pipeline, Roles: &w.roles, ECSFor: w.ecsFor, Metrics: &w.metrics,
	}, log, func() time.Time { return w.now })
}

func (w *world) ecsFor(region string, creds aws.CredentialsProvider) (serviceDescriber, taskDefinitionDescriber) {
	w.factoryCalls = append(w.factoryCalls, fmt.Sprintf("%s role=%v", region, creds != nil))
	r := remoteECS{region: region, creds: creds, w: w}
	return r, r
}

// handle runs one invocation. CodePipeline knows the event's job as the
// event describes it, unless the test registered that job itself.
func (w *world) handle(ctx context.Context, raw []byte) error {
	var ev events.CodePipelineJobEvent
	_ = json.Unmarshal(raw, &ev)
	job := ev.CodePipelineJob
	if id := job.ID; id != "" && w.pipeline.jobs[id] == nil {
		w.pipeline.addJob(id, job.Data.ActionConfiguration.Configuration.UserParameters, job.Data.ContinuationToken)
	}
	return w.handler().Handle(ctx, raw)
}

// awsCalls counts every call made to any fake.
func (w *world) awsCalls() int {
	return len(w.images.calls) + len(w.findings.calls) + len(w.manifests.calls) + len(w.tags.calls) + len(w.services.calls) + len(w.taskDefs.calls) +
		w.table.puts + w.table.gets + len(w.topic.msgs) + len(w.pipeline.successes) + len(w.pipeline.failures) +
		len(w.pipeline.detailCalls) + len(w.roles.calls) + len(w.query.calls)
}

// jobEventJSON builds a CodePipeline job event with artifact credentials that
// must never show up in logs or messages.
func jobEventJSON(jobID, userParameters, continuationToken string) []byte {
	ev := map[string]any{
		"CodePipeline.job": map[string]any{
			"id":        jobID,
			"accountId": "123456789012",
			"data": map[string]any{
				"actionConfiguration": map[string]any{"configuration": map[string]any{
					"FunctionName": "validator", "UserParameters": userParameters}},
				"inputArtifacts":  []any{},
				"outputArtifacts": []any{},
				"artifactCredentials": map[string]any{
					"accessKeyId": "AKIAEXAMPLEKEYID", "secretAccessKey": testSecret, "sessionToken": testToken},
				"continuationToken": continuationToken,
			},
		},
	}
	b, _ := json.Marshal(ev)
	return b
}

func params(mode, tag, exec string) string {
	b, _ := json.Marshal(map[string]string{"mode": mode, "imageTag": tag, "executionId": exec})
	return string(b)
}

func tokenAt(mode Mode, since time.Time, attempt int) string {
	return continuation{Mode: mode, Since: since.UnixMilli(), Attempt: attempt}.encode()
}

// Builders for SDK answers.

func imageOut(scan ecrtypes.ScanStatus) *ecr.DescribeImagesOutput {
	d := ecrtypes.ImageDetail{
		ImageDigest:    aws.String(testDigest),
		ImageTags:      []string{testTag},
		ImagePushedAt:  aws.Time(testNow.Add(-5 * time.Minute)),
		RepositoryName: aws.String("cicd-pipeline-dev"),
	}
	if scan != "" {
		d.ImageScanStatus = &ecrtypes.ImageScanStatus{Status: scan, Description: aws.String("scan " + string(scan))}
	}
	return &ecr.DescribeImagesOutput{ImageDetails: []ecrtypes.ImageDetail{d}}
}

func findingsOut(scan ecrtypes.ScanStatus, counts map[string]int32) *ecr.DescribeImageScanFindingsOutput {
	return &ecr.DescribeImageScanFindingsOutput{
		ImageScanStatus:   &ecrtypes.ImageScanStatus{Status: scan, Description: aws.String("described " + string(scan))},
		ImageScanFindings: &ecrtypes.ImageScanFindings{FindingSeverityCounts: counts},
	}
}

const (
	tdNew = "arn:aws:ecs:us-east-1:123456789012:task-definition/app:8"
	tdOld = "arn:aws:ecs:us-east-1:123456789012:task-definition/app:7"
)

func taskDefs(images map[string]string) map[string]*ecstypes.TaskDefinition {
	out := map[string]*ecstypes.TaskDefinition{}
	for arn, image := range images {
		out[arn] = &ecstypes.TaskDefinition{
			TaskDefinitionArn: aws.String(arn),
			Family:            aws.String("app"),
			ContainerDefinitions: []ecstypes.ContainerDefinition{
				{Name: aws.String("log-router"), Image: aws.String("public.ecr.aws/aws-observability/aws-for-fluent-bit:stable")},
				{Name: aws.String("app"), Image: aws.String(image)},
			},
		}
	}
	return out
}

func deployment(id, status, taskDef string, state ecstypes.DeploymentRolloutState, running, desired int32, reason string) ecstypes.Deployment {
	return ecstypes.Deployment{
		Id: aws.String(id), Status: aws.String(status), TaskDefinition: aws.String(taskDef),
		RolloutState: state, RolloutStateReason: aws.String(reason),
		RunningCount: running, DesiredCount: desired, PendingCount: desired - running,
	}
}

func servicesOut(ds ...ecstypes.Deployment) *ecs.DescribeServicesOutput {
	return &ecs.DescribeServicesOutput{Services: []ecstypes.Service{{
		ServiceName: aws.String("cicd-pipeline-dev"), Status: aws.String("ACTIVE"), Deployments: ds,
	}}}
}

// rolledOut makes the service's one deployment a completed rollout whose
// task definition runs image.
func (w *world) rolledOut(image string) {
	w.services.out = servicesOut(deployment("ecs-svc/2", "PRIMARY", tdNew, ecstypes.DeploymentRolloutStateCompleted, 1, 1, ""))
	w.taskDefs.defs = taskDefs(map[string]string{tdNew: image})
}

func strconvMillis(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
