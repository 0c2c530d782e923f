package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"
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
//     (handler_test.go). A "rolled back" service is modelled here as one whose
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

func TestIntegration(t *testing.T) {
	fx := localFixture(t)
	cp := newCodePipelineFake(t)

	t.Run("gate validates a scanned image below the threshold", func(t *testing.T) {
		digest := fx.pushImage(t, "ok-1")
		fx.scanImage(t, "ok-1", ecrtypes.ScanStatusComplete, map[string]int32{"LOW": 2, "MEDIUM": 1})
		h, logs := fx.handler(t, cp, "unused")
		c := invoke(t, h, cp, "job-gate-ok", params("gate", "ok-1", "exec-gate-ok"), "", "PutJobSuccessResult")
		if _, ok := c.Body["continuationToken"]; ok {
			t.Fatalf("a finished check asked to continue: %v", c.Body)
		}
		items := fx.items(t, "exec-gate-ok")
		if len(items) != 1 || attrS(items[0], "status") != "VALIDATED" || attrS(items[0], "imageDigest") != digest {
			t.Fatalf("items %v", items)
		}
		f := items[0]["findings"].(*ddbtypes.AttributeValueMemberM).Value
		if f["LOW"].(*ddbtypes.AttributeValueMemberN).Value != "2" || f["MEDIUM"].(*ddbtypes.AttributeValueMemberN).Value != "1" {
			t.Errorf("findings %v", f)
		}
		if len(fx.inbox.about("ok-1")) != 0 {
			t.Error("a pass was announced")
		}
		if strings.Contains(logs.String(), testSecret) {
			t.Error("artifact credentials logged")
		}
	})

	t.Run("gate rejects moto's default HIGH finding and announces it", func(t *testing.T) {
		fx.pushImage(t, "vuln-1")
		fx.scanImage(t, "vuln-1", "", nil)
		h, _ := fx.handler(t, cp, "unused")
		c := invoke(t, h, cp, "job-gate-vuln", params("gate", "vuln-1", "exec-gate-vuln"), "", "PutJobFailureResult")
		if msg := failureMessage(c); !strings.Contains(msg, "REJECTED: ") || !strings.Contains(msg, "HIGH 1") {
			t.Errorf("failure message %q", msg)
		}
		if items := fx.items(t, "exec-gate-vuln"); len(items) != 1 || attrS(items[0], "status") != "REJECTED" {
			t.Fatalf("items %v", items)
		}
		msgs := fx.inbox.about("vuln-1")
		if len(msgs) != 1 || msgs[0].Subject != "[cicd-pipeline it] image vuln-1 rejected" ||
			!strings.Contains(msgs[0].Message, "Execution id:  exec-gate-vuln") || !strings.Contains(msgs[0].Message, "HIGH 1") {
			t.Fatalf("notifications %+v", msgs)
		}
	})

	t.Run("gate counts enhanced findings when ECR gives no counts", func(t *testing.T) {
		fx.pushImage(t, "enhanced-1")
		fx.scanResult(t, "enhanced-1", map[string]any{
			"imageScanStatus": map[string]string{"status": "ACTIVE", "description": "Continuous scan is selected for image."},
			"imageScanFindings": map[string]any{
				"imageScanCompletedAt": 1.7956e9,
				"enhancedFindings": []any{
					map[string]any{"severity": "LOW", "title": "CVE-2026-0001", "status": "ACTIVE", "type": "PACKAGE_VULNERABILITY"},
					map[string]any{"severity": "CRITICAL", "title": "CVE-2026-0002", "status": "ACTIVE", "type": "PACKAGE_VULNERABILITY"},
				},
			},
		})
		h, _ := fx.handler(t, cp, "unused")
		c := invoke(t, h, cp, "job-gate-enhanced", params("gate", "enhanced-1", "exec-gate-enhanced"), "", "PutJobFailureResult")
		if msg := failureMessage(c); !strings.Contains(msg, "REJECTED: ") || !strings.Contains(msg, "CRITICAL 1") {
			t.Errorf("failure message %q", msg)
		}
	})

	t.Run("gate waits while an enhanced scan has reported nothing", func(t *testing.T) {
		fx.pushImage(t, "enhanced-2")
		fx.scanResult(t, "enhanced-2", map[string]any{
			"imageScanStatus":   map[string]string{"status": "ACTIVE"},
			"imageScanFindings": map[string]any{},
		})
		h, _ := fx.handler(t, cp, "unused")
		c := invoke(t, h, cp, "job-gate-enhanced-wait", params("gate", "enhanced-2", "exec-gate-enhanced-wait"), "", "PutJobSuccessResult")
		if _, ok := c.Body["continuationToken"]; !ok {
			t.Fatalf("an enhanced scan with nothing reported passed: %v", c.Body)
		}
	})

	t.Run("gate lets an unscannable image pass when allowed, and says so", func(t *testing.T) {
		fx.pushImage(t, "scratch-1")
		fx.scanImage(t, "scratch-1", ecrtypes.ScanStatusUnsupportedImage, nil)
		h, _ := fx.handler(t, cp, "unused", map[string]string{"UNSCANNED_IMAGES": "allow"})
		invoke(t, h, cp, "job-gate-scratch", params("gate", "scratch-1", "exec-gate-scratch"), "", "PutJobSuccessResult")
		items := fx.items(t, "exec-gate-scratch")
		if len(items) != 1 || attrS(items[0], "status") != "VALIDATED" || attrS(items[0], "scanStatus") != "UNSUPPORTED_IMAGE" {
			t.Fatalf("items %v", items)
		}
		if msgs := fx.inbox.about("scratch-1"); len(msgs) != 1 || msgs[0].Subject != "[cicd-pipeline it] image scratch-1 passed unscanned" {
			t.Fatalf("notifications %+v", msgs)
		}
	})

	t.Run("gate rejects a FAILED scan", func(t *testing.T) {
		fx.pushImage(t, "failscan-1")
		fx.scanImage(t, "failscan-1", ecrtypes.ScanStatusFailed, nil)
		h, _ := fx.handler(t, cp, "unused")
		c := invoke(t, h, cp, "job-gate-failscan", params("gate", "failscan-1", "exec-gate-failscan"), "", "PutJobFailureResult")
		if msg := failureMessage(c); !strings.Contains(msg, "scan status FAILED") {
			t.Errorf("failure message %q", msg)
		}
	})

	t.Run("gate waits for a scan that has not started, then gives up", func(t *testing.T) {
		fx.pushImage(t, "noscan-1")
		h, _ := fx.handler(t, cp, "unused")
		c := invoke(t, h, cp, "job-gate-wait", params("gate", "noscan-1", "exec-gate-wait"), "", "PutJobSuccessResult")
		token, _ := c.Body["continuationToken"].(string)
		tok, err := parseContinuation(token, ModeGate, time.Now())
		if err != nil {
			t.Fatalf("continuation %q: %v", token, err)
		}
		if items := fx.items(t, "exec-gate-wait"); len(items) != 0 {
			t.Fatalf("a wait was recorded: %v", items)
		}
		// CodePipeline calls again with the token, after the bounded wait.
		tok.Since -= (defaultMaxWait + time.Second).Milliseconds()
		c = invoke(t, h, cp, "job-gate-wait-2", params("gate", "noscan-1", "exec-gate-wait"), tok.encode(), "PutJobFailureResult")
		if msg := failureMessage(c); !strings.Contains(msg, "did not finish in time") {
			t.Errorf("failure message %q", msg)
		}
		if items := fx.items(t, "exec-gate-wait"); len(items) != 1 || attrS(items[0], "status") != "REJECTED" {
			t.Fatalf("items %v", items)
		}
	})

	t.Run("gate rejects a tag that is not in the repository", func(t *testing.T) {
		h, _ := fx.handler(t, cp, "unused")
		invoke(t, h, cp, "job-gate-missing", params("gate", "never-pushed", "exec-gate-missing"), "", "PutJobFailureResult")
		if items := fx.items(t, "exec-gate-missing"); len(items) != 1 || !strings.Contains(attrS(items[0], "reason"), "image not found") {
			t.Fatalf("items %v", items)
		}
	})

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

	t.Run("verify passes when the service runs the pushed image", func(t *testing.T) {
		digest := fx.pushImage(t, "deployed-1")
		fx.service(t, "svc-deployed", fx.repoURI+":deployed-1", 1)
		h, _ := fx.handler(t, cp, "svc-deployed")
		invoke(t, h, cp, "job-verify-ok", params("verify", "deployed-1", "exec-verify-ok"), "", "PutJobSuccessResult")
		items := fx.items(t, "exec-verify-ok")
		if len(items) != 1 || attrS(items[0], "status") != "DEPLOYED" || attrS(items[0], "imageDigest") != digest {
			t.Fatalf("items %v", items)
		}
		// The running image now has the environment's deployed tag.
		tag := attrS(items[0], "deployedTag")
		if !strings.HasPrefix(tag, "deployed-it.") {
			t.Fatalf("deployedTag %q", tag)
		}
		out, err := fx.ecr.DescribeImages(context.Background(), &ecr.DescribeImagesInput{
			RepositoryName: aws.String(fx.repo), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String(tag)}}})
		if err != nil || len(out.ImageDetails) != 1 || aws.ToString(out.ImageDetails[0].ImageDigest) != digest ||
			!slices.Contains(out.ImageDetails[0].ImageTags, "deployed-1") {
			t.Fatalf("the tag %s names %+v (%v), want the image %s", tag, out, err, digest)
		}
	})

	t.Run("verify fails a service still on the previous image and names it", func(t *testing.T) {
		fx.pushImage(t, "new-1")
		fx.service(t, "svc-rolledback", fx.repoURI+":previous-1", 1)
		h, _ := fx.handler(t, cp, "svc-rolledback")
		c := invoke(t, h, cp, "job-verify-old", params("verify", "new-1", "exec-verify-old"), "", "PutJobFailureResult")
		want := "container app runs " + fx.repoURI + ":previous-1"
		if msg := failureMessage(c); !strings.Contains(msg, "DEPLOY_FAILED: ") || !strings.Contains(msg, want) {
			t.Errorf("failure message %q lacks %q", msg, want)
		}
		if items := fx.items(t, "exec-verify-old"); len(items) != 1 || attrS(items[0], "status") != "DEPLOY_FAILED" {
			t.Fatalf("items %v", items)
		}
		if msgs := fx.inbox.about("new-1"); len(msgs) != 1 || msgs[0].Subject != "[cicd-pipeline it] deploy of image new-1 failed" {
			t.Fatalf("notifications %+v", msgs)
		}
	})

	t.Run("verify waits for a rollout in progress", func(t *testing.T) {
		fx.service(t, "svc-rolling", fx.repoURI+":rolling-1", 2)
		h, _ := fx.handler(t, cp, "svc-rolling")
		c := invoke(t, h, cp, "job-verify-wait", params("verify", "rolling-1", "exec-verify-wait"), "", "PutJobSuccessResult")
		if _, err := parseContinuation(fmt.Sprint(c.Body["continuationToken"]), ModeVerify, time.Now()); err != nil {
			t.Fatalf("continuation: %v (%v)", err, c.Body)
		}
	})

	t.Run("verify assumes the target's role and checks its account and region", func(t *testing.T) {
		digest := fx.pushImage(t, "staging-1")
		const role = "arn:aws:iam::222222222222:role/cicd-it-verify"
		// The staging account's service, made with the role's credentials:
		// moto keeps it in account 222222222222, region eu-west-1.
		creds, err := sts.NewFromConfig(fx.cfg).AssumeRole(context.Background(), &sts.AssumeRoleInput{
			RoleArn: aws.String(role), RoleSessionName: aws.String("it-setup")})
		if err != nil {
			t.Fatal(err)
		}
		staging := ecs.NewFromConfig(fx.cfg, func(o *ecs.Options) {
			o.Region = "eu-west-1"
			o.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(creds.Credentials.AccessKeyId),
				aws.ToString(creds.Credentials.SecretAccessKey), aws.ToString(creds.Credentials.SessionToken))
		})
		if _, err := staging.CreateCluster(context.Background(), &ecs.CreateClusterInput{ClusterName: aws.String("apps-staging")}); err != nil {
			t.Fatal(err)
		}
		createService(t, staging, "apps-staging", "orders", fx.repoURI+"@"+digest, 1)

		h, _ := fx.handler(t, cp, "unused")
		up := multi("verify", map[string]any{"imageTag": "staging-1", "executionId": "exec-verify-staging", "imageDigest": digest,
			"environment": "staging", "commitTime": "2026-11-25T11:50:00Z",
			"target": map[string]any{"cluster": "apps-staging", "service": "orders", "account": "222222222222", "region": "eu-west-1", "roleArn": role}})
		invoke(t, h, cp, "job-verify-staging", up, "", "PutJobSuccessResult")
		items := fx.items(t, "exec-verify-staging")
		if len(items) != 1 || attrS(items[0], "status") != "DEPLOYED" || attrS(items[0], "environment") != "staging" ||
			attrS(items[0], "account") != "222222222222" || attrS(items[0], "region") != "eu-west-1" ||
			attrN(items[0], "commitTime") != "1795607400000" || attrS(items[0], "imageDigest") != digest {
			t.Fatalf("items %v", items)
		}

		// The same names in the function's own account and region do not exist.
		up = multi("verify", map[string]any{"imageTag": "staging-1", "executionId": "exec-verify-staging-local", "imageDigest": digest,
			"target": map[string]any{"cluster": "apps-staging", "service": "orders"}})
		c := invoke(t, h, cp, "job-verify-staging-local", up, "", "PutJobFailureResult")
		if msg := failureMessage(c); !strings.Contains(msg, "ERROR: ") || !strings.Contains(msg, "apps-staging") {
			t.Errorf("failure message %q", msg)
		}
	})

	t.Run("verify records ERROR for a service that does not exist", func(t *testing.T) {
		h, _ := fx.handler(t, cp, "svc-nowhere")
		c := invoke(t, h, cp, "job-verify-missing", params("verify", "x-1", "exec-verify-missing"), "", "PutJobFailureResult")
		if msg := failureMessage(c); !strings.Contains(msg, "ERROR: ") || !strings.Contains(msg, "svc-nowhere") {
			t.Errorf("failure message %q", msg)
		}
	})
}

// The deployed tag against a real ECR API: the manifest is put again with the
// new tag, and a put an SDK retry repeats (ImageAlreadyExistsException) counts
// as done; a tag that names another image does not.
func TestIntegrationProtect(t *testing.T) {
	fx := localFixture(t)
	digest := fx.pushImage(t, "protect-1")
	other := fx.pushImage(t, "protect-2")
	deps := newDeps(fx.cfg, nil)
	p := &Protector{Get: deps.Manifests, Put: deps.Tags, Images: deps.Images, Repository: fx.repo}
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for range 2 {
		tag, err := p.Protect(context.Background(), "prod", digest, at)
		if err != nil || tag != "deployed-prod.20261125T120000.000Z" {
			t.Fatalf("Protect() = %q, %v", tag, err)
		}
	}
	out, err := fx.ecr.DescribeImages(context.Background(), &ecr.DescribeImagesInput{
		RepositoryName: aws.String(fx.repo), ImageIds: []ecrtypes.ImageIdentifier{{ImageDigest: aws.String(digest)}}})
	if err != nil || len(out.ImageDetails) != 1 {
		t.Fatalf("describe %s: %v", digest, err)
	}
	if tags := out.ImageDetails[0].ImageTags; !slices.Contains(tags, "protect-1") || !slices.Contains(tags, "deployed-prod.20261125T120000.000Z") {
		t.Errorf("image tags %v, want its commit tag and the deployed tag", tags)
	}
	if _, err := p.Protect(context.Background(), "prod", other, at); err == nil || !strings.Contains(err.Error(), "already names another image") {
		t.Errorf("Protect() of another image with a taken tag = %v", err)
	}
}

// countingGetter records whether the GetItem fallback was needed.
type countingGetter struct {
	itemGetter
	n int
}

func (c *countingGetter) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.n++
	return c.itemGetter.GetItem(ctx, in, o...)
}

// The conditional put against a real DynamoDB API: a resent put recognises
// its own item from the condition error, another outcome in the same
// millisecond moves to the next one, and nothing is overwritten.
func TestIntegrationHistory(t *testing.T) {
	fx := localFixture(t)
	ddb := dynamodb.NewFromConfig(fx.cfg)
	get := &countingGetter{itemGetter: ddb}
	h := &History{Put: ddb, Get: get, Table: fx.table}
	ctx := context.Background()
	ts := time.Now().UnixMilli()

	rec := &Record{DeploymentID: "exec-history", Timestamp: ts, Status: StatusValidated, Mode: ModeGate,
		ImageTag: "t", Findings: map[string]int32{}, JobID: "job-a", Reason: "first"}
	if err := h.Append(ctx, rec); err != nil {
		t.Fatal(err)
	}
	again := *rec
	if err := h.Append(ctx, &again); err != nil || again.Timestamp != ts {
		t.Fatalf("resent put: %v, timestamp %d (want %d)", err, again.Timestamp, ts)
	}
	if get.n != 0 {
		t.Errorf("moto returned no item with ALL_OLD: %d GetItem calls", get.n)
	}
	other := &Record{DeploymentID: "exec-history", Timestamp: ts, Status: StatusRejected, Mode: ModeGate, JobID: "job-b", Reason: "second"}
	if err := h.Append(ctx, other); err != nil || other.Timestamp != ts+1 {
		t.Fatalf("colliding put: %v, timestamp %d (want %d)", err, other.Timestamp, ts+1)
	}
	items := fx.items(t, "exec-history")
	if len(items) != 2 || attrS(items[0], "reason") != "first" || attrS(items[1], "jobId") != "job-b" {
		t.Fatalf("items %v", items)
	}

	// Without ALL_OLD in the answer, the consistent read decides.
	h.Put = stripItem{ddb}
	again2 := *rec
	if err := h.Append(ctx, &again2); err != nil || again2.Timestamp != ts || get.n != 1 {
		t.Fatalf("fallback: %v, timestamp %d, %d reads", err, again2.Timestamp, get.n)
	}
}

// stripItem drops the item from condition errors, like a server that ignores
// ReturnValuesOnConditionCheckFailure.
type stripItem struct{ itemPutter }

func (s stripItem) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	out, err := s.itemPutter.PutItem(ctx, in, o...)
	var ccf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if ccf.Item == nil {
			return out, fmt.Errorf("moto sent no item with ALL_OLD: %w", err)
		}
		return out, &ddbtypes.ConditionalCheckFailedException{Message: aws.String("stripped")}
	}
	return out, err
}
