package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"cicd/internal/delivery"
	"cicd/internal/dora"
)

// history is what the command prints: the period's outcomes of the
// environments, oldest first, and each environment's report.
type history struct {
	Table        string
	Environments []string
	Period       dora.Period
	Timeline     []delivery.Record
	Reports      []dora.Report
}

// read queries each environment's outcomes of [from, to) from the
// environment index, and the run of failures that leads up to from (so a
// restore early in the period is timed from its first failure).
func read(ctx context.Context, q delivery.Querier, table string, envs []string, from, to time.Time, pageSize int32) (history, error) {
	h := history{Table: table, Environments: envs, Period: dora.Period{From: from, To: to}}
	for _, env := range envs {
		var recs []delivery.Record
		err := delivery.Range(ctx, q, table, env, from.UnixMilli(), to.UnixMilli(), pageSize, func(r delivery.Record) error {
			recs = append(recs, r)
			return nil
		})
		if err != nil {
			return h, explain(err, table)
		}
		before, err := delivery.StreakBefore(ctx, q, table, env, from.UnixMilli())
		if err != nil {
			return h, explain(err, table)
		}
		h.Timeline = append(h.Timeline, recs...)
		h.Reports = append(h.Reports, dora.Compute(env, before, recs, h.Period))
	}
	// One timeline across the environments, in time order.
	sort.SliceStable(h.Timeline, func(i, j int) bool {
		a, b := h.Timeline[i], h.Timeline[j]
		if a.Timestamp != b.Timestamp {
			return a.Timestamp < b.Timestamp
		}
		return a.DeploymentID < b.DeploymentID
	})
	return h, nil
}

// explain turns the errors people meet into what to do about them.
func explain(err error, table string) error {
	var missing *ddbtypes.ResourceNotFoundException
	var api smithy.APIError
	switch {
	// DynamoDB answers a missing index with a ValidationException ("The
	// table does not have the specified index"), moto with a
	// ResourceNotFoundException ("Invalid index"): both name the index.
	case errors.As(err, &api) && strings.Contains(strings.ToLower(api.ErrorMessage()), "index"):
		return fmt.Errorf("table %s has no %s index yet: deploy the pipeline's stack of this version first (%s)",
			table, delivery.EnvironmentIndex, api.ErrorMessage())
	case errors.As(err, &missing):
		return fmt.Errorf("table %s not found: check -service, -suffix or -table, and the region (-region, AWS_REGION)", table)
	}
	return err
}
