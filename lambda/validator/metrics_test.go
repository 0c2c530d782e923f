package main

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"cicd/internal/delivery"
)

// emf is one decoded EMF line: the metric values by name and the
// dimensions they carry.
type emf struct {
	values     map[string]float64
	dimensions map[string]string
}

func emfLines(t *testing.T, w *world) []emf {
	t.Helper()
	var out []emf
	for _, line := range strings.Split(strings.TrimSpace(w.metrics.String()), "\n") {
		if line == "" {
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("metrics line %q is not JSON: %v", line, err)
		}
		meta := doc["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
		if meta["Namespace"] != delivery.Namespace {
			t.Errorf("namespace %v, want %s", meta["Namespace"], delivery.Namespace)
		}
		e := emf{values: map[string]float64{}, dimensions: map[string]string{}}
		for _, m := range meta["Metrics"].([]any) {
			name := m.(map[string]any)["Name"].(string)
			e.values[name], _ = doc[name].(float64)
		}
		for _, set := range meta["Dimensions"].([]any) {
			for _, d := range set.([]any) {
				e.dimensions[d.(string)], _ = doc[d.(string)].(string)
			}
		}
		out = append(out, e)
	}
	return out
}

func failedBefore(at ...int64) []map[string]ddbtypes.AttributeValue {
	var items []map[string]ddbtypes.AttributeValue
	for _, ts := range at {
		items = append(items, map[string]ddbtypes.AttributeValue{
			"timestamp": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(ts, 10)},
			"status":    &ddbtypes.AttributeValueMemberS{Value: string(StatusDeployFailed)},
		})
	}
	return items
}

// Every outcome is one line of delivery metrics on the function's output,
// with the pipeline and environment as dimensions; a verify's line counts
// the failures in a row and the time to restore from the verdicts before it.
func TestDeliveryMetrics(t *testing.T) {
	commit := testNow.Add(-90 * 60e9) // an hour and a half before the verdict
	deployed := func(w *world) {
		w.images.out = imageOut(ecrtypes.ScanStatusComplete)
		w.rolledOut(testRepoURI + ":" + testTag)
	}
	rolledBack := func(w *world) {
		w.images.out = imageOut(ecrtypes.ScanStatusComplete)
		w.services.out = servicesOut(deployment("ecs-svc/2", "PRIMARY", tdNew, ecstypes.DeploymentRolloutStateFailed, 0, 1, "circuit breaker"))
		w.taskDefs.defs = taskDefs(map[string]string{tdNew: testRepoURI + ":old"})
	}
	for _, tc := range []struct {
		name   string
		params string
		setup  func(w *world)
		want   map[string]float64
		absent []string
		dims   map[string]string
	}{{
		name:   "a deploy counts, with its lead time from the commit",
		params: multi("verify", map[string]any{"environment": "staging", "commitTime": commit.Format("2006-01-02T15:04:05Z")}),
		setup:  deployed,
		want:   map[string]float64{"Deployments": 1, "FailedDeployments": 0, "ConsecutiveFailedDeployments": 0, "LeadTime": 5400},
		absent: []string{"TimeToRestore"},
		dims:   map[string]string{"Pipeline": "dev", "Environment": "staging"},
	}, {
		name:   "a deploy after failures restores the environment",
		params: params("verify", testTag, testExec),
		setup: func(w *world) {
			deployed(w)
			w.query.items = failedBefore(testNow.UnixMilli()-60_000, testNow.UnixMilli()-600_000)
		},
		want: map[string]float64{"Deployments": 1, "TimeToRestore": 600},
		dims: map[string]string{"Pipeline": "dev", "Environment": "dev"},
	}, {
		name:   "a failed deploy counts the failures in a row",
		params: params("verify", testTag, testExec),
		setup: func(w *world) {
			rolledBack(w)
			w.query.items = failedBefore(testNow.UnixMilli() - 60_000)
		},
		want: map[string]float64{"Deployments": 0, "FailedDeployments": 1, "ConsecutiveFailedDeployments": 2},
	}, {
		name:   "earlier verdicts that cannot be read leave out only what needs them",
		params: params("verify", testTag, testExec),
		setup: func(w *world) {
			rolledBack(w)
			w.query.err = errors.New("ProvisionedThroughputExceededException")
		},
		want:   map[string]float64{"FailedDeployments": 1},
		absent: []string{"ConsecutiveFailedDeployments"},
	}, {
		name:   "a rejection counts by its reason",
		params: params("gate", testTag, testExec),
		setup: func(w *world) {
			w.images.out = imageOut(ecrtypes.ScanStatusComplete)
			w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, map[string]int32{"CRITICAL": 1})
		},
		want: map[string]float64{"GateRejections": 1},
		dims: map[string]string{"Pipeline": "dev", "Environment": "dev", "Reason": "vulnerable"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			tc.setup(w)
			w.handle(context.Background(), jobEventJSON(testJob, tc.params, ""))
			lines := emfLines(t, w)
			if len(lines) != 1 {
				t.Fatalf("%d metrics lines, want one:\n%s", len(lines), w.metrics.String())
			}
			for name, v := range tc.want {
				if got, ok := lines[0].values[name]; !ok || got != v {
					t.Errorf("%s = %v (present %v), want %v", name, got, ok, v)
				}
			}
			for _, name := range tc.absent {
				if _, ok := lines[0].values[name]; ok {
					t.Errorf("%s is there, want it left out", name)
				}
			}
			for k, v := range tc.dims {
				if lines[0].dimensions[k] != v {
					t.Errorf("dimension %s = %q, want %q", k, lines[0].dimensions[k], v)
				}
			}
		})
	}
}

// A wait writes no metrics: only verdicts count.
func TestNoMetricsWhileWaiting(t *testing.T) {
	w := newWorld()
	w.images.out = imageOut(ecrtypes.ScanStatusInProgress)
	w.handle(context.Background(), jobEventJSON(testJob, params("gate", testTag, testExec), ""))
	if len(w.pipeline.successes) != 1 || w.pipeline.successes[0].ContinuationToken == nil {
		t.Fatalf("the job did not wait: %+v", w.pipeline.successes)
	}
	if w.metrics.Len() != 0 {
		t.Errorf("metrics while waiting: %s", w.metrics.String())
	}
}
