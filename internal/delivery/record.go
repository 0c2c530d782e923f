package delivery

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Record is one outcome: one item of the state table.
type Record struct {
	DeploymentID string // the pipeline execution id (partition key)
	Timestamp    int64  // epoch milliseconds (sort key)
	Status       Status
	Mode         Mode
	ImageTag     string
	ImageDigest  string
	Findings     map[string]int32
	JobID        string
	Reason       string
	Environment  string // empty only in items recorded before the attribute existed
	Pipeline     string
	CommitTime   int64 // epoch milliseconds; 0 when unknown
	Account      string
	Region       string
}

// Time is the record's timestamp as a time.
func (r Record) Time() time.Time { return time.UnixMilli(r.Timestamp).UTC() }

// Item is the record as the validator writes it. Optional attributes that
// are empty are left out: DynamoDB refuses an empty string in an index key,
// and "unknown" is better said by absence.
func (r Record) Item() map[string]ddbtypes.AttributeValue {
	s := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	n := func(v int64) ddbtypes.AttributeValue {
		return &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
	}
	findings := make(map[string]ddbtypes.AttributeValue, len(r.Findings))
	for sev, c := range r.Findings {
		findings[sev] = n(int64(c))
	}
	item := map[string]ddbtypes.AttributeValue{
		AttrDeploymentID: s(r.DeploymentID),
		AttrTimestamp:    n(r.Timestamp),
		AttrStatus:       s(string(r.Status)),
		AttrMode:         s(string(r.Mode)),
		AttrImageTag:     s(r.ImageTag),
		AttrImageDigest:  s(r.ImageDigest),
		AttrFindings:     &ddbtypes.AttributeValueMemberM{Value: findings},
		AttrJobID:        s(r.JobID),
		AttrReason:       s(r.Reason),
	}
	for name, v := range map[string]string{
		AttrEnvironment: r.Environment, AttrPipeline: r.Pipeline, AttrAccount: r.Account, AttrRegion: r.Region,
	} {
		if v != "" {
			item[name] = s(v)
		}
	}
	if r.CommitTime > 0 {
		item[AttrCommitTime] = n(r.CommitTime)
	}
	return item
}

// ParseRecord reads an item. The key and the status are required; every
// other attribute may be missing (older items have fewer), but one that is
// present with the wrong type is an error.
func ParseRecord(item map[string]ddbtypes.AttributeValue) (Record, error) {
	var r Record
	var problems []string
	str := func(name string, dst *string, required bool) {
		switch v := item[name].(type) {
		case *ddbtypes.AttributeValueMemberS:
			*dst = v.Value
		case nil:
			if required {
				problems = append(problems, name+" is missing")
			}
		default:
			problems = append(problems, name+" is not a string")
		}
	}
	num := func(name string, dst *int64, required bool) {
		switch v := item[name].(type) {
		case *ddbtypes.AttributeValueMemberN:
			x, err := strconv.ParseInt(v.Value, 10, 64)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s %q is not a whole number", name, v.Value))
			}
			*dst = x
		case nil:
			if required {
				problems = append(problems, name+" is missing")
			}
		default:
			problems = append(problems, name+" is not a number")
		}
	}
	var status, mode string
	str(AttrDeploymentID, &r.DeploymentID, true)
	num(AttrTimestamp, &r.Timestamp, true)
	str(AttrStatus, &status, true)
	str(AttrMode, &mode, false)
	str(AttrImageTag, &r.ImageTag, false)
	str(AttrImageDigest, &r.ImageDigest, false)
	str(AttrJobID, &r.JobID, false)
	str(AttrReason, &r.Reason, false)
	str(AttrEnvironment, &r.Environment, false)
	str(AttrPipeline, &r.Pipeline, false)
	num(AttrCommitTime, &r.CommitTime, false)
	str(AttrAccount, &r.Account, false)
	str(AttrRegion, &r.Region, false)
	r.Status, r.Mode = Status(status), Mode(mode)
	switch v := item[AttrFindings].(type) {
	case *ddbtypes.AttributeValueMemberM:
		r.Findings = make(map[string]int32, len(v.Value))
		sevs := make([]string, 0, len(v.Value))
		for sev := range v.Value {
			sevs = append(sevs, sev)
		}
		sort.Strings(sevs) // the first bad one is the one reported, every time
		for _, sev := range sevs {
			c, ok := v.Value[sev].(*ddbtypes.AttributeValueMemberN)
			x, err := strconv.ParseInt(valueOf(c, ok), 10, 32)
			if !ok || err != nil {
				problems = append(problems, fmt.Sprintf("findings %s is not a count", sev))
				continue
			}
			r.Findings[sev] = int32(x)
		}
	case nil:
	default:
		problems = append(problems, "findings is not a map")
	}
	if len(problems) > 0 {
		return r, fmt.Errorf("item %s at %d: %s", r.DeploymentID, r.Timestamp, strings.Join(problems, "; "))
	}
	return r, nil
}

func valueOf(n *ddbtypes.AttributeValueMemberN, ok bool) string {
	if !ok {
		return ""
	}
	return n.Value
}
