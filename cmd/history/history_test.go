package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"cicd/internal/delivery"
)

// now is the command's clock in these tests: the period of -since 720h is
// 2026-10-03 09:00 to 2026-11-02 09:00 UTC.
var now = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func from() time.Time { return now.Add(-720 * time.Hour) }

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args  string
		table string
		envs  []string
		err   string
	}{
		{args: "-service orders -env prod -since 720h", table: "cicd-orders-history", envs: []string{"prod"}},
		{args: "-service orders -env dev,staging -env prod", table: "cicd-orders-history", envs: []string{"dev", "staging", "prod"}},
		{args: "-service orders", table: "cicd-orders-history"},
		{args: "-suffix dev", table: "cicd-pipeline-state-dev", envs: []string{"dev"}},
		{args: "-table my-table -env qa", table: "my-table", envs: []string{"qa"}},
		{args: "", err: "give exactly one of -service, -suffix or -table"},
		{args: "-service orders -suffix dev", err: "give exactly one of -service, -suffix or -table"},
		{args: "-table t", err: "-table needs -env"},
		{args: "-service Orders", err: `-service "Orders": want 1-20 lowercase letters, digits and hyphens`},
		{args: "-suffix dev_1", err: `-suffix "dev_1": want`},
		{args: "-service orders -env PROD", err: `-env "PROD": want`},
		{args: "-service orders -env prod,prod", err: `-env "prod" given twice`},
		{args: "-service orders -since -1h", err: "-since -1h0m0s: want a positive duration"},
		{args: "-service orders prod", err: `unexpected argument "prod"`},
		{args: "-service orders -since 30d", err: `invalid value "30d" for flag -since`},
	}
	for _, tc := range tests {
		t.Run(tc.args, func(t *testing.T) {
			var stderr bytes.Buffer
			o, err := parseArgs(strings.Fields(tc.args), &stderr)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.table != tc.table || strings.Join(o.environments, ",") != strings.Join(tc.envs, ",") {
				t.Errorf("table %s, environments %v; want %s, %v", o.table, o.environments, tc.table, tc.envs)
			}
		})
	}
}

// TestUsageErrorsAreOneLine: the command line is checked before any AWS
// call, and a mistake is one line and exit status 2.
func TestUsageErrorsAreOneLine(t *testing.T) {
	var stdout, stderr bytes.Buffer
	called := false
	code := run(context.Background(), []string{"-table", "t"}, env{
		stdout: &stdout, stderr: &stderr, now: func() time.Time { return now },
		connect: func(context.Context, string, string) (clients, error) { called = true; return clients{}, nil },
	})
	if code != exitUsage || called || strings.Count(stderr.String(), "\n") != 1 || !strings.HasPrefix(stderr.String(), "history: ") {
		t.Errorf("exit %d, AWS called %v, stderr %q: want 2, no call, one line", code, called, stderr.String())
	}
}

// createTable makes a state table as constructs/history does: the
// deployment key and the environment index (its template is pinned there).
func createTable(t *testing.T, db *dynamodb.Client, name string) {
	t.Helper()
	_, err := db.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String(delivery.AttrDeploymentID), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String(delivery.AttrTimestamp), AttributeType: ddbtypes.ScalarAttributeTypeN},
			{AttributeName: aws.String(delivery.AttrEnvironment), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String(delivery.AttrDeploymentID), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String(delivery.AttrTimestamp), KeyType: ddbtypes.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []ddbtypes.GlobalSecondaryIndex{{
			IndexName: aws.String(delivery.EnvironmentIndex),
			KeySchema: []ddbtypes.KeySchemaElement{
				{AttributeName: aws.String(delivery.AttrEnvironment), KeyType: ddbtypes.KeyTypeHash},
				{AttributeName: aws.String(delivery.AttrTimestamp), KeyType: ddbtypes.KeyTypeRange},
			},
			Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeAll},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// appendRecords writes records the way the validator does: one new item each,
// with the condition that never overwrites one.
func appendRecords(t *testing.T, db *dynamodb.Client, table string, recs ...delivery.Record) {
	t.Helper()
	for _, r := range recs {
		_, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{
			TableName:                aws.String(table),
			Item:                     r.Item(),
			ConditionExpression:      aws.String("attribute_not_exists(deploymentId) AND attribute_not_exists(#ts)"),
			ExpressionAttributeNames: map[string]string{"#ts": "timestamp"},
		})
		if err != nil {
			t.Fatalf("put %s at %d: %v", r.DeploymentID, r.Timestamp, err)
		}
	}
}

// batchAppend writes many items 25 at a time (for the large history).
func batchAppend(t *testing.T, db *dynamodb.Client, table string, recs []delivery.Record) {
	t.Helper()
	for len(recs) > 0 {
		n := min(25, len(recs))
		var writes []ddbtypes.WriteRequest
		for _, r := range recs[:n] {
			writes = append(writes, ddbtypes.WriteRequest{PutRequest: &ddbtypes.PutRequest{Item: r.Item()}})
		}
		out, err := db.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]ddbtypes.WriteRequest{table: writes},
		})
		if err != nil || len(out.UnprocessedItems) > 0 {
			t.Fatalf("batch write: %v (%d unprocessed)", err, len(out.UnprocessedItems[table]))
		}
		recs = recs[n:]
	}
}

// rec is an outcome at hours after the period's start.
func rec(id, env string, hours float64, status delivery.Status, commitHoursBefore float64) delivery.Record {
	at := from().Add(time.Duration(hours * float64(time.Hour)))
	r := delivery.Record{
		DeploymentID: id, Timestamp: at.UnixMilli(), Status: status, Mode: delivery.ModeVerify,
		ImageTag: "img-" + id, ImageDigest: "sha256:" + strings.Repeat("ab", 32), JobID: "job-" + id,
		Reason: "the service runs the image", Environment: env, Pipeline: "orders", Findings: map[string]int32{},
	}
	if commitHoursBefore > 0 {
		r.CommitTime = at.Add(-time.Duration(commitHoursBefore * float64(time.Hour))).UnixMilli()
	}
	switch status {
	case delivery.StatusValidated, delivery.StatusRejected:
		r.Mode = delivery.ModeGate
	}
	return r
}

// runCommand runs the command against moto and returns its exit status,
// stdout and stderr.
func runCommand(t *testing.T, ops *operations, pageSize int32, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, env{
		stdout: &stdout, stderr: &stderr, now: func() time.Time { return now },
		connect: localConnect(t, ops), pageSize: pageSize,
	})
	return code, stdout.String(), stderr.String()
}

func TestHistoryOfAPipeline(t *testing.T) {
	db := dynamodb.NewFromConfig(localConfig(t, nil))
	const table = "cicd-orders-history"
	createTable(t, db, table)
	d := 24.0 // hours a day
	rejected := rec("e2", "dev", 3*d, delivery.StatusRejected, 0)
	rejected.Reason = "image has findings at or above the threshold: CRITICAL 1 (threshold HIGH)"
	rejected.Findings = map[string]int32{"CRITICAL": 1}
	legacy := rec("old", "prod", 1, delivery.StatusDeployed, 0)
	legacy.Environment = "" // written before the attribute existed: not in the index
	appendRecords(t, db, table,
		// prod: a run of failures that began before the period, restored in it
		rec("e0", "prod", -3, delivery.StatusDeployFailed, 0),
		rec("e0b", "prod", -1, delivery.StatusDeployFailed, 0),
		rec("e1", "dev", 1.5, delivery.StatusValidated, 0),
		rec("e1", "dev", 1.75, delivery.StatusDeployed, 0.75),
		rec("e1", "prod", 2, delivery.StatusDeployed, 1),
		rejected,
		rec("e3", "prod", 5*d, delivery.StatusDeployed, 3),
		rec("e4", "prod", 10*d, delivery.StatusDeployFailed, 0),
		rec("e5", "prod", 10*d+1, delivery.StatusDeployFailed, 0),
		rec("e6", "prod", 10*d+3, delivery.StatusDeployed, 2),
		rec("e7", "prod", 30*d-1, delivery.StatusDeployFailed, 0),
		// after the period's end: not counted
		rec("e8", "prod", 30*d+1, delivery.StatusDeployed, 1),
		legacy,
	)

	t.Run("json", func(t *testing.T) {
		code, stdout, stderr := runCommand(t, nil, 0, "-service", "orders", "-env", "dev,prod", "-since", "720h", "-json")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var doc jsonHistory
		if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, stdout)
		}
		if doc.Table != table || doc.From != "2026-10-03T09:00:00Z" || doc.To != "2026-11-02T09:00:00Z" {
			t.Errorf("table %s, period %s to %s", doc.Table, doc.From, doc.To)
		}
		var ids []string
		for _, o := range doc.Timeline {
			ids = append(ids, o.Environment+"/"+o.DeploymentID+"/"+o.Status)
		}
		want := []string{"dev/e1/VALIDATED", "dev/e1/DEPLOYED", "prod/e1/DEPLOYED", "dev/e2/REJECTED", "prod/e3/DEPLOYED",
			"prod/e4/DEPLOY_FAILED", "prod/e5/DEPLOY_FAILED", "prod/e6/DEPLOYED", "prod/e7/DEPLOY_FAILED"}
		if !reflect.DeepEqual(ids, want) {
			t.Errorf("timeline %v\nwant     %v", ids, want)
		}
		if o := doc.Timeline[3]; o.Reason != rejected.Reason || o.Image != "img-e2" || o.Findings["CRITICAL"] != 1 || o.Mode != "gate" {
			t.Errorf("rejection %+v", o)
		}
		if o := doc.Timeline[2]; o.CommitTime != "2026-10-03T10:00:00Z" || o.Time != "2026-10-03T11:00:00Z" {
			t.Errorf("prod deploy at %s of a commit at %s", o.Time, o.CommitTime)
		}
		prod := doc.Metrics[1]
		hours := func(h float64) *float64 { s := h * 3600; return &s }
		half := 0.5
		wantProd := jsonReport{
			Environment: "prod", Deployments: 3, DeploymentsPerDay: 0.1, DeploymentsPerWeek: 0.7,
			LeadTime:          jsonDurations{Count: 3, P50Seconds: hours(2), P90Seconds: hours(3), MaxSeconds: hours(3)},
			ChangeFailureRate: jsonRate{Failed: 3, Attempted: 6, Rate: &half},
			// from the first failure before the period (-3h) to 2h; and 3h
			TimeToRestore:  jsonDurations{Count: 2, P50Seconds: hours(3), P90Seconds: hours(5), MaxSeconds: hours(5)},
			FailingSince:   aws.String("2026-11-02T08:00:00Z"),
			GateRejections: map[string]int{},
		}
		if !sameReport(prod, wantProd) {
			t.Errorf("prod\n got %s\nwant %s", js(prod), js(wantProd))
		}
		dev := doc.Metrics[0]
		if dev.Environment != "dev" || dev.Deployments != 1 || dev.GateValidations != 1 ||
			!reflect.DeepEqual(dev.GateRejections, map[string]int{"vulnerable": 1}) || dev.ChangeFailureRate.Rate == nil || *dev.ChangeFailureRate.Rate != 0 {
			t.Errorf("dev %s", js(dev))
		}
	})

	t.Run("text", func(t *testing.T) {
		code, stdout, stderr := runCommand(t, nil, 0, "-service", "orders", "-env", "dev", "-env", "prod")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		lines := strings.Split(stdout, "\n")
		for _, want := range [][]string{
			{"Deployment", "history", "of", "cicd-orders-history", "(dev,", "prod),", "2026-10-03", "09:00:00", "to", "2026-11-02", "09:00:00", "UTC", "(30", "days)"},
			{"TIME", "(UTC)", "ENVIRONMENT", "IMAGE", "STATUS", "REASON"},
			{"2026-10-06", "09:00:00", "dev", "img-e2", "REJECTED", "image", "has", "findings", "at", "or", "above", "the", "threshold:", "CRITICAL", "1", "(threshold", "HIGH)"},
			{"2026-11-02", "08:00:00", "prod", "img-e7", "DEPLOY_FAILED", "the", "service", "runs", "the", "image"},
			{"ENVIRONMENT", "DEPLOYMENTS", "PER", "WEEK", "LEAD", "TIME", "P50", "LEAD", "TIME", "P90", "CHANGE", "FAILURE", "RATE", "TIME", "TO", "RESTORE", "P50", "RESTORES"},
			{"dev", "1", "0.2", "45m", "45m", "0%", "(0", "of", "1)", "-", "0"},
			{"prod", "3", "0.7", "2h00m", "3h00m", "50%", "(3", "of", "6)", "3h00m", "2"},
			{"dev:", "gate", "validated", "1,", "rejected", "1", "(vulnerable", "1)"},
			{"prod:", "failing", "since", "2026-11-02", "08:00:00", "UTC", "(no", "DEPLOYED", "since)"},
		} {
			if !hasLine(lines, want) {
				t.Errorf("no line %q in:\n%s", strings.Join(want, " "), stdout)
			}
		}
		if strings.Contains(stdout, "img-e8") || strings.Contains(stdout, "img-old") {
			t.Errorf("the timeline shows an outcome after the period or one without an environment:\n%s", stdout)
		}
	})
}

func hasLine(lines []string, fields []string) bool {
	for _, l := range lines {
		if reflect.DeepEqual(strings.Fields(l), fields) {
			return true
		}
	}
	return false
}

func js(v any) string { b, _ := json.Marshal(v); return string(b) }

// sameReport compares reports as JSON, with per-day figures to 1e-9.
func sameReport(a, b jsonReport) bool {
	if d := a.DeploymentsPerDay - b.DeploymentsPerDay; d > 1e-9 || d < -1e-9 {
		return false
	}
	if d := a.DeploymentsPerWeek - b.DeploymentsPerWeek; d > 1e-9 || d < -1e-9 {
		return false
	}
	a.DeploymentsPerDay, a.DeploymentsPerWeek = b.DeploymentsPerDay, b.DeploymentsPerWeek
	return js(a) == js(b)
}

// TestLargeHistoryIsReadByQueriesOnly: outcomes in three environments come
// back complete, page after page (eight pages each), and the command calls
// Query (and GetParameter) only: never Scan. What is large is the number of
// pages, not of outcomes: moto takes milliseconds an item.
func TestLargeHistoryIsReadByQueriesOnly(t *testing.T) {
	db := dynamodb.NewFromConfig(localConfig(t, nil))
	const service, table = "billing", "cicd-billing-history"
	createTable(t, db, table)
	envs := []string{"dev", "staging", "prod"}
	const perEnv, before, pageSize = 120, 20, 16
	var all []delivery.Record
	want := map[string]bool{}
	deployed := map[string]int{}
	for _, env := range envs {
		for i := range perEnv + before {
			// Some before the period, the rest spread over it; every tenth a failure.
			hours := float64(i-before)*(719.0/perEnv) + 0.5
			status := delivery.StatusDeployed
			if i%10 == 9 {
				status = delivery.StatusDeployFailed
			}
			r := rec(fmt.Sprintf("%s-%04d", env, i), env, hours, status, 1)
			r.Pipeline = service
			all = append(all, r)
			if hours >= 0 {
				want[env+"/"+r.DeploymentID] = true
				if status == delivery.StatusDeployed {
					deployed[env]++
				}
			}
		}
	}
	batchAppend(t, db, table, all)
	_, err := ssm.NewFromConfig(localConfig(t, nil)).PutParameter(context.Background(), &ssm.PutParameterInput{
		Name: aws.String(EnvironmentsParameter(service)), Value: aws.String("dev,staging,prod"), Type: ssmtypes.ParameterTypeString,
	})
	if err != nil {
		t.Fatal(err)
	}

	ops := &operations{}
	code, stdout, stderr := runCommand(t, ops, pageSize, "-service", service, "-json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc jsonHistory
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(doc.Environments, envs) {
		t.Errorf("environments %v, want the SSM parameter's %v in its order", doc.Environments, envs)
	}
	got := map[string]bool{}
	for i, o := range doc.Timeline {
		key := o.Environment + "/" + o.DeploymentID
		if got[key] {
			t.Errorf("%s read twice", key)
		}
		got[key] = true
		if i > 0 && o.Time < doc.Timeline[i-1].Time {
			t.Errorf("timeline out of order at %d: %s after %s", i, o.Time, doc.Timeline[i-1].Time)
		}
	}
	if len(got) != len(want) || !reflect.DeepEqual(got, want) {
		t.Errorf("read %d outcomes of the period, want %d", len(got), len(want))
	}
	for i, m := range doc.Metrics {
		if m.Environment != envs[i] || m.Deployments != deployed[envs[i]] {
			t.Errorf("metrics %d: %s with %d deployments, want %s with %d", i, m.Environment, m.Deployments, envs[i], deployed[envs[i]])
		}
	}

	calls := ops.count()
	var names []string
	for op := range calls {
		names = append(names, op)
	}
	sort.Strings(names)
	t.Logf("calls: %v", calls)
	if !reflect.DeepEqual(names, []string{"DynamoDB:Query", "SSM:GetParameter"}) {
		t.Errorf("operations %v, want Query and GetParameter only (never a Scan)", names)
	}
	if calls["DynamoDB:Query"] < len(envs)*perEnv/pageSize {
		t.Errorf("%d queries for %d outcomes in pages of %d: the history was not paginated", calls["DynamoDB:Query"], len(want), pageSize)
	}
}

// TestCountingQuerierSeesEveryCall: the command's only table port is
// Query; this fake counts what goes through it and fails any other use.
func TestCountingQuerierSeesEveryCall(t *testing.T) {
	q := &countingQuerier{}
	h, err := read(context.Background(), q, "t", []string{"dev", "prod"}, from(), now, 10)
	if err != nil {
		t.Fatal(err)
	}
	// Per environment: one page of the period, one of the streak before it.
	if q.calls != 4 || len(h.Reports) != 2 {
		t.Errorf("%d queries, %d reports; want 4 and 2", q.calls, len(h.Reports))
	}
	for _, in := range q.inputs {
		if aws.ToString(in.IndexName) != delivery.EnvironmentIndex {
			t.Errorf("query without the environment index: %+v", in)
		}
	}
}

type countingQuerier struct {
	calls  int
	inputs []*dynamodb.QueryInput
}

func (c *countingQuerier) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.calls++
	c.inputs = append(c.inputs, in)
	return &dynamodb.QueryOutput{}, nil
}

func TestErrorsAreOneClearLine(t *testing.T) {
	db := dynamodb.NewFromConfig(localConfig(t, nil))
	_, err := db.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:   aws.String("cicd-pipeline-state-old"),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("deploymentId"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("timestamp"), AttributeType: ddbtypes.ScalarAttributeTypeN},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String("deploymentId"), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String("timestamp"), KeyType: ddbtypes.KeyTypeRange},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-table", "nope", "-env", "dev"}, "history: table nope not found: check -service, -suffix or -table, and the region"},
		{[]string{"-suffix", "old"}, "history: table cicd-pipeline-state-old has no environment-timestamp index yet: deploy the pipeline's stack of this version first"},
		{[]string{"-service", "nobody"}, "history: no -env given, and SSM parameter /cicd/nobody/environments does not exist: pass -env"},
	}
	for _, tc := range tests {
		code, stdout, stderr := runCommand(t, nil, 0, tc.args...)
		if code != exitError || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 1, nothing, one line beginning %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
}

func TestHuman(t *testing.T) {
	tests := map[time.Duration]string{
		42 * time.Second: "42s", 12*time.Minute + 20*time.Second: "12m", 3*time.Hour + 12*time.Minute: "3h12m",
		50 * time.Hour: "2d2h", 720 * time.Hour: "30d0h",
	}
	for d, want := range tests {
		if got := human(d); got != want {
			t.Errorf("human(%s) = %s, want %s", d, got, want)
		}
	}
}
