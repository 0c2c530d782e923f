package dashboard

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The dashboard's body is rendered here, in Go, byte for byte as CDK's
// CloudWatch constructs (Dashboard, GraphWidget, MathExpression, ...) wrote
// it: the same widgets, layout, metric lines and key order, so the
// templates did not change. Building it from those constructs took about a
// hundred jsii round trips a pipeline, one per metric or widget, a sixth of
// the app's; the body is now one string property of the dashboard's
// CloudFormation resource. Token strings in it (the region, alarm ARNs,
// rule names) stay tokens, and CDK resolves them when it writes the
// template.

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
