package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// collisionRetries is how many later milliseconds Append tries when another
// item already holds (deploymentId, timestamp).
const collisionRetries = 3

// maxReasonLen keeps an item far below DynamoDB's 400 KB limit.
const maxReasonLen = 2000

// Record is one outcome: one item in the state table.
type Record struct {
	DeploymentID string // the pipeline execution id (partition key)
	Timestamp    int64  // epoch milliseconds (sort key)
	Status       Status
	Mode         Mode
	ImageTag     string
	ImageDigest  string
	Findings     map[string]int32
	ScanStatus   string // gate: the ECR scan status the verdict rests on
	JobID        string
	Reason       string
	Notice       string // a pass people are told about (e.g. "passed unscanned")
	Environment  string // the environment checked
	Pipeline     string // the pipeline's service (SERVICE)
	CommitTime   int64  // epoch ms of the commit; 0 when not given
	Account      string // where verify looked, when not the function's own account and region
	Region       string
	DeployedTag  string // verify: the tag that keeps the running image from expiry
}

// History appends records and never overwrites one.
type History struct {
	Put   itemPutter
	Get   itemGetter // fallback when a failed put does not return the item
	Table string
}

// Append writes rec as a new item. It may move rec.Timestamp forward by a few
// milliseconds when another outcome of the same execution holds that key.
func (h *History) Append(ctx context.Context, rec *Record) error {
	for attempt := 0; ; attempt++ {
		written, err := h.put(ctx, rec)
		if err != nil || written {
			return err
		}
		if attempt == collisionRetries {
			return fmt.Errorf("%w: items already hold %s at %d..%d", ErrHistory, rec.DeploymentID, rec.Timestamp-collisionRetries, rec.Timestamp)
		}
		rec.Timestamp++
	}
}

// put reports written=false when another item holds the key.
func (h *History) put(ctx context.Context, rec *Record) (written bool, err error) {
	key := fmt.Sprintf("%s at %d", rec.DeploymentID, rec.Timestamp)
	_, err = h.Put.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(h.Table),
		Item:                                rec.item(),
		ConditionExpression:                 aws.String("attribute_not_exists(deploymentId) AND attribute_not_exists(#ts)"),
		ExpressionAttributeNames:            map[string]string{"#ts": "timestamp"},
		ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *ddbtypes.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		if err != nil {
			return false, fmt.Errorf("%w: put %s: %w", ErrHistory, key, err)
		}
		return true, nil
	}
	// The key is taken. If by our own item (the SDK resent a put that had
	// succeeded), the record is written; if by another outcome, try a later key.
	existing := ccf.Item
	if existing == nil {
		out, gerr := h.Get.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      aws.String(h.Table),
			Key:            rec.key(),
			ConsistentRead: aws.Bool(true),
		})
		if gerr != nil {
			return false, fmt.Errorf("%w: read back %s: %w", ErrHistory, key, gerr)
		}
		existing = out.Item
		if existing == nil {
			// Neither the failed put nor a consistent read shows an item: not
			// something retrying another key explains.
			return false, fmt.Errorf("%w: put %s failed its condition but no item holds the key", ErrHistory, key)
		}
	}
	return sameRecord(existing, rec), nil
}

// sameRecord tells our own item from another outcome's.
func sameRecord(item map[string]ddbtypes.AttributeValue, rec *Record) bool {
	return attrS(item, "jobId") == rec.JobID &&
		attrS(item, "status") == string(rec.Status) &&
		attrN(item, "timestamp") == strconv.FormatInt(rec.Timestamp, 10)
}

func (r *Record) key() map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{
		"deploymentId": &ddbtypes.AttributeValueMemberS{Value: r.DeploymentID},
		"timestamp":    &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(r.Timestamp, 10)},
	}
}

func (r *Record) item() map[string]ddbtypes.AttributeValue {
	findings := make(map[string]ddbtypes.AttributeValue, len(r.Findings))
	for sev, n := range r.Findings {
		findings[sev] = &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(int64(n), 10)}
	}
	item := r.key()
	item["status"] = &ddbtypes.AttributeValueMemberS{Value: string(r.Status)}
	item["mode"] = &ddbtypes.AttributeValueMemberS{Value: string(r.Mode)}
	item["imageTag"] = &ddbtypes.AttributeValueMemberS{Value: r.ImageTag}
	item["imageDigest"] = &ddbtypes.AttributeValueMemberS{Value: r.ImageDigest}
	item["findings"] = &ddbtypes.AttributeValueMemberM{Value: findings}
	item["jobId"] = &ddbtypes.AttributeValueMemberS{Value: r.JobID}
	item["reason"] = &ddbtypes.AttributeValueMemberS{Value: truncate(r.Reason, maxReasonLen)}
	optional := func(name, v string) {
		if v != "" {
			item[name] = &ddbtypes.AttributeValueMemberS{Value: v}
		}
	}
	optional("scanStatus", r.ScanStatus)
	optional("notice", r.Notice)
	optional("environment", r.Environment)
	optional("pipeline", r.Pipeline)
	optional("account", r.Account)
	optional("region", r.Region)
	optional("deployedTag", r.DeployedTag)
	if r.CommitTime != 0 {
		item["commitTime"] = &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(r.CommitTime, 10)}
	}
	return item
}

func attrS(item map[string]ddbtypes.AttributeValue, name string) string {
	if v, ok := item[name].(*ddbtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func attrN(item map[string]ddbtypes.AttributeValue, name string) string {
	if v, ok := item[name].(*ddbtypes.AttributeValueMemberN); ok {
		return v.Value
	}
	return ""
}

// epochMillis is the table's timestamp unit.
func epochMillis(t time.Time) int64 { return t.UnixMilli() }
