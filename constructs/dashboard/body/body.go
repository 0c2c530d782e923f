// Package body renders the body of a pipeline's delivery dashboard: the
// JSON document of its CloudFormation resource (AWS::CloudWatch::Dashboard),
// widgets and layout included. It imports no CDK: the dashboard construct
// passes the tokens it needs (the region, alarm ARNs, rule names) as
// strings, and CDK resolves them when it writes the template.
//
// The body is rendered byte for byte as CDK's CloudWatch constructs
// (Dashboard, GraphWidget, MathExpression, ...) wrote it: the same widgets,
// layout, metric lines and key order, so the templates did not change.
// Building it from those constructs took about a hundred jsii round trips
// a pipeline, one per metric or widget, a sixth of the app's.
package body

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"cicd/internal/delivery"
)

// Props are what the body shows.
type Props struct {
	// Service is the pipeline's service: the Pipeline dimension of the
	// delivery metrics.
	Service string
	// Environments are the pipeline's environments in promotion order; the
	// gate's verdicts are recorded for the first.
	Environments []string
	// Region is the dashboard's region, as its stack has it (a token).
	Region string
	// FailedDeploymentAlarms are the ARNs of the environments' alarms on
	// consecutive failed deployments, in Environments' order;
	// ValidatorErrorsAlarm is that of the alarm on the validator's errors.
	FailedDeploymentAlarms []string
	ValidatorErrorsAlarm   string
	// ConsecutiveFailedDeployments is the environments' alarm threshold,
	// shown in their titles.
	ConsecutiveFailedDeployments int
	// Executions are the EventBridge rules whose match counts are the
	// pipeline's executions, one per outcome.
	Executions []Execution
	// TimeRange is the span the dashboard opens with, whole days.
	TimeRange time.Duration
}

// Execution is a rule that counts the pipeline's executions of one outcome.
type Execution struct {
	// RuleName is the rule's name (a token); Label names the outcome.
	RuleName, Label string
}

// day is the period of most graphs: one point a day.
const day = 24 * time.Hour

// JSON is the dashboard's body: the service's title, the pipeline's
// executions, the gate's verdicts and the validator's errors, the alarms,
// then per environment its four key delivery metrics. Props without an
// environment, or without one alarm per environment, panic with one line.
func JSON(p Props) string {
	if len(p.Environments) == 0 || len(p.FailedDeploymentAlarms) != len(p.Environments) {
		panic(fmt.Sprintf("dashboard body: %d environments and %d failed-deployment alarms, want one alarm per environment and at least one environment",
			len(p.Environments), len(p.FailedDeploymentAlarms)))
	}
	m := metrics{service: p.Service}
	region := p.Region
	var executions []series
	for _, e := range p.Executions {
		executions = append(executions, series{
			Namespace: "AWS/Events", Name: "MatchedEvents", Dims: map[string]string{"RuleName": e.RuleName},
			Stat: "Sum", Period: day, Label: e.Label,
		})
	}
	alarmArns := make([]any, 0, len(p.FailedDeploymentAlarms)+1)
	for _, a := range p.FailedDeploymentAlarms {
		alarmArns = append(alarmArns, a)
	}
	alarmArns = append(alarmArns, p.ValidatorErrorsAlarm)
	rows := [][]widget{
		{text(24, 3, fmt.Sprintf("# Delivery of %s\n"+
			"From the validator's verdicts (metrics in `%s`, dimensions `%s` and `%s`). Graphs show one point a day; "+
			"the first row of each environment covers the whole time range. Lead time and time to restore are in hours. "+
			"The README's \"Delivery metrics\" section gives each formula; `go run ./cmd/history -service %s` prints the same figures from the state table.",
			p.Service, delivery.Namespace, delivery.DimPipeline, delivery.DimEnvironment, p.Service))},
		{
			graph(region, 8, "Pipeline executions by outcome (per day, from CodePipeline's execution events)", executions, nil, true),
			graph(region, 8, fmt.Sprintf("Gate verdicts before %s: images validated, and rejected by reason (per day)", p.Environments[0]),
				m.gate(p.Environments[0]), nil, true),
			graph(region, 8, "Validator errors by environment (per hour)", m.each(p.Environments, delivery.MetricValidatorErrors, "Sum", time.Hour), nil, true),
		},
		{{kind: "alarm", width: 24, height: 2 + (len(p.Environments)+1+3)/4, // four alarms a line
			properties: object{
				{"title", "Alarms: consecutive failed deployments per environment, validator errors"},
				{"alarms", alarmArns},
			}}},
	}
	for i, env := range p.Environments {
		rows = append(rows,
			[]widget{text(24, 1, "## "+env)},
			[]widget{
				{kind: "metric", width: 18, height: 4, properties: object{
					{"view", "singleValue"},
					{"title", env + ": the four key delivery metrics over the dashboard's time range"},
					{"region", region},
					{"metrics", metricsJSON(m.headline(env))},
					{"setPeriodToTimeRange", true},
				}},
				{kind: "metric", width: 6, height: 4, properties: object{
					{"view", "timeSeries"},
					{"title", fmt.Sprintf("%s: consecutive failed deployments (alarm at %d)", env, p.ConsecutiveFailedDeployments)},
					{"region", region},
					{"annotations", object{{"alarms", []any{alarmArns[i]}}}},
					{"yAxis", object{{"left", axis("", 0)}}},
				}},
			},
			[]widget{
				graph(region, 6, env+": deployment frequency (successful deployments per day)",
					[]series{m.series(delivery.MetricDeployments, env, "Sum", day, "deployments")}, nil, false),
				graph(region, 6, env+": lead time for changes, commit to DEPLOYED (hours, p50 and p90 per day)",
					[]series{
						m.hours("lt50", delivery.MetricLeadTime, env, "p50", "lead time p50"),
						m.hours("lt90", delivery.MetricLeadTime, env, "p90", "lead time p90"),
					}, axis("hours", 0), false),
				graph(region, 6, env+": change failure rate (% of deployments that failed, per day)",
					[]series{m.failureRate(env, day)}, axis("%", 100), false),
				graph(region, 6, env+": time to restore, first DEPLOY_FAILED to next DEPLOYED (hours, p50 and max per day)",
					[]series{
						m.hours("ttr50", delivery.MetricTimeToRestore, env, "p50", "time to restore p50"),
						m.hours("ttrmax", delivery.MetricTimeToRestore, env, "Maximum", "time to restore max"),
					}, axis("hours", 0), false),
			},
		)
	}
	return bodyJSON(fmt.Sprintf("-P%dD", int(p.TimeRange.Hours()/24)), rows)
}

// metrics builds the delivery metrics of one service.
type metrics struct {
	service string
}

// series is one delivery metric of env, for a widget.
func (m metrics) series(name, env, stat string, period time.Duration, label string) series {
	return series{Namespace: delivery.Namespace, Name: name, Dims: Dimensions(m.service, env), Stat: stat, Period: period, Label: label}
}

// Dimensions are the dimensions of the delivery metrics of a service's
// environment.
func Dimensions(service, env string) map[string]string {
	return map[string]string{delivery.DimPipeline: service, delivery.DimEnvironment: env}
}

// each is one metric per environment, labelled with the environment.
func (m metrics) each(envs []string, name, stat string, period time.Duration) []series {
	var out []series
	for _, env := range envs {
		out = append(out, m.series(name, env, stat, period, env))
	}
	return out
}

// gate is the gate's validations and its rejections, one line per class.
func (m metrics) gate(env string) []series {
	out := []series{m.series(delivery.MetricGateValidations, env, "Sum", day, "validated")}
	for _, r := range delivery.RejectionReasons {
		s := m.series(delivery.MetricGateRejections, env, "Sum", day, "rejected: "+string(r))
		s.Dims[delivery.DimReason] = string(r)
		out = append(out, s)
	}
	return out
}

// hours is a seconds metric shown in hours.
func (m metrics) hours(id, name, env, stat, label string) series {
	return series{
		Expression: id + "/3600",
		Using:      map[string]series{id: m.series(name, env, stat, day, label)},
		Label:      label,
		Period:     day,
	}
}

// failureRate is 100 * failed / (deployed + failed), in percent.
func (m metrics) failureRate(env string, period time.Duration) series {
	return series{
		Expression: "100 * cfrfailed / (cfrdeployed + cfrfailed)",
		Using: map[string]series{
			"cfrfailed":   m.series(delivery.MetricFailedDeployments, env, "Sum", period, "failed"),
			"cfrdeployed": m.series(delivery.MetricDeployments, env, "Sum", period, "deployed"),
		},
		Label:  "change failure rate %",
		Period: period,
	}
}

// headline is the single-value row: the four figures over the time range.
func (m metrics) headline(env string) []series {
	return []series{
		m.series(delivery.MetricDeployments, env, "Sum", day, "Deployments"),
		m.hours("hlt50", delivery.MetricLeadTime, env, "p50", "Lead time p50 (hours)"),
		m.failureRate(env, day),
		m.hours("httr50", delivery.MetricTimeToRestore, env, "p50", "Time to restore p50 (hours)"),
	}
}

// graph is a time series widget, six units high; a nil yAxis is axis("", 0).
func graph(region string, width int, title string, left []series, yAxis object, stacked bool) widget {
	if yAxis == nil {
		yAxis = axis("", 0)
	}
	return widget{kind: "metric", width: width, height: 6, properties: object{
		{"view", "timeSeries"},
		{"title", title},
		{"region", region},
		{"stacked", stacked},
		{"metrics", metricsJSON(left)},
		{"yAxis", object{{"left", yAxis}}},
	}}
}

// axis is a left axis from 0, without units, with a label and a maximum
// where they are given.
func axis(label string, maximum int) object {
	var a object
	if label != "" {
		a = append(a, field{"label", label})
	}
	if maximum > 0 {
		a = append(a, field{"max", maximum})
	}
	return append(a, field{"min", 0}, field{"showUnits", false})
}

func text(width, height int, markdown string) widget {
	return widget{kind: "text", width: width, height: height, properties: object{
		{"markdown", markdown}, {"background", "transparent"},
	}}
}

// object is a JSON object whose keys keep their order: the order in which
// CDK writes them, so that the template does not change.
type object []field

type field struct {
	key   string
	value any
}

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshal(f.key)
		if err != nil {
			return nil, err
		}
		v, err := marshal(f.value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshal is json.Marshal without HTML escaping (CDK writes <, > and & as
// they are).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// series is one line of a metric widget: a metric (Namespace set) or a math
// expression over metrics (Expression set).
type series struct {
	Namespace, Name string
	Dims            map[string]string
	Stat            string
	Period          time.Duration
	Label           string
	Expression      string
	Using           map[string]series
}

// defaultPeriod is the period CloudWatch assumes; CDK leaves it unwritten.
const defaultPeriod = 5 * time.Minute

// key identifies a series as CDK's metricKey does: two series with one key
// are drawn once. The label is not part of it.
func (s series) key() string {
	var parts []string
	if s.Expression != "" {
		parts = append(parts, s.Expression)
		for _, id := range slices.Sorted(maps.Keys(s.Using)) {
			parts = append(parts, id, s.Using[id].key())
		}
		return strings.Join(parts, "|")
	}
	parts = append(parts, s.Namespace, s.Name)
	for _, name := range slices.Sorted(maps.Keys(s.Dims)) {
		parts = append(parts, name, s.Dims[name])
	}
	if s.Stat != "" {
		parts = append(parts, s.Stat)
	}
	parts = append(parts, strconv.Itoa(int(s.Period.Seconds())))
	return strings.Join(parts, "|")
}

// seriesSet collects a widget's series as CDK's MetricSet does: each
// distinct series once, in the order first met, the metrics of an
// expression after it, hidden unless also drawn on their own.
type seriesSet struct {
	entries []*entry
	byKey   map[string]*entry
	byID    map[string]*entry
}

type entry struct {
	s       series
	id      string
	visible bool
}

func (set *seriesSet) add(s series, visible bool, id string) {
	if set.byKey == nil {
		set.byKey, set.byID = map[string]*entry{}, map[string]*entry{}
	}
	k := s.key()
	e := set.byID[id]
	if e == nil {
		if e = set.byKey[k]; e != nil && e.id != "" && id != "" {
			e = nil
		}
	}
	if e == nil {
		e = &entry{s: s}
		set.entries = append(set.entries, e)
		set.byKey[k] = e
	}
	if e.id == "" && id != "" {
		e.id = id
		set.byID[id] = e
	}
	e.visible = e.visible || visible
	for _, sub := range slices.Sorted(maps.Keys(s.Using)) {
		set.add(s.Using[sub], false, sub)
	}
}

// metricsJSON is the "metrics" array of a widget that draws the series.
func metricsJSON(drawn []series) []any {
	var set seriesSet
	for _, s := range drawn {
		set.add(s, true, "")
	}
	out := make([]any, 0, len(set.entries))
	for _, e := range set.entries {
		// The options in the order CDK writes them.
		var options object
		add := func(key string, value any, when bool) {
			if when {
				options = append(options, field{key, value})
			}
		}
		s := e.s
		var line []any
		if s.Expression != "" {
			add("label", s.Label, s.Label != "")
			add("expression", s.Expression, true)
			add("period", int(s.Period.Seconds()), s.Period != defaultPeriod)
			add("visible", false, !e.visible)
			add("id", e.id, e.id != "")
		} else {
			line = append(line, s.Namespace, s.Name)
			for _, name := range slices.Sorted(maps.Keys(s.Dims)) {
				line = append(line, name, s.Dims[name])
			}
			add("label", s.Label, s.Label != "")
			add("id", e.id, e.id != "")
			add("visible", false, !e.visible)
			add("period", int(s.Period.Seconds()), s.Period != defaultPeriod)
			add("stat", s.Stat, s.Stat != "" && s.Stat != "Average")
		}
		if len(options) > 0 {
			line = append(line, options)
		}
		out = append(out, line)
	}
	return out
}

// widget is one widget of the body, placed by layout.
type widget struct {
	kind          string // "text", "metric" or "alarm"
	width, height int
	properties    object
}

// gridWidth is the width of a dashboard, in grid units.
const gridWidth = 24

// layout places rows of widgets one under the other, as CDK's Row does:
// left to right, a widget that does not fit on the line starting the next.
func layout(rows [][]widget) []any {
	var out []any
	y := 0
	for _, row := range rows {
		x, lineHeight := 0, 0
		for _, w := range row {
			if x+w.width > gridWidth {
				x, y, lineHeight = 0, y+lineHeight, 0
			}
			out = append(out, object{
				{"type", w.kind}, {"width", w.width}, {"height", w.height}, {"x", x}, {"y", y}, {"properties", w.properties},
			})
			x += w.width
			lineHeight = max(lineHeight, w.height)
		}
		y += lineHeight
	}
	return out
}

// bodyJSON is the dashboard body: a JSON object with the time range and
// the widgets.
func bodyJSON(start string, rows [][]widget) string {
	data, err := marshal(object{{"start", start}, {"widgets", layout(rows)}})
	if err != nil {
		panic(err) // strings, numbers, booleans, slices and objects only
	}
	return string(data)
}
