package delivery

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Querier is dynamodb:Query, the one operation this package calls: on the
// environment index only, never a scan. The SDK client satisfies it.
type Querier interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

var _ Querier = (*dynamodb.Client)(nil)

// Range reads the outcomes of one environment with from <= timestamp < to
// (epoch milliseconds), oldest first, one page after another. pageSize
// bounds the items per page (0: DynamoDB's 1 MB pages). fn sees every
// record; an error from it, from a query, or an item that cannot be read
// stops the reading.
func Range(ctx context.Context, q Querier, table, environment string, from, to int64, pageSize int32, fn func(Record) error) error {
	if to <= from {
		return nil // an empty period (and BETWEEN refuses bounds in the wrong order)
	}
	in := &dynamodb.QueryInput{
		TableName:                aws.String(table),
		IndexName:                aws.String(EnvironmentIndex),
		KeyConditionExpression:   aws.String("#env = :env AND #ts BETWEEN :from AND :last"),
		ExpressionAttributeNames: map[string]string{"#env": AttrEnvironment, "#ts": AttrTimestamp},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":env":  &ddbtypes.AttributeValueMemberS{Value: environment},
			":from": number(from),
			":last": number(to - 1),
		},
		ScanIndexForward: aws.Bool(true),
	}
	if pageSize > 0 {
		in.Limit = aws.Int32(pageSize)
	}
	return pages(ctx, q, in, 0, func(item map[string]ddbtypes.AttributeValue) (bool, error) {
		rec, err := ParseRecord(item)
		if err != nil {
			return false, err
		}
		return true, fn(rec)
	})
}

// streakPageSize and streakMaxPages bound the reading of StreakBefore: a run
// of failures longer than streakPageSize*streakMaxPages items is not
// followed to its start.
const (
	streakPageSize = 50
	streakMaxPages = 20
)

// StreakBefore reads the environment's verify verdicts recorded before the
// epoch milliseconds before, newest first, back to the last DEPLOYED, and
// returns the run of DEPLOY_FAILED verdicts that leads up to that time. It
// reads a page or two in the common case: the validator calls it with the
// new outcome's timestamp (so the new item, already written or not, is
// never counted), and the history command with the start of its period.
//
// The query: index EnvironmentIndex, key condition environment = env AND
// timestamp < before, filter mode = verify AND status IN (DEPLOYED,
// DEPLOY_FAILED), newest first, 50 items a page. The index is eventually
// consistent: a verdict written in the last second may not be seen yet.
func StreakBefore(ctx context.Context, q Querier, table, environment string, before int64) (Streak, error) {
	in := &dynamodb.QueryInput{
		TableName:              aws.String(table),
		IndexName:              aws.String(EnvironmentIndex),
		KeyConditionExpression: aws.String("#env = :env AND #ts < :before"),
		FilterExpression:       aws.String("#mode = :verify AND #status IN (:deployed, :failed)"),
		ProjectionExpression:   aws.String("#ts, #status"),
		ExpressionAttributeNames: map[string]string{
			"#env": AttrEnvironment, "#ts": AttrTimestamp, "#mode": AttrMode, "#status": AttrStatus,
		},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":env":      &ddbtypes.AttributeValueMemberS{Value: environment},
			":before":   number(before),
			":verify":   &ddbtypes.AttributeValueMemberS{Value: string(ModeVerify)},
			":deployed": &ddbtypes.AttributeValueMemberS{Value: string(StatusDeployed)},
			":failed":   &ddbtypes.AttributeValueMemberS{Value: string(StatusDeployFailed)},
		},
		ScanIndexForward: aws.Bool(false),
		Limit:            aws.Int32(streakPageSize),
	}
	s := Streak{Known: true}
	err := pages(ctx, q, in, streakMaxPages, func(item map[string]ddbtypes.AttributeValue) (bool, error) {
		status, _ := item[AttrStatus].(*ddbtypes.AttributeValueMemberS)
		ts, _ := item[AttrTimestamp].(*ddbtypes.AttributeValueMemberN)
		if status == nil || ts == nil {
			return false, fmt.Errorf("item of %s without status or timestamp in index %s", environment, EnvironmentIndex)
		}
		if Status(status.Value) == StatusDeployed {
			return false, nil
		}
		at, err := strconv.ParseInt(ts.Value, 10, 64)
		if err != nil {
			return false, fmt.Errorf("item of %s: timestamp %q is not a whole number", environment, ts.Value)
		}
		s.Failures++
		s.Since = at
		return true, nil
	})
	if errors.Is(err, errTooManyPages) {
		// The run goes back further than the bound: its length and start are
		// not known.
		return Streak{}, nil
	}
	if err != nil {
		return Streak{}, err
	}
	return s, nil
}

// errTooManyPages ends a bounded reading that did not find what it looked for.
var errTooManyPages = errors.New("too many pages")

// pages runs the query page after page, at most maxPages (0: no bound,
// else errTooManyPages past it); each item reports whether to go on.
func pages(ctx context.Context, q Querier, in *dynamodb.QueryInput, maxPages int, each func(map[string]ddbtypes.AttributeValue) (bool, error)) error {
	input := *in
	for page := 0; ; page++ {
		if maxPages > 0 && page == maxPages {
			return errTooManyPages
		}
		out, err := q.Query(ctx, &input)
		if err != nil {
			return fmt.Errorf("query %s on %s: %w", EnvironmentIndex, aws.ToString(in.TableName), err)
		}
		for _, item := range out.Items {
			more, err := each(item)
			if err != nil || !more {
				return err
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		input.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func number(v int64) ddbtypes.AttributeValue {
	return &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}
