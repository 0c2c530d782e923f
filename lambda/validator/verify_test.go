package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Verify: the service runs the image the pipeline deployed. Targets in other
// accounts and regions are in multienv_test.go, the deployed tag in
// protect_test.go.

// The image the pipeline deployed, and the one that ran before it.
const (
	newImage = testRepoURI + ":" + testTag
	oldImage = testRepoURI + ":0ld0ld"
)

// Verify passes when the service's primary deployment has settled on the
// image, named by tag or by digest.
func TestVerifyPasses(t *testing.T) {
	verify := params("verify", testTag, testExec)
	testHandle(t, []handleCase{
		{
			name: "verify passes when the completed primary deployment runs the tag",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.services.out = servicesOut(deployment("ecs-svc/2", "PRIMARY", tdNew, ecstypes.DeploymentRolloutStateCompleted, 2, 2, "done"))
				w.taskDefs.defs = taskDefs(map[string]string{tdNew: newImage})
			},
			event: jobEventJSON(testJob, verify, ""), result: succeeded, status: StatusDeployed,
			reason: []string{"ecs-svc/2 COMPLETED", "container app runs " + newImage, "kept from expiry as deployed-dev.20261125T120000.000Z"},
			check: func(t *testing.T, w *world) {
				in := w.services.calls[0]
				if aws.ToString(in.Cluster) != "production-cluster" || len(in.Services) != 1 || in.Services[0] != "cicd-pipeline-dev" {
					t.Errorf("DescribeServices(%v, %v)", aws.ToString(in.Cluster), in.Services)
				}
				if attrS(w.table.records()[0], "imageDigest") != testDigest {
					t.Error("verify did not record the digest")
				}
			},
		},
		{
			name: "verify accepts the image by digest",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.rolledOut(testRepoURI + "@" + testDigest)
			},
			event: jobEventJSON(testJob, verify, ""), result: succeeded, status: StatusDeployed,
		},
		{
			name: "verify matches by tag when the digest lookup fails, and says the image is not protected",
			setup: func(w *world) {
				w.images.err = throttled
				w.rolledOut(newImage)
			},
			event: jobEventJSON(testJob, verify, ""), result: succeeded, status: StatusDeployed, sns: true,
			reason: []string{"image not protected from expiry: the image's digest is unknown"},
		},
		{
			name: "verify without a rollout state uses the settled counts",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.services.out = servicesOut(deployment("ecs-svc/2", "PRIMARY", tdNew, "", 2, 2, ""))
				w.taskDefs.defs = taskDefs(map[string]string{tdNew: newImage})
			},
			event: jobEventJSON(testJob, verify, ""), result: succeeded, status: StatusDeployed,
		},
	})
}

// A rollout in progress continues the job until the bounded wait is over.
func TestVerifyWaitsForTheRollout(t *testing.T) {
	verify := params("verify", testTag, testExec)
	testHandle(t, []handleCase{
		{
			name: "verify waits for a rollout in progress",
			setup: func(w *world) {
				w.services.out = servicesOut(deployment("ecs-svc/2", "PRIMARY", tdNew, ecstypes.DeploymentRolloutStateInProgress, 1, 2, ""))
			},
			event: jobEventJSON(testJob, verify, ""), result: continued,
			check: func(t *testing.T, w *world) {
				if len(w.taskDefs.calls) != 0 {
					t.Error("described the task definition while waiting")
				}
				if s := aws.ToString(w.pipeline.successes[0].ExecutionDetails.Summary); !strings.Contains(s, "1 of 2 tasks running") {
					t.Errorf("summary %q", s)
				}
			},
		},
		{
			name: "verify fails a rollout stuck past the bounded wait, naming the image still running",
			setup: func(w *world) {
				w.services.out = servicesOut(
					deployment("ecs-svc/2", "PRIMARY", tdNew, ecstypes.DeploymentRolloutStateInProgress, 0, 2, ""),
					deployment("ecs-svc/1", "ACTIVE", tdOld, ecstypes.DeploymentRolloutStateCompleted, 2, 2, ""))
				w.taskDefs.defs = taskDefs(map[string]string{tdNew: newImage, tdOld: oldImage})
			},
			event:  jobEventJSON(testJob, verify, tokenAt(ModeVerify, testNow.Add(-20*time.Minute), 12)),
			result: failed, failType: cptypes.FailureTypeJobFailed, status: StatusDeployFailed, sns: true,
			reason: []string{"did not complete in time", "IN_PROGRESS after 20m0s", "still running: " + oldImage},
		},
	})
}

// A deployment that did not land fails the job: one that failed or was
// rolled back, naming what still runs, and one whose task definition lacks
// the container.
func TestVerifyFailsADeploymentThatDidNotLand(t *testing.T) {
	verify := params("verify", testTag, testExec)
	testHandle(t, []handleCase{
		{
			name: "verify fails a deployment the circuit breaker rolled back, naming the running image",
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.services.out = servicesOut(
					deployment("ecs-svc/3", "PRIMARY", tdOld, ecstypes.DeploymentRolloutStateCompleted, 2, 2, "completed"),
					deployment("ecs-svc/2", "ACTIVE", tdNew, ecstypes.DeploymentRolloutStateFailed, 0, 2, "tasks failed to start"))
				w.taskDefs.defs = taskDefs(map[string]string{tdNew: newImage, tdOld: oldImage})
			},
			event: jobEventJSON(testJob, verify, ""), result: failed, failType: cptypes.FailureTypeJobFailed,
			status: StatusDeployFailed, sns: true,
			reason: []string{"container app runs " + oldImage, "expected " + newImage, "rolled back: deployment ecs-svc/2 of app:8 FAILED: tasks failed to start"},
		},
		{
			name: "verify fails a FAILED primary deployment and says what still runs",
			setup: func(w *world) {
				w.services.out = servicesOut(
					deployment("ecs-svc/2", "PRIMARY", tdNew, ecstypes.DeploymentRolloutStateFailed, 0, 2, "circuit breaker"),
					deployment("ecs-svc/1", "ACTIVE", tdOld, ecstypes.DeploymentRolloutStateCompleted, 2, 2, ""))
				w.taskDefs.defs = taskDefs(map[string]string{tdNew: newImage, tdOld: oldImage})
			},
			event: jobEventJSON(testJob, verify, ""), result: failed, failType: cptypes.FailureTypeJobFailed,
			status: StatusDeployFailed, sns: true,
			reason: []string{"ecs-svc/2 FAILED: circuit breaker", "still running: " + oldImage + " (deployment ecs-svc/1 ACTIVE, task definition app:7, 2 tasks)"},
		},
		{
			name: "verify fails when the container is not in the task definition",
			setup: func(w *world) {
				w.env["CONTAINER_NAME"] = "web"
				w.rolledOut(newImage)
			},
			event: jobEventJSON(testJob, verify, ""), result: failed, failType: cptypes.FailureTypeJobFailed,
			status: StatusDeployFailed, sns: true, reason: []string{"task definition app:8 has no container named web"},
		},
	})
}

// A service or task definition that cannot be read is an ERROR.
func TestVerifyRecordsErrors(t *testing.T) {
	verify := params("verify", testTag, testExec)
	testHandle(t, []handleCase{
		{
			name: "verify records ERROR for a missing service",
			setup: func(w *world) {
				w.services.out = &ecs.DescribeServicesOutput{Failures: []ecstypes.Failure{{Reason: aws.String("MISSING")}}}
			},
			event: jobEventJSON(testJob, verify, ""), result: failed, failType: cptypes.FailureTypeJobFailed,
			status: StatusError, sns: true, reason: []string{"service cicd-pipeline-dev in cluster production-cluster: MISSING"},
		},
		{
			name: "verify records ERROR for a service with no primary deployment",
			setup: func(w *world) {
				w.services.out = servicesOut(deployment("ecs-svc/1", "ACTIVE", tdOld, ecstypes.DeploymentRolloutStateCompleted, 1, 1, ""))
			},
			event: jobEventJSON(testJob, verify, ""), result: failed, status: StatusError, sns: true,
			failType: cptypes.FailureTypeJobFailed, reason: []string{"no PRIMARY deployment"},
		},
		{
			name:  "verify records ERROR when ECS fails",
			setup: func(w *world) { w.services.err = throttled },
			event: jobEventJSON(testJob, verify, ""), result: failed, failType: cptypes.FailureTypeJobFailed,
			status: StatusError, sns: true, reason: []string{"describe service", "ThrottlingException"},
		},
		{
			name: "verify records ERROR when the task definition cannot be read",
			setup: func(w *world) {
				w.services.out = servicesOut(deployment("ecs-svc/2", "PRIMARY", tdNew, ecstypes.DeploymentRolloutStateCompleted, 1, 1, ""))
				w.taskDefs.err = throttled
			},
			event: jobEventJSON(testJob, verify, ""), result: failed, status: StatusError, sns: true,
			failType: cptypes.FailureTypeJobFailed, reason: []string{"describe task definition " + tdNew},
		},
	})
}

// Verify on the real SDK clients against moto's ECS, ECR and STS.
func TestIntegrationVerify(t *testing.T) {
	fx := localFixture(t)
	cp := newCodePipelineFake(t)

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
