package main

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// The contract for pipelines of several environments: UserParameters may
// also carry imageDigest, commitTime, environment and target, and the items
// record environment, pipeline, commitTime, and account and region when
// verify looked elsewhere. The single-environment contract is in
// gate_test.go and verify_test.go.

const (
	otherDigest = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	stagingRole = "arn:aws:iam::222222222222:role/cicd-orders-verify"
)

// multi builds UserParameters with the optional fields.
func multi(mode string, extra map[string]any) string {
	m := map[string]any{"mode": mode, "imageTag": testTag, "executionId": testExec}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestMultiEnvironment(t *testing.T) {
	byDigest := testRepoURI + "@" + testDigest
	cases := []struct {
		name     string
		params   string
		setup    func(w *world)
		result   jobResult
		failType cptypes.FailureType
		status   Status
		reason   []string
		item     map[string]string // attribute: value ("" absent)
		check    func(t *testing.T, w *world, o observed)
	}{
		{
			name:   "gate passes a tag that resolves to the built digest, and records the commit",
			params: multi("gate", map[string]any{"imageDigest": testDigest, "commitTime": "2026-11-25T11:50:00Z", "environment": "dev"}),
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, nil)
			},
			result: succeeded, status: StatusValidated,
			item: map[string]string{"environment": "dev", "pipeline": "dev", "commitTime": "1795607400000", "imageDigest": testDigest,
				"account": "", "region": ""},
		},
		{
			name:   "gate rejects a tag that resolves to another digest",
			params: multi("gate", map[string]any{"imageDigest": otherDigest}),
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, nil)
			},
			result: failed, failType: cptypes.FailureTypeJobFailed, status: StatusRejected,
			reason: []string{"does not resolve to the built digest", testDigest, "the build pushed " + otherDigest},
		},
		{
			name:   "verify names the environment in the item and the message",
			params: multi("verify", map[string]any{"environment": "staging", "imageDigest": testDigest}),
			setup: func(w *world) {
				w.env["SERVICE"] = "orders"
				w.rolledOut(testRepoURI + ":0ld0ld")
			},
			result: failed, failType: cptypes.FailureTypeJobFailed, status: StatusDeployFailed,
			reason: []string{"expected " + byDigest},
			item:   map[string]string{"environment": "staging", "pipeline": "orders"},
			check: func(t *testing.T, w *world, o observed) {
				if s := aws.ToString(o.msgs[0].Subject); s != "[cicd-pipeline orders staging] deploy of image abc123 failed" {
					t.Errorf("subject %q", s)
				}
				if b := aws.ToString(o.msgs[0].Message); !strings.Contains(b, "Environment:   staging") || !strings.Contains(b, "Service:       orders") {
					t.Errorf("message does not name the service and environment:\n%s", b)
				}
			},
		},
		{
			name:   "verify matches the built digest without looking the tag up",
			params: multi("verify", map[string]any{"imageDigest": testDigest}),
			setup:  func(w *world) { w.rolledOut(byDigest) },
			result: succeeded, status: StatusDeployed,
			item: map[string]string{"imageDigest": testDigest},
			check: func(t *testing.T, w *world, o observed) {
				if len(w.images.calls) != 0 {
					t.Errorf("%d DescribeImages calls, want none: the digest is known", len(w.images.calls))
				}
			},
		},
		{
			name:   "verify fails a service that runs another digest",
			params: multi("verify", map[string]any{"imageDigest": testDigest}),
			setup:  func(w *world) { w.rolledOut(testRepoURI + "@" + otherDigest) },
			result: failed, failType: cptypes.FailureTypeJobFailed, status: StatusDeployFailed,
			reason: []string{"container app runs " + testRepoURI + "@" + otherDigest, "expected " + byDigest},
		},
		{
			name: "verify reaches a target in another region of the same account",
			params: multi("verify", map[string]any{"environment": "prod", "imageDigest": testDigest,
				"target": map[string]any{"cluster": "apps", "service": "orders", "container": "web", "region": "eu-west-1"}}),
			setup: func(w *world) {
				w.services.out = servicesOut(deployment("ecs-svc/2", "PRIMARY", tdNew, ecstypes.DeploymentRolloutStateCompleted, 1, 1, ""))
				w.taskDefs.defs = map[string]*ecstypes.TaskDefinition{tdNew: {ContainerDefinitions: []ecstypes.ContainerDefinition{
					{Name: aws.String("web"), Image: aws.String(byDigest)}}}}
			},
			result: succeeded, status: StatusDeployed,
			item: map[string]string{"environment": "prod", "account": "123456789012", "region": "eu-west-1"},
			check: func(t *testing.T, w *world, o observed) {
				in := w.services.calls[0]
				if aws.ToString(in.Cluster) != "apps" || in.Services[0] != "orders" {
					t.Errorf("DescribeServices(%s, %v)", aws.ToString(in.Cluster), in.Services)
				}
				if !slices.Equal(w.factoryCalls, []string{"eu-west-1 role=false"}) || len(w.roles.calls) != 0 {
					t.Errorf("clients built %v, roles assumed %d; want one eu-west-1 client with the function's credentials",
						w.factoryCalls, len(w.roles.calls))
				}
			},
		},
		{
			name: "verify assumes the target's role in another account",
			params: multi("verify", map[string]any{"environment": "staging", "imageDigest": testDigest,
				"target": map[string]any{"cluster": "apps", "service": "orders", "account": "222222222222", "roleArn": stagingRole}}),
			setup:  func(w *world) { w.rolledOut(byDigest) },
			result: succeeded, status: StatusDeployed,
			item: map[string]string{"environment": "staging", "account": "222222222222", "region": "us-east-1"},
			check: func(t *testing.T, w *world, o observed) {
				if len(w.roles.calls) != 1 || aws.ToString(w.roles.calls[0].RoleArn) != stagingRole ||
					aws.ToString(w.roles.calls[0].RoleSessionName) != sessionName {
					t.Fatalf("AssumeRole calls %+v", w.roles.calls)
				}
				for _, c := range w.remoteCalls {
					if c != "us-east-1 ASIA222222222222" {
						t.Errorf("an ECS call went to %q, want us-east-1 with the assumed role's key", c)
					}
				}
				if len(w.remoteCalls) != 2 {
					t.Errorf("%d ECS calls through the target's client, want 2", len(w.remoteCalls))
				}
			},
		},
		{
			name: "the role's account is the target's account",
			params: multi("verify", map[string]any{"imageDigest": testDigest,
				"target": map[string]any{"roleArn": stagingRole}}),
			setup:  func(w *world) { w.rolledOut(byDigest) },
			result: succeeded, status: StatusDeployed,
			item: map[string]string{"account": "222222222222", "region": "us-east-1"},
		},
		{
			name:   "a target in another account without a role is refused",
			params: multi("verify", map[string]any{"target": map[string]any{"account": "333333333333"}}),
			result: failed, failType: cptypes.FailureTypeConfigurationError, status: StatusError,
			reason: []string{"invalid verify target", "333333333333 is not the function's account 123456789012 and names no roleArn"},
			check: func(t *testing.T, w *world, o observed) {
				if len(w.services.calls) != 0 {
					t.Error("ECS was called for a target that cannot be reached")
				}
			},
		},
		{
			name:   "a role in another account than the target's is refused",
			params: multi("verify", map[string]any{"target": map[string]any{"account": "333333333333", "roleArn": stagingRole}}),
			result: failed, failType: cptypes.FailureTypeConfigurationError, status: StatusError,
			reason: []string{"target.roleArn is in account 222222222222, target.account is 333333333333"},
		},
		{
			name:   "a role that cannot be assumed is an ERROR",
			params: multi("verify", map[string]any{"target": map[string]any{"roleArn": stagingRole}}),
			setup: func(w *world) {
				w.roles.err = errors.New("AccessDenied: not authorized to perform sts:AssumeRole")
			},
			result: failed, failType: cptypes.FailureTypeJobFailed, status: StatusError,
			reason: []string{"service cicd-pipeline-dev in cluster production-cluster (account 222222222222, region us-east-1)", "AccessDenied"},
		},
		{
			name:   "an invalid optional field fails the job and is recorded",
			params: multi("verify", map[string]any{"imageDigest": "sha256:short", "commitTime": "yesterday", "environment": "Prod"}),
			result: failed, failType: cptypes.FailureTypeConfigurationError, status: StatusError,
			reason: []string{`imageDigest "sha256:short" is not valid`, `commitTime "yesterday" is not an ISO 8601 time`, `environment "Prod" is not valid`},
		},
		{
			name:   "a target with a misspelled key fails the job",
			params: multi("verify", map[string]any{"target": map[string]any{"RoleArn": stagingRole}}),
			result: failed, failType: cptypes.FailureTypeConfigurationError, status: StatusError,
			reason: []string{`key "target.RoleArn" is spelled "target.roleArn"`},
		},
		{
			name:   "an unresolved pipeline variable in the digest fails the job",
			params: multi("gate", map[string]any{"imageDigest": "#{BuildVariables.IMAGE_DIGEST}"}),
			result: failed, failType: cptypes.FailureTypeConfigurationError, status: StatusError,
			reason: []string{"imageDigest is the unresolved pipeline variable"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			if tc.setup != nil {
				tc.setup(w)
			}
			o := w.run(context.Background(), jobEventJSON(testJob, tc.params, ""))
			if o.panicked != nil || o.err != nil || o.results != 1 || o.result != tc.result || o.status() != tc.status {
				t.Fatalf("want one %v job result and status %q; got %s", tc.result, tc.status, o)
			}
			if tc.result == failed && w.pipeline.failures[0].FailureDetails.Type != tc.failType {
				t.Errorf("failure type %s, want %s", w.pipeline.failures[0].FailureDetails.Type, tc.failType)
			}
			for _, want := range tc.reason {
				if !strings.Contains(o.text, want) {
					t.Errorf("job message %q lacks %q", o.text, want)
				}
			}
			for name, want := range tc.item {
				got := attrS(o.items[0], name)
				if name == "commitTime" {
					got = attrN(o.items[0], name)
				}
				if got != want {
					t.Errorf("item %s = %q, want %q", name, got, want)
				}
			}
			if tc.check != nil {
				tc.check(t, w, o)
			}
		})
	}
}

// The clients that reach a target are built once per region and role, and
// its role's credentials are reused while they last.
func TestTargetClientsAreBuiltOnce(t *testing.T) {
	w := newWorld()
	w.rolledOut(testRepoURI + "@" + testDigest)
	h := w.handler()
	staging := multi("verify", map[string]any{"imageDigest": testDigest, "target": map[string]any{"roleArn": stagingRole}})
	prod := multi("verify", map[string]any{"imageDigest": testDigest, "target": map[string]any{"region": "eu-west-1"}})
	for i, p := range []string{staging, prod, staging, prod, staging} {
		job := "job-" + string(rune('a'+i))
		w.now = testNow.Add(time.Duration(i) * time.Minute)
		w.pipeline.addJob(job, p, "")
		if err := h.Handle(context.Background(), jobEventJSON(job, p, "")); err != nil {
			t.Fatal(err)
		}
	}
	if len(w.pipeline.successes) != 5 {
		t.Fatalf("%d of 5 jobs passed; logs:\n%s", len(w.pipeline.successes), w.logs.String())
	}
	if !slices.Equal(w.factoryCalls, []string{"us-east-1 role=true", "eu-west-1 role=false"}) {
		t.Errorf("clients built %v, want one per region and role", w.factoryCalls)
	}
	if len(w.roles.calls) != 1 {
		t.Errorf("%d AssumeRole calls for three jobs, want 1 (the credentials are cached)", len(w.roles.calls))
	}
}
