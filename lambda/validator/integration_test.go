package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// What moto 5.2 does and does not do, as these tests rely on it:
//   - ECR PutImage with a manifest works; DescribeImages never returns
//     imageScanStatus (so the gate asks DescribeImageScanFindings, as it must
//     for real ECR too when the status is missing).
//   - DescribeImageScanFindings raises ScanNotFoundException until the test
//     calls StartImageScan (moto does not scan on push); after that it returns
//     COMPLETE with one HIGH finding, or whatever the test registered through
//     moto's /moto-api/static/ecr/scan-finding-results.
//   - ECS services get one PRIMARY deployment whose rolloutState is COMPLETED
//     when MOTO_ECS_SERVICE_RUNNING >= desiredCount, else IN_PROGRESS; moto
//     never fails or rolls back a deployment, so those paths use the fakes
//     (verify_test.go). A "rolled back" service is modelled here as one whose
//     primary deployment runs the previous image.
//   - DynamoDB honours ReturnValuesOnConditionCheckFailure=ALL_OLD.
//   - SNS delivers to an http subscription synchronously inside Publish.

// fixture is the AWS side of the integration tests, created once in moto.
type fixture struct {
	cfg      aws.Config
	endpoint string
	ecr      *ecr.Client
	ddb      *dynamodb.Client
	sns      *sns.Client
	ecs      *ecs.Client
	inbox    *snsInbox

	repo, repoURI, table, topicARN, cluster string
}

var shared struct {
	once sync.Once
	fx   *fixture
	err  error
}

func localFixture(t testing.TB) *fixture {
	t.Helper()
	endpoint := motoURL(t)
	shared.once.Do(func() { shared.fx, shared.err = newFixture(t, endpoint) })
	if shared.err != nil {
		t.Fatalf("fixture: %v", shared.err)
	}
	return shared.fx
}

func newFixture(t testing.TB, endpoint string) (*fixture, error) {
	ctx := context.Background()
	cfg := localAWSConfig(t, endpoint)
	fx := &fixture{
		cfg: cfg, endpoint: endpoint,
		ecr: ecr.NewFromConfig(cfg), ddb: dynamodb.NewFromConfig(cfg),
		sns: sns.NewFromConfig(cfg), ecs: ecs.NewFromConfig(cfg),
		inbox: newSNSInbox(),
		repo:  "cicd-pipeline-it", table: "cicd-pipeline-it-state", cluster: "production-cluster",
	}
	repo, err := fx.ecr.CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RepositoryName:             aws.String(fx.repo),
		ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: true},
		ImageTagMutability:         ecrtypes.ImageTagMutabilityImmutable,
	})
	if err != nil {
		return nil, fmt.Errorf("create repository: %w", err)
	}
	fx.repoURI = aws.ToString(repo.Repository.RepositoryUri)

	// The state table's key schema, as the stack creates it.
	if _, err := fx.ddb.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(fx.table),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("deploymentId"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("timestamp"), AttributeType: ddbtypes.ScalarAttributeTypeN},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String("deploymentId"), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String("timestamp"), KeyType: ddbtypes.KeyTypeRange},
		},
		BillingMode: ddbtypes.BillingModePayPerRequest,
	}); err != nil {
		return nil, fmt.Errorf("create table: %w", err)
	}

	topic, err := fx.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("cicd-pipeline-it")})
	if err != nil {
		return nil, fmt.Errorf("create topic: %w", err)
	}
	fx.topicARN = aws.ToString(topic.TopicArn)
	if _, err := fx.sns.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: topic.TopicArn, Protocol: aws.String("http"), Endpoint: aws.String(fx.inbox.URL + "/notify"),
	}); err != nil {
		return nil, fmt.Errorf("subscribe: %w", err)
	}

	if _, err := fx.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(fx.cluster)}); err != nil {
		return nil, fmt.Errorf("create cluster: %w", err)
	}
	return fx, nil
}

// pushImage puts an image (a distinct manifest per tag) and returns its digest.
func (fx *fixture) pushImage(t testing.TB, tag string) string {
	t.Helper()
	// moto derives the digest from the layer digests: one layer per tag.
	config, layer := sha256.Sum256([]byte("config "+tag)), sha256.Sum256([]byte("layer "+tag))
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",`+
		`"config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":1469,"digest":"sha256:%s"},`+
		`"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":3370706,"digest":"sha256:%s"}]}`,
		hex.EncodeToString(config[:]), hex.EncodeToString(layer[:]))
	out, err := fx.ecr.PutImage(context.Background(), &ecr.PutImageInput{
		RepositoryName: aws.String(fx.repo), ImageManifest: aws.String(manifest), ImageTag: aws.String(tag),
	})
	if err != nil {
		t.Fatalf("put image %s: %v", tag, err)
	}
	return aws.ToString(out.Image.ImageId.ImageDigest)
}

// scanImage starts moto's scan of tag. With status set, moto answers that
// status and counts instead of its default (COMPLETE, one HIGH finding).
func (fx *fixture) scanImage(t testing.TB, tag string, status ecrtypes.ScanStatus, counts map[string]int32) {
	t.Helper()
	if status == "" {
		fx.scanResult(t, tag, nil)
		return
	}
	fx.scanResult(t, tag, map[string]any{
		"imageScanStatus":   map[string]string{"status": string(status), "description": "set by the test"},
		"imageScanFindings": map[string]any{"findingSeverityCounts": counts},
	})
}

// scanResult starts moto's scan of tag; with result set, moto answers
// DescribeImageScanFindings with it (imageScanStatus, imageScanFindings, ...)
// verbatim.
func (fx *fixture) scanResult(t testing.TB, tag string, result map[string]any) {
	t.Helper()
	if _, err := fx.ecr.StartImageScan(context.Background(), &ecr.StartImageScanInput{
		RepositoryName: aws.String(fx.repo), ImageId: &ecrtypes.ImageIdentifier{ImageTag: aws.String(tag)},
	}); err != nil {
		t.Fatalf("start image scan %s: %v", tag, err)
	}
	if result == nil {
		return
	}
	res := map[string]any{"registryId": "123456789012", "repositoryName": fx.repo, "imageId": map[string]string{"imageTag": tag}}
	maps.Copy(res, result)
	body, _ := json.Marshal(map[string]any{"region": "us-east-1", "results": []any{res}})
	resp, err := http.Post(fx.endpoint+"/moto-api/static/ecr/scan-finding-results", "application/json", strings.NewReader(string(body)))
	if err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("set scan findings for %s: %v %v", tag, err, resp)
	}
	resp.Body.Close()
}

// service creates an ECS service whose task definition runs image in "app".
func (fx *fixture) service(t testing.TB, name, image string, desired int32) {
	t.Helper()
	createService(t, fx.ecs, fx.cluster, name, image, desired)
}

// createService creates, with client c, an ECS service in cluster whose
// task definition runs image in "app".
func createService(t testing.TB, c *ecs.Client, cluster, name, image string, desired int32) {
	t.Helper()
	ctx := context.Background()
	td, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(name),
		ContainerDefinitions: []ecstypes.ContainerDefinition{
			{Name: aws.String("app"), Image: aws.String(image), Memory: aws.Int32(256)},
			{Name: aws.String("sidecar"), Image: aws.String("public.ecr.aws/docker/library/busybox:latest"), Memory: aws.Int32(64)},
		},
	})
	if err != nil {
		t.Fatalf("register task definition: %v", err)
	}
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String(cluster), ServiceName: aws.String(name),
		TaskDefinition: td.TaskDefinition.TaskDefinitionArn, DesiredCount: aws.Int32(desired),
	}); err != nil {
		t.Fatalf("create service: %v", err)
	}
}

// env is the validator's environment for this fixture.
func (fx *fixture) env(service string) map[string]string {
	return map[string]string{
		"STATE_TABLE": fx.table, "ECR_REPOSITORY": fx.repo, "ECR_REPOSITORY_URI": fx.repoURI,
		"SNS_TOPIC_ARN": fx.topicARN, "SCAN_FAIL_SEVERITY": "HIGH", "ECS_CLUSTER": fx.cluster,
		"ECS_SERVICE": service, "CONTAINER_NAME": "app", "ENVIRONMENT": "it",
		"PIPELINE_NAME": testPipeline, "SERVICE": "it", "AWS_LAMBDA_FUNCTION_NAME": testFunction, "AWS_REGION": "us-east-1",
	}
}

// handler wires the validator as main does, to moto and the CodePipeline
// fake; extra adds to or replaces the function's environment.
func (fx *fixture) handler(t testing.TB, cp *codePipelineFake, service string, extra ...map[string]string) (*Handler, *syncBuffer) {
	t.Helper()
	env := fx.env(service)
	for _, e := range extra {
		maps.Copy(env, e)
	}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	deps := newDeps(fx.cfg, nil)
	pipeline := codepipeline.NewFromConfig(fx.cfg, func(o *codepipeline.Options) { o.BaseEndpoint = aws.String(cp.URL) })
	deps.Details, deps.Succeed, deps.Fail = pipeline, pipeline, pipeline
	logs := &syncBuffer{}
	return NewHandler(cfg, nil, deps, slog.New(slog.NewJSONHandler(logs, nil)), time.Now), logs
}

// items reads an execution's history, oldest first.
func (fx *fixture) items(t testing.TB, executionID string) []map[string]ddbtypes.AttributeValue {
	t.Helper()
	out, err := fx.ddb.Query(context.Background(), &dynamodb.QueryInput{
		TableName:                 aws.String(fx.table),
		KeyConditionExpression:    aws.String("deploymentId = :id"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":id": &ddbtypes.AttributeValueMemberS{Value: executionID}},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("query %s: %v", executionID, err)
	}
	return out.Items
}

// invoke runs one job and checks that it ended exactly once with op.
func invoke(t *testing.T, h *Handler, cp *codePipelineFake, jobID, userParameters, token, wantOp string) cpCall {
	t.Helper()
	cp.addJob(jobID, userParameters, token)
	if err := h.Handle(context.Background(), jobEventJSON(jobID, userParameters, token)); err != nil {
		t.Fatalf("Handle() = %v", err)
	}
	calls := cp.callsFor(jobID)
	if len(calls) != 1 || calls[0].Op != wantOp {
		t.Fatalf("job %s ended with %+v, want one %s", jobID, calls, wantOp)
	}
	return calls[0]
}

func failureMessage(c cpCall) string {
	fd, _ := c.Body["failureDetails"].(map[string]any)
	msg, _ := fd["message"].(string)
	return msg
}

// Job results on the real SDK clients: a retried job is a second item, and
// a throttled result is sent again.
func TestIntegrationJobResults(t *testing.T) {
	fx := localFixture(t)
	cp := newCodePipelineFake(t)

	t.Run("a retried job adds a second item", func(t *testing.T) {
		h, _ := fx.handler(t, cp, "unused")
		invoke(t, h, cp, "job-retry-1", params("gate", "never-pushed", "exec-retry"), "", "PutJobFailureResult")
		invoke(t, h, cp, "job-retry-2", params("gate", "never-pushed", "exec-retry"), "", "PutJobFailureResult")
		items := fx.items(t, "exec-retry")
		if len(items) != 2 || attrS(items[0], "jobId") != "job-retry-1" || attrS(items[1], "jobId") != "job-retry-2" {
			t.Fatalf("items %v", items)
		}
	})

	t.Run("the SDK retries a throttled job result", func(t *testing.T) {
		h, _ := fx.handler(t, cp, "unused")
		cp.mu.Lock()
		cp.throttle, cp.throttled = 1, 0
		cp.mu.Unlock()
		invoke(t, h, cp, "job-throttled", params("gate", "never-pushed", "exec-throttled"), "", "PutJobFailureResult")
		if cp.throttled != 1 {
			t.Fatalf("%d throttled answers", cp.throttled)
		}
	})
}
