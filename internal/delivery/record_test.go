package delivery

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func typeName(v any) string { return fmt.Sprintf("%T", v) }

func TestRecordRoundTrip(t *testing.T) {
	tests := []Record{
		{
			DeploymentID: "e1", Timestamp: 1_700_000_000_123, Status: StatusDeployed, Mode: ModeVerify,
			ImageTag: "abc", ImageDigest: "sha256:0f", Findings: map[string]int32{"HIGH": 2, "LOW": 7},
			JobID: "j1", Reason: "runs it", Environment: "prod", Pipeline: "orders",
			CommitTime: 1_699_999_000_000, Account: "333333333333", Region: "us-east-1",
		},
		// An item recorded before environment, pipeline and commitTime existed.
		{DeploymentID: "e0", Timestamp: 5, Status: StatusRejected, Mode: ModeGate, Findings: map[string]int32{}},
	}
	for _, rec := range tests {
		got, err := ParseRecord(rec.Item())
		if err != nil {
			t.Fatalf("%s: %v", rec.DeploymentID, err)
		}
		if !reflect.DeepEqual(got, rec) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, rec)
		}
	}
}

func TestItemLeavesOutUnknownOptionalAttributes(t *testing.T) {
	item := Record{DeploymentID: "e", Timestamp: 1, Status: StatusError, Mode: ModeGate}.Item()
	for _, name := range []string{AttrEnvironment, AttrPipeline, AttrCommitTime, AttrAccount, AttrRegion} {
		if _, ok := item[name]; ok {
			t.Errorf("%s written while unknown; an empty environment is not even a valid index key", name)
		}
	}
}

func TestParseRecordRefusesBadItems(t *testing.T) {
	good := Record{DeploymentID: "e", Timestamp: 1, Status: StatusDeployed, Environment: "dev"}.Item()
	with := func(name string, v ddbtypes.AttributeValue) map[string]ddbtypes.AttributeValue {
		item := map[string]ddbtypes.AttributeValue{}
		for k, x := range good {
			item[k] = x
		}
		if v == nil {
			delete(item, name)
		} else {
			item[name] = v
		}
		return item
	}
	tests := []struct {
		item map[string]ddbtypes.AttributeValue
		want string
	}{
		{with(AttrStatus, nil), "status is missing"},
		{with(AttrTimestamp, &ddbtypes.AttributeValueMemberS{Value: "1"}), "timestamp is not a number"},
		{with(AttrCommitTime, &ddbtypes.AttributeValueMemberN{Value: "1.5"}), `commitTime "1.5" is not a whole number`},
		{with(AttrEnvironment, &ddbtypes.AttributeValueMemberN{Value: "1"}), "environment is not a string"},
		{with(AttrFindings, &ddbtypes.AttributeValueMemberS{Value: "x"}), "findings is not a map"},
		{with(AttrFindings, &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{
			"HIGH": &ddbtypes.AttributeValueMemberS{Value: "1"}}}), "findings HIGH is not a count"},
	}
	for _, tc := range tests {
		_, err := ParseRecord(tc.item)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one saying %q", err, tc.want)
		}
	}
}

// pagedQuerier answers from a list of items already in index order,
// honouring Limit, ExclusiveStartKey and a verify-verdict filter the way
// DynamoDB does: Limit counts the items read, before the filter.
type pagedQuerier struct {
	items []map[string]ddbtypes.AttributeValue
	calls []*dynamodb.QueryInput
	fail  error
}

func (p *pagedQuerier) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	copied := *in
	p.calls = append(p.calls, &copied)
	if p.fail != nil {
		return nil, p.fail
	}
	start := 0
	if in.ExclusiveStartKey != nil {
		start, _ = strconv.Atoi(in.ExclusiveStartKey["i"].(*ddbtypes.AttributeValueMemberN).Value)
	}
	limit := len(p.items)
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	out := &dynamodb.QueryOutput{}
	end := min(start+limit, len(p.items))
	for _, item := range p.items[start:end] {
		if in.FilterExpression != nil && (attr(item, AttrMode) != string(ModeVerify) ||
			(attr(item, AttrStatus) != string(StatusDeployed) && attr(item, AttrStatus) != string(StatusDeployFailed))) {
			continue
		}
		out.Items = append(out.Items, item)
	}
	if end < len(p.items) {
		out.LastEvaluatedKey = map[string]ddbtypes.AttributeValue{"i": &ddbtypes.AttributeValueMemberN{Value: strconv.Itoa(end)}}
	}
	return out, nil
}

func attr(item map[string]ddbtypes.AttributeValue, name string) string {
	if v, ok := item[name].(*ddbtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// newestFirst builds the index's answer for StreakBefore from verdicts
// given newest first, as "D@ts" (DEPLOYED), "F@ts" (DEPLOY_FAILED),
// "E@ts" (verify ERROR) and "G@ts" (a gate item).
func newestFirst(t *testing.T, spec string) []map[string]ddbtypes.AttributeValue {
	t.Helper()
	var items []map[string]ddbtypes.AttributeValue
	for _, f := range strings.Fields(spec) {
		kind, ts, _ := strings.Cut(f, "@")
		at, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		rec := Record{DeploymentID: "e" + ts, Timestamp: at, Environment: "prod", Mode: ModeVerify}
		switch kind {
		case "D":
			rec.Status = StatusDeployed
		case "F":
			rec.Status = StatusDeployFailed
		case "E":
			rec.Status = StatusError
		case "G":
			rec.Status, rec.Mode = StatusValidated, ModeGate
		}
		items = append(items, rec.Item())
	}
	return items
}

func TestStreakBefore(t *testing.T) {
	many := strings.Repeat("F@900 ", streakPageSize*streakMaxPages+1)
	tests := []struct {
		name  string
		index string // newest first
		want  Streak
		pages int
	}{
		{"no verdicts yet", "", Streak{Known: true}, 1},
		{"last verdict deployed", "D@100 F@90", Streak{Known: true}, 1},
		{"two failures after a deploy", "F@300 F@200 D@100", Streak{Known: true, Failures: 2, Since: 200}, 1},
		{"errors and gate items do not break the run", "F@300 E@250 G@240 F@200 D@100", Streak{Known: true, Failures: 2, Since: 200}, 1},
		{"failures since the first verdict", "F@300 F@200", Streak{Known: true, Failures: 2, Since: 200}, 1},
		{"a run longer than a page", strings.Repeat("F@500 ", streakPageSize+10) + "F@400 D@100",
			Streak{Known: true, Failures: streakPageSize + 11, Since: 400}, 2},
		{"a run longer than the bound is not guessed", many, Streak{}, streakMaxPages},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := &pagedQuerier{items: newestFirst(t, tc.index)}
			got, err := StreakBefore(context.Background(), q, "state", "prod", 1000)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("streak %+v, want %+v", got, tc.want)
			}
			if len(q.calls) != tc.pages {
				t.Errorf("%d queries, want %d", len(q.calls), tc.pages)
			}
			in := q.calls[0]
			if aws.ToString(in.IndexName) != EnvironmentIndex || aws.ToBool(in.ScanIndexForward) ||
				aws.ToString(in.KeyConditionExpression) != "#env = :env AND #ts < :before" ||
				in.ExpressionAttributeValues[":before"].(*ddbtypes.AttributeValueMemberN).Value != "1000" ||
				in.ExpressionAttributeValues[":env"].(*ddbtypes.AttributeValueMemberS).Value != "prod" {
				t.Errorf("query %+v: want the index, newest first, the environment, before the outcome", in)
			}
		})
	}
}

func TestStreakBeforeReportsQueryErrors(t *testing.T) {
	boom := errors.New("AccessDeniedException")
	_, err := StreakBefore(context.Background(), &pagedQuerier{fail: boom}, "state", "prod", 1)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), EnvironmentIndex) {
		t.Errorf("error %v, want the query's, naming the index", err)
	}
}

func TestRangeReadsEveryPageInOrder(t *testing.T) {
	var items []map[string]ddbtypes.AttributeValue
	for i := range 25 {
		items = append(items, Record{DeploymentID: fmt.Sprint(i), Timestamp: int64(100 + i), Status: StatusDeployed, Environment: "dev"}.Item())
	}
	q := &pagedQuerier{items: items}
	var got []int64
	err := Range(context.Background(), q, "state", "dev", 100, 200, 10, func(r Record) error {
		got = append(got, r.Timestamp)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 25 || got[0] != 100 || got[24] != 124 || len(q.calls) != 3 {
		t.Errorf("read %v in %d queries, want 25 items in 3 pages", got, len(q.calls))
	}
	in := q.calls[0]
	if aws.ToString(in.IndexName) != EnvironmentIndex || !aws.ToBool(in.ScanIndexForward) || aws.ToInt32(in.Limit) != 10 ||
		in.ExpressionAttributeValues[":last"].(*ddbtypes.AttributeValueMemberN).Value != "199" {
		t.Errorf("query %+v: want the index, oldest first, pages of 10, up to 199", in)
	}

	stop := errors.New("stop")
	if err := Range(context.Background(), q, "state", "dev", 100, 200, 10, func(Record) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("error %v, want the callback's", err)
	}
	q.calls = nil
	if err := Range(context.Background(), q, "state", "dev", 200, 200, 0, nil); err != nil || len(q.calls) != 0 {
		t.Errorf("empty period: %v after %d queries, want no query", err, len(q.calls))
	}
}
