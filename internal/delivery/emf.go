package delivery

import (
	"encoding/json"
	"io"
)

// Streak is what an environment's earlier verify verdicts say when a new
// one comes: how many DEPLOY_FAILED in a row lead up to it, and since when.
// The zero value is "not known".
type Streak struct {
	// Known is false when the earlier verdicts could not be read; the
	// figures that need them (consecutive failures after a failure, time to
	// restore) are then left out rather than guessed.
	Known bool
	// Failures is the number of DEPLOY_FAILED verdicts since the last
	// DEPLOYED (or since the first verdict of the environment).
	Failures int
	// Since is the epoch milliseconds of the first of them; 0 when there are
	// none.
	Since int64
}

// Datum is one metric value of an outcome.
type Datum struct {
	Name  string
	Unit  string
	Value float64
}

// Data returns the metric values one outcome yields, in a fixed order; prev
// matters only for verify verdicts. Every status yields at least one value.
func Data(rec Record, prev Streak) []Datum {
	count := func(name string, v float64) Datum { return Datum{Name: name, Unit: UnitCount, Value: v} }
	seconds := func(name string, ms int64) Datum {
		return Datum{Name: name, Unit: UnitSeconds, Value: float64(ms) / 1000}
	}
	var out []Datum
	switch rec.Status {
	case StatusDeployed:
		out = append(out, count(MetricDeployments, 1), count(MetricFailedDeployments, 0),
			count(MetricConsecutiveFailedDeployments, 0))
		if rec.CommitTime > 0 && rec.Timestamp >= rec.CommitTime {
			out = append(out, seconds(MetricLeadTime, rec.Timestamp-rec.CommitTime))
		}
		if prev.Known && prev.Failures > 0 && prev.Since > 0 && rec.Timestamp >= prev.Since {
			out = append(out, seconds(MetricTimeToRestore, rec.Timestamp-prev.Since))
		}
	case StatusDeployFailed:
		out = append(out, count(MetricDeployments, 0), count(MetricFailedDeployments, 1))
		if prev.Known {
			out = append(out, count(MetricConsecutiveFailedDeployments, float64(prev.Failures+1)))
		}
	case StatusValidated:
		out = append(out, count(MetricGateValidations, 1))
	case StatusRejected:
		out = append(out, count(MetricGateRejections, 1))
	case StatusError:
		out = append(out, count(MetricValidatorErrors, 1))
	}
	return out
}

// EMF is the embedded-metric-format log line of one outcome (a JSON object,
// no newline): written to the Lambda's stdout, it becomes the metrics of
// Data in Namespace, with the dimensions Pipeline and Environment (and
// Reason for a gate rejection), at the outcome's time. The line also
// carries the outcome's status, mode, execution and image, for Logs
// Insights. It is nil for a status the contract does not know.
func EMF(rec Record, prev Streak) []byte {
	data := Data(rec, prev)
	if len(data) == 0 {
		return nil
	}
	root := map[string]any{
		DimPipeline:    orUnknown(rec.Pipeline),
		DimEnvironment: orUnknown(rec.Environment),
		"status":       string(rec.Status),
		"mode":         string(rec.Mode),
		"deploymentId": rec.DeploymentID,
		"imageTag":     rec.ImageTag,
	}
	dims := []string{DimPipeline, DimEnvironment}
	if rec.Status == StatusRejected {
		root[DimReason] = string(ClassifyRejection(rec.Reason))
		dims = append(dims, DimReason)
	}
	defs := make([]emfMetric, 0, len(data))
	for _, d := range data {
		defs = append(defs, emfMetric{Name: d.Name, Unit: d.Unit})
		root[d.Name] = d.Value
	}
	root["_aws"] = emfMetadata{
		Timestamp: rec.Timestamp,
		CloudWatchMetrics: []emfDirective{{
			Namespace:  Namespace,
			Dimensions: [][]string{dims},
			Metrics:    defs,
		}},
	}
	line, err := json.Marshal(root) // map keys sorted: the same outcome gives the same line
	if err != nil {
		return nil // only strings and finite numbers above: cannot happen
	}
	return line
}

// WriteEMF writes the outcome's EMF line and a newline to w in one write.
func WriteEMF(w io.Writer, rec Record, prev Streak) error {
	line := EMF(rec, prev)
	if line == nil {
		return nil
	}
	_, err := w.Write(append(line, '\n'))
	return err
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// The EMF specification's metadata: _aws.CloudWatchMetrics directives name
// the namespace, the dimension sets (names of root members) and the metrics
// (names of root members holding the values).
type emfMetadata struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}
