package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"cicd/internal/delivery"
	"cicd/internal/dora"
)

const timeLayout = "2006-01-02 15:04:05"

// maxReason keeps a timeline line readable; -json has the whole reason.
const maxReason = 100

func writeText(w io.Writer, h history) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := h.Period
	fmt.Fprintf(tw, "Deployment history of %s (%s), %s to %s UTC (%s)\n\n", h.Table, strings.Join(h.Environments, ", "),
		p.From.UTC().Format(timeLayout), p.To.UTC().Format(timeLayout), span(p.To.Sub(p.From)))
	if len(h.Timeline) == 0 {
		fmt.Fprintln(tw, "No outcome recorded in this period.")
	} else {
		fmt.Fprintln(tw, "TIME (UTC)\tENVIRONMENT\tIMAGE\tSTATUS\tREASON")
		for _, r := range h.Timeline {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Time().Format(timeLayout), r.Environment, image(r), r.Status, clip(r.Reason))
		}
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "ENVIRONMENT\tDEPLOYMENTS\tPER WEEK\tLEAD TIME P50\tLEAD TIME P90\tCHANGE FAILURE RATE\tTIME TO RESTORE P50\tRESTORES")
	for _, r := range h.Reports {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%s\t%s\t%s\t%s\t%d\n", r.Environment, r.Deployments, r.PerWeek,
			durationOr(r.LeadTime.Count, r.LeadTime.P50), durationOr(r.LeadTime.Count, r.LeadTime.P90),
			rate(r.ChangeFailure), durationOr(r.TimeToRestore.Count, r.TimeToRestore.P50), r.TimeToRestore.Count)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// What the table does not show: open failures, the gate, errors.
	for _, r := range h.Reports {
		var notes []string
		if !r.FailingSince.IsZero() {
			notes = append(notes, "failing since "+r.FailingSince.Format(timeLayout)+" UTC (no DEPLOYED since)")
		}
		if r.GateValidations > 0 || len(r.GateRejections) > 0 {
			var total int
			var by []string
			for _, c := range r.GateRejections {
				total += c.Count
				by = append(by, fmt.Sprintf("%s %d", c.Reason, c.Count))
			}
			gate := fmt.Sprintf("gate validated %d, rejected %d", r.GateValidations, total)
			if len(by) > 0 {
				gate += " (" + strings.Join(by, ", ") + ")"
			}
			notes = append(notes, gate)
		}
		if r.ValidatorErrors > 0 {
			notes = append(notes, fmt.Sprintf("validator errors %d", r.ValidatorErrors))
		}
		if len(notes) > 0 {
			if _, err := fmt.Fprintf(w, "%s: %s\n", r.Environment, strings.Join(notes, "; ")); err != nil {
				return err
			}
		}
	}
	return nil
}

func image(r delivery.Record) string {
	switch {
	case r.ImageTag != "":
		return r.ImageTag
	case len(r.ImageDigest) > 19:
		return r.ImageDigest[:19] // sha256: and 12 hex digits
	case r.ImageDigest != "":
		return r.ImageDigest
	}
	return "-"
}

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ") // one line
	if utf8.RuneCountInString(s) <= maxReason {
		return s
	}
	return string([]rune(s)[:maxReason-1]) + "…"
}

func rate(r dora.Rate) string {
	v, ok := r.Value()
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.0f%% (%d of %d)", 100*v, r.Failed, r.Attempted)
}

func durationOr(count int, d time.Duration) string {
	if count == 0 {
		return "-"
	}
	return human(d)
}

// span writes the period's length: in days when it is whole days.
func span(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		if d == 24*time.Hour {
			return "1 day"
		}
		return fmt.Sprintf("%d days", int(d.Hours())/24)
	}
	return human(d)
}

// human writes a duration in its two largest units: 45s, 12m, 3h12m, 2d4h.
func human(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// The JSON document: times in RFC 3339 UTC, durations in seconds, figures
// that are undefined (no sample) null.
type jsonHistory struct {
	Table        string        `json:"table"`
	Environments []string      `json:"environments"`
	From         string        `json:"from"`
	To           string        `json:"to"`
	Timeline     []jsonOutcome `json:"timeline"`
	Metrics      []jsonReport  `json:"metrics"`
}

type jsonOutcome struct {
	Time         string           `json:"time"`
	Environment  string           `json:"environment"`
	Image        string           `json:"image"`
	ImageDigest  string           `json:"imageDigest,omitempty"`
	Status       string           `json:"status"`
	Mode         string           `json:"mode"`
	Reason       string           `json:"reason"`
	DeploymentID string           `json:"deploymentId"`
	CommitTime   string           `json:"commitTime,omitempty"`
	Findings     map[string]int32 `json:"findings,omitempty"`
}

type jsonReport struct {
	Environment        string         `json:"environment"`
	Deployments        int            `json:"deployments"`
	DeploymentsPerDay  float64        `json:"deploymentsPerDay"`
	DeploymentsPerWeek float64        `json:"deploymentsPerWeek"`
	LeadTime           jsonDurations  `json:"leadTime"`
	ChangeFailureRate  jsonRate       `json:"changeFailureRate"`
	TimeToRestore      jsonDurations  `json:"timeToRestore"`
	FailingSince       *string        `json:"failingSince"`
	GateValidations    int            `json:"gateValidations"`
	GateRejections     map[string]int `json:"gateRejections"`
	ValidatorErrors    int            `json:"validatorErrors"`
}

type jsonDurations struct {
	Count      int      `json:"count"`
	P50Seconds *float64 `json:"p50Seconds"`
	P90Seconds *float64 `json:"p90Seconds"`
	MaxSeconds *float64 `json:"maxSeconds"`
}

type jsonRate struct {
	Failed    int      `json:"failed"`
	Attempted int      `json:"attempted"`
	Rate      *float64 `json:"rate"`
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func seconds(count int, d time.Duration) *float64 {
	if count == 0 {
		return nil
	}
	s := d.Seconds()
	return &s
}

func writeJSON(w io.Writer, h history) error {
	doc := jsonHistory{
		Table: h.Table, Environments: h.Environments,
		From: rfc3339(h.Period.From), To: rfc3339(h.Period.To),
		Timeline: []jsonOutcome{}, Metrics: []jsonReport{},
	}
	for _, r := range h.Timeline {
		o := jsonOutcome{
			Time: rfc3339(r.Time()), Environment: r.Environment, Image: r.ImageTag, ImageDigest: r.ImageDigest,
			Status: string(r.Status), Mode: string(r.Mode), Reason: r.Reason, DeploymentID: r.DeploymentID,
			Findings: r.Findings,
		}
		if r.CommitTime > 0 {
			o.CommitTime = rfc3339(time.UnixMilli(r.CommitTime))
		}
		if len(o.Findings) == 0 {
			o.Findings = nil
		}
		doc.Timeline = append(doc.Timeline, o)
	}
	for _, r := range h.Reports {
		j := jsonReport{
			Environment: r.Environment, Deployments: r.Deployments,
			DeploymentsPerDay: r.PerDay, DeploymentsPerWeek: r.PerWeek,
			LeadTime: jsonDurations{Count: r.LeadTime.Count, P50Seconds: seconds(r.LeadTime.Count, r.LeadTime.P50),
				P90Seconds: seconds(r.LeadTime.Count, r.LeadTime.P90), MaxSeconds: seconds(r.LeadTime.Count, r.LeadTime.Max)},
			ChangeFailureRate: jsonRate{Failed: r.ChangeFailure.Failed, Attempted: r.ChangeFailure.Attempted},
			TimeToRestore: jsonDurations{Count: r.TimeToRestore.Count, P50Seconds: seconds(r.TimeToRestore.Count, r.TimeToRestore.P50),
				P90Seconds: seconds(r.TimeToRestore.Count, r.TimeToRestore.P90), MaxSeconds: seconds(r.TimeToRestore.Count, r.TimeToRestore.Max)},
			GateValidations: r.GateValidations, GateRejections: map[string]int{}, ValidatorErrors: r.ValidatorErrors,
		}
		if v, ok := r.ChangeFailure.Value(); ok {
			j.ChangeFailureRate.Rate = &v
		}
		if !r.FailingSince.IsZero() {
			s := rfc3339(r.FailingSince)
			j.FailingSince = &s
		}
		for _, c := range r.GateRejections {
			j.GateRejections[string(c.Reason)] = c.Count
		}
		doc.Metrics = append(doc.Metrics, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
