package main

import (
	"context"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// BenchmarkHandleGate is a warm gate invocation with local fakes: decoding the
// event, the checks, the item, the job result and the JSON log line. It is the
// validator's own overhead on top of the AWS round trips.
func BenchmarkHandleGate(b *testing.B) {
	w := newWorld()
	w.images.out = imageOut(ecrtypes.ScanStatusComplete)
	w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, map[string]int32{"MEDIUM": 2, "LOW": 5})
	h := NewHandler(testConfig(), nil, Deps{
		Images: &w.images, Findings: &w.findings, Services: &w.services, TaskDefs: &w.taskDefs,
		Put: &w.table, Get: &w.table, Topics: &w.topic, Succeed: &w.pipeline, Fail: &w.pipeline,
		Details: &w.pipeline,
	}, slog.New(slog.NewJSONHandler(io.Discard, nil)), time.Now)
	event := jobEventJSON(testJob, params("gate", testTag, testExec), "")
	w.pipeline.addJob(testJob, params("gate", testTag, testExec), "")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		// Fresh fakes' memory each round so the table does not grow without bound.
		w.images.calls, w.findings.calls, w.pipeline.successes = nil, nil, nil
		w.table.items = nil
		if err := h.Handle(ctx, event); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandleGateSDK is the same warm invocation through the real SDK
// clients (serialising, signing, retry middleware, HTTP on loopback) against
// a local server that answers instantly: the overhead one invocation adds on
// top of AWS's own latency.
func BenchmarkHandleGateSDK(b *testing.B) {
	answers := map[string]string{
		"AmazonEC2ContainerRegistry_V20150921.DescribeImages": `{"imageDetails":[{"imageDigest":"` + testDigest +
			`","imageTags":["` + testTag + `"],"imagePushedAt":1.7e9}]}`,
		"AmazonEC2ContainerRegistry_V20150921.DescribeImageScanFindings": `{"imageScanStatus":{"status":"COMPLETE"},` +
			`"imageScanFindings":{"findingSeverityCounts":{"MEDIUM":2,"LOW":5}}}`,
		"DynamoDB_20120810.PutItem":                 `{}`,
		"CodePipeline_20150709.PutJobSuccessResult": `{}`,
		"CodePipeline_20150709.GetJobDetails": `{"jobDetails":{"id":"` + testJob + `","data":{` +
			`"actionTypeId":{"category":"Invoke","owner":"AWS","provider":"Lambda","version":"1"},` +
			`"actionConfiguration":{"configuration":{"FunctionName":"` + testFunction + `",` +
			`"UserParameters":"{\"mode\":\"gate\",\"imageTag\":\"` + testTag + `\",\"executionId\":\"` + testExec + `\"}"}},` +
			`"pipelineContext":{"pipelineName":"` + testPipeline + `"}}}}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		body, ok := answers[r.Header.Get("X-Amz-Target")]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			body = `{"__type":"UnknownOperationException"}`
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		// DynamoDB's client checks the body against this header.
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10))
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()

	cfg := localAWSConfig(b, srv.URL)
	ecrc, ddb, cp := ecr.NewFromConfig(cfg), dynamodb.NewFromConfig(cfg), codepipeline.NewFromConfig(cfg)
	h := NewHandler(testConfig(), nil, Deps{
		Images: ecrc, Findings: ecrc, Put: ddb, Get: ddb, Succeed: cp, Fail: cp, Details: cp,
	}, slog.New(slog.NewJSONHandler(io.Discard, nil)), time.Now)
	event := jobEventJSON(testJob, params("gate", testTag, testExec), "")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := h.Handle(ctx, event); err != nil {
			b.Fatal(err)
		}
	}
}
