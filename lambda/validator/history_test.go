package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func testRecord(jobID string, status Status, ts int64) *Record {
	return &Record{
		DeploymentID: testExec, Timestamp: ts, Status: status, Mode: ModeGate,
		ImageTag: testTag, ImageDigest: testDigest, Findings: map[string]int32{"HIGH": 2},
		JobID: jobID, Reason: "because",
	}
}

func TestHistoryAppend(t *testing.T) {
	const ts = int64(1795608000000)
	other := testRecord("other-job", StatusRejected, ts)

	cases := []struct {
		name      string
		table     fakeTable
		preload   []*Record
		wantErr   error
		wantTS    int64 // the timestamp the record ends up with
		wantItems int
		wantPuts  int
		wantGets  int
	}{
		{name: "a new key is written", wantTS: ts, wantItems: 1, wantPuts: 1},
		{
			name:  "a resent put finds its own item in the condition error (ALL_OLD)",
			table: fakeTable{resendFirst: true}, wantTS: ts, wantItems: 1, wantPuts: 1,
		},
		{
			name:  "a resent put finds its own item by a consistent read when the error has no item",
			table: fakeTable{resendFirst: true, noAllOld: true}, wantTS: ts, wantItems: 1, wantPuts: 1, wantGets: 1,
		},
		{
			name:    "another outcome in the same millisecond moves the record one millisecond on",
			preload: []*Record{other}, wantTS: ts + 1, wantItems: 2, wantPuts: 2,
		},
		{
			name:    "the same via the read-back fallback",
			table:   fakeTable{noAllOld: true},
			preload: []*Record{other}, wantTS: ts + 1, wantItems: 2, wantPuts: 2, wantGets: 1,
		},
		{
			name: "a key range that stays taken gives up",
			preload: []*Record{other, testRecord("o2", StatusError, ts+1), testRecord("o3", StatusError, ts+2),
				testRecord("o4", StatusError, ts+3)},
			wantErr: ErrHistory, wantItems: 4, wantPuts: collisionRetries + 1,
		},
		{
			name:    "a put error fails",
			table:   fakeTable{putErr: errors.New("ProvisionedThroughputExceededException")},
			wantErr: ErrHistory, wantPuts: 1,
		},
		{
			name:    "a failed read-back fails",
			table:   fakeTable{resendFirst: true, noAllOld: true, getErr: errors.New("timeout")},
			wantErr: ErrHistory, wantItems: 1, wantPuts: 1, wantGets: 1,
		},
		{
			name:    "a condition failure with no item anywhere fails",
			table:   fakeTable{resendFirst: true, noAllOld: true, hideFromGet: true},
			wantErr: ErrHistory, wantItems: 1, wantPuts: 1, wantGets: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tbl := &tc.table
			for _, r := range tc.preload {
				tbl.PutItem(context.Background(), putInput(r))
			}
			tbl.puts = 0
			h := &History{Put: tbl, Get: tbl, Table: "t"}
			rec := testRecord(testJob, StatusValidated, ts)
			err := h.Append(context.Background(), rec)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Append() = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && rec.Timestamp != tc.wantTS {
				t.Errorf("timestamp %d, want %d", rec.Timestamp, tc.wantTS)
			}
			if n := len(tbl.records()); n != tc.wantItems {
				t.Errorf("%d items, want %d", n, tc.wantItems)
			}
			if tbl.puts != tc.wantPuts || tbl.gets != tc.wantGets {
				t.Errorf("%d puts, %d gets; want %d, %d", tbl.puts, tbl.gets, tc.wantPuts, tc.wantGets)
			}
			// Whatever happened, the preloaded items are untouched.
			for _, r := range tc.preload {
				got := tbl.items[itemKey(r.item())]
				if attrS(got, "jobId") != r.JobID {
					t.Errorf("item %s@%d was overwritten by %s", r.DeploymentID, r.Timestamp, attrS(got, "jobId"))
				}
			}
		})
	}
}

func putInput(r *Record) *dynamodb.PutItemInput {
	return &dynamodb.PutItemInput{TableName: aws.String("t"), Item: r.item(), ConditionExpression: aws.String("attribute_not_exists(deploymentId)")}
}

// A retried job (CodePipeline "Retry" gives a new job) adds a second item and
// leaves the first as it was.
func TestHistoryRetriedJobAddsAnItem(t *testing.T) {
	tbl := &fakeTable{}
	h := &History{Put: tbl, Get: tbl, Table: "t"}
	first := testRecord("job-1", StatusError, 1000)
	if err := h.Append(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	second := testRecord("job-2", StatusValidated, 61000)
	if err := h.Append(context.Background(), second); err != nil {
		t.Fatal(err)
	}
	items := tbl.records()
	if len(items) != 2 || attrS(items[0], "status") != "ERROR" || attrS(items[1], "status") != "VALIDATED" {
		t.Fatalf("items %v", items)
	}
}

func TestRecordItemShape(t *testing.T) {
	r := testRecord(testJob, StatusRejected, 1795608000123)
	r.Reason = strings.Repeat("é", maxReasonLen) // multi-byte, over the limit
	item := r.item()
	want := map[string]string{
		"deploymentId": "S", "timestamp": "N", "status": "S", "mode": "S", "imageTag": "S",
		"imageDigest": "S", "findings": "M", "jobId": "S", "reason": "S",
	}
	if len(item) != len(want) {
		t.Errorf("item has %d attributes, want %d", len(item), len(want))
	}
	for name, typ := range want {
		var got string
		switch item[name].(type) {
		case *ddbtypes.AttributeValueMemberS:
			got = "S"
		case *ddbtypes.AttributeValueMemberN:
			got = "N"
		case *ddbtypes.AttributeValueMemberM:
			got = "M"
		}
		if got != typ {
			t.Errorf("%s is %q, want %s", name, got, typ)
		}
	}
	if attrN(item, "timestamp") != "1795608000123" {
		t.Errorf("timestamp %s", attrN(item, "timestamp"))
	}
	if n := item["findings"].(*ddbtypes.AttributeValueMemberM).Value["HIGH"].(*ddbtypes.AttributeValueMemberN).Value; n != "2" {
		t.Errorf("findings.HIGH = %s", n)
	}
	if reason := attrS(item, "reason"); len(reason) > maxReasonLen || !strings.HasSuffix(reason, "...") || !utf8.ValidString(reason) {
		t.Errorf("reason not truncated cleanly: %d bytes", len(reason))
	}
	empty := (&Record{DeploymentID: "x", Timestamp: 1}).item()
	if m := empty["findings"].(*ddbtypes.AttributeValueMemberM); m.Value == nil {
		t.Error("findings of a record without findings is a nil map")
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
