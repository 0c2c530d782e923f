package constructs_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscodepipeline"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/dashboard"
	"cicd/internal/cdktest"
	"cicd/internal/delivery"
)

const pipelineArn = "arn:aws:codepipeline:eu-west-1:111111111111:cicd-orders"

// The fixture's dashboards: a three-environment pipeline with the
// defaults, its twin (the same props under another name, to show the
// output depends on nothing but the props), and a flat single-environment
// one with its own thresholds.
var (
	orders = dashboard.Props{
		Name: "cicd-orders", Service: "orders", Environments: []string{"dev", "staging", "prod"},
	}
	twin = dashboard.Props{
		Name: "cicd-twin", Service: "orders", Environments: []string{"dev", "staging", "prod"},
	}
	flat = dashboard.Props{
		Name: "cicd-pipeline-dev", Service: "dev", Environments: []string{"dev"},
		ConsecutiveFailedDeployments: 3, ValidatorErrors: 4, ValidatorErrorPeriod: 15 * time.Minute,
		TimeRange: 14 * 24 * time.Hour,
	}
	ordersDashboard *dashboard.Dashboard
)

var dashboardFixture = cdktest.NewFixture("dashboard", nil, func(stack awscdk.Stack) {
	key := awskms.NewKey(stack, jsii.String("Key"), nil)
	pipeline := awscodepipeline.Pipeline_FromPipelineArn(stack, jsii.String("Pipeline"), jsii.String(pipelineArn))
	topic := func(id string) awssns.ITopic {
		return awssns.NewTopic(stack, jsii.String(id), &awssns.TopicProps{MasterKey: key})
	}
	o := orders
	o.Pipeline, o.Topic, o.Key = pipeline, topic("OrdersTopic"), key
	ordersDashboard = dashboard.New(stack, "Orders", o)
	tw := twin
	tw.Pipeline, tw.Topic = pipeline, topic("TwinTopic")
	dashboard.New(stack, "Twin", tw)
	f := flat
	f.Pipeline, f.Topic = pipeline, topic("FlatTopic")
	dashboard.New(stack, "Flat", f)
})

// body is a dashboard's DashboardBody as JSON, its CloudFormation tokens
// written as <Ref:LogicalId>, <GetAtt:LogicalId.Attribute> or <AWS::Region>.
func body(t *testing.T, name string) map[string]any {
	t.Helper()
	_, tpl := dashboardFixture.Template(t)
	for _, d := range cdktest.Resources(tpl, "AWS::CloudWatch::Dashboard") {
		props := d["Properties"].(map[string]any)
		if props["DashboardName"] != name {
			continue
		}
		var text string
		switch b := props["DashboardBody"].(type) {
		case string:
			text = b
		case map[string]any:
			for _, part := range b["Fn::Join"].([]any)[1].([]any) {
				text += token(part)
			}
		}
		var out map[string]any
		if err := json.Unmarshal([]byte(text), &out); err != nil {
			t.Fatalf("dashboard %s: body is not JSON: %v\n%s", name, err, text)
		}
		return out
	}
	t.Fatalf("no dashboard named %s", name)
	return nil
}

// token writes a piece of a template value as text.
func token(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok {
			if strings.HasPrefix(ref, "AWS::") {
				return "<" + ref + ">"
			}
			return "<Ref:" + ref + ">"
		}
		if att, ok := x["Fn::GetAtt"].([]any); ok {
			return fmt.Sprintf("<GetAtt:%v.%v>", att[0], att[1])
		}
	}
	return fmt.Sprintf("<%v>", v)
}

type widget struct {
	Type       string         `json:"type"`
	Width      float64        `json:"width"`
	Properties map[string]any `json:"properties"`
}

func widgets(t *testing.T, name string) []widget {
	t.Helper()
	raw, _ := json.Marshal(body(t, name)["widgets"])
	var ws []widget
	if err := json.Unmarshal(raw, &ws); err != nil {
		t.Fatal(err)
	}
	return ws
}

func title(w widget) string { s, _ := w.Properties["title"].(string); return s }

// metricKey names a metric by what CloudWatch identifies it with:
// namespace, name and dimensions (sorted by name).
func metricKey(namespace, name string, dims map[string]string) string {
	names := make([]string, 0, len(dims))
	for n := range dims {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, n+"="+dims[n])
	}
	return namespace + " " + name + " {" + strings.Join(parts, ",") + "}"
}

// dashboardMetrics returns the metrics the widgets of a dashboard draw (a
// math expression draws the metrics it uses, which are listed too).
func dashboardMetrics(t *testing.T, name string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, w := range widgets(t, name) {
		list, _ := w.Properties["metrics"].([]any)
		for _, entry := range list {
			arr, _ := entry.([]any)
			if len(arr) < 2 {
				continue
			}
			ns, ok := arr[0].(string)
			if !ok {
				continue // an expression: {"expression": ...}
			}
			dims := map[string]string{}
			rest := arr[2:]
			for i := 0; i+1 < len(rest); i += 2 {
				k, ok1 := rest[i].(string)
				v, ok2 := rest[i+1].(string)
				if !ok1 || !ok2 {
					break // the trailing options object
				}
				dims[k] = v
			}
			out[metricKey(ns, arr[1].(string), dims)] = true
		}
	}
	return out
}

// alarmMetrics returns the metrics the alarms whose name begins with
// prefix evaluate.
func alarmMetrics(t *testing.T, prefix string) map[string]bool {
	t.Helper()
	_, tpl := dashboardFixture.Template(t)
	out := map[string]bool{}
	add := func(m map[string]any) {
		dims := map[string]string{}
		list, _ := m["Dimensions"].([]any)
		for _, d := range list {
			dm := d.(map[string]any)
			dims[dm["Name"].(string)] = token(dm["Value"])
		}
		out[metricKey(m["Namespace"].(string), m["MetricName"].(string), dims)] = true
	}
	for _, a := range cdktest.Resources(tpl, "AWS::CloudWatch::Alarm") {
		props := a["Properties"].(map[string]any)
		if !strings.HasPrefix(props["AlarmName"].(string), prefix) {
			continue
		}
		if _, ok := props["MetricName"]; ok {
			add(props)
		}
		list, _ := props["Metrics"].([]any)
		for _, q := range list {
			if stat, ok := q.(map[string]any)["MetricStat"].(map[string]any); ok {
				add(stat["Metric"].(map[string]any))
			}
		}
	}
	return out
}

// sampleReasons words a rejection of every class the way the validator
// does.
var sampleReasons = map[delivery.RejectionReason]string{
	delivery.ReasonVulnerable:     "image has findings at or above the threshold: CRITICAL 1 (threshold HIGH)",
	delivery.ReasonScanFailed:     "image scan did not succeed: scan status FAILED",
	delivery.ReasonScanTimeout:    "image scan did not finish in time: image scan is IN_PROGRESS after 15m0s (limit 15m0s)",
	delivery.ReasonImageMissing:   `image not found: no image tagged "abc" in repository cicd-orders`,
	delivery.ReasonUnscanned:      "image scan did not succeed: scan status UNSUPPORTED_IMAGE",
	delivery.ReasonDigestMismatch: "image digest mismatch: tag abc does not resolve to sha256:0f",
	delivery.ReasonOther:          "a reason nobody has classified",
}

// emitted runs the emitter for every kind of outcome of a pipeline (gate
// outcomes in the first environment, verify outcomes and errors in each)
// and reads its EMF lines the way CloudWatch does.
func emitted(t *testing.T, p dashboard.Props) map[string]bool {
	t.Helper()
	const now = int64(1_800_000_000_000)
	var lines [][]byte
	for i, env := range p.Environments {
		rec := func(mode delivery.Mode, status delivery.Status, reason string) delivery.Record {
			return delivery.Record{DeploymentID: "e", Timestamp: now, CommitTime: now - 3_600_000, Pipeline: p.Service,
				Environment: env, Mode: mode, Status: status, Reason: reason}
		}
		after := delivery.Streak{Known: true, Failures: 2, Since: now - 60_000}
		lines = append(lines,
			delivery.EMF(rec(delivery.ModeVerify, delivery.StatusDeployed, "runs it"), after),
			delivery.EMF(rec(delivery.ModeVerify, delivery.StatusDeployFailed, "rolled back"), after),
			delivery.EMF(rec(delivery.ModeVerify, delivery.StatusError, "throttled"), delivery.Streak{}),
		)
		if i == 0 {
			lines = append(lines, delivery.EMF(rec(delivery.ModeGate, delivery.StatusValidated, "scan COMPLETE"), delivery.Streak{}))
			for _, class := range delivery.RejectionReasons {
				reason, ok := sampleReasons[class]
				if !ok || delivery.ClassifyRejection(reason) != class {
					t.Fatalf("sampleReasons has no reason of class %s: add one", class)
				}
				lines = append(lines, delivery.EMF(rec(delivery.ModeGate, delivery.StatusRejected, reason), delivery.Streak{}))
			}
		}
	}
	out := map[string]bool{}
	for _, line := range lines {
		var doc struct {
			AWS struct {
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name string }
				}
			} `json:"_aws"`
		}
		var root map[string]any
		if json.Unmarshal(line, &doc) != nil || json.Unmarshal(line, &root) != nil {
			t.Fatalf("emitter wrote a line that is not JSON: %s", line)
		}
		for _, d := range doc.AWS.CloudWatchMetrics {
			for _, set := range d.Dimensions {
				dims := map[string]string{}
				for _, n := range set {
					dims[n], _ = root[n].(string)
				}
				for _, m := range d.Metrics {
					out[metricKey(d.Namespace, m.Name, dims)] = true
				}
			}
		}
	}
	return out
}

// TestEveryDashboardMetricIsEmitted is the parity of the dashboard and the
// validator: every delivery metric a widget or an alarm uses (namespace,
// name, dimensions and their values) is one the emitter produces, and the
// emitter produces nothing that no widget or alarm shows.
func TestEveryDashboardMetricIsEmitted(t *testing.T) {
	for _, p := range []dashboard.Props{orders, flat} {
		t.Run(p.Name, func(t *testing.T) {
			emits := emitted(t, p)
			used := map[string]bool{}
			for k := range dashboardMetrics(t, p.Name) {
				used[k] = true
			}
			for k := range alarmMetrics(t, p.Name+"-") {
				used[k] = true
			}
			var delivered int
			for k := range used {
				if !strings.HasPrefix(k, delivery.Namespace+" ") {
					continue
				}
				delivered++
				if !emits[k] {
					t.Errorf("the dashboard or an alarm uses %s, which the validator never emits", k)
				}
			}
			for k := range emits {
				if !used[k] {
					t.Errorf("the validator emits %s, which no widget or alarm uses", k)
				}
			}
			if delivered == 0 {
				t.Fatal("found no delivery metric in the dashboard: the test reads nothing")
			}
			t.Logf("%d delivery metrics checked", delivered)
		})
	}
}

func TestWidgetsSayWhatTheyShow(t *testing.T) {
	ws := widgets(t, "cicd-orders")
	var titles []string
	for _, w := range ws {
		if w.Type == "text" {
			if md, _ := w.Properties["markdown"].(string); md == "" {
				t.Error("a text widget without text")
			}
			continue
		}
		if title(w) == "" {
			t.Errorf("a %s widget has no title: %v", w.Type, w.Properties)
		}
		titles = append(titles, title(w))
	}
	all := strings.Join(titles, "\n")
	for _, env := range orders.Environments {
		for _, want := range []string{
			env + ": the four key delivery metrics over the dashboard's time range",
			env + ": deployment frequency (successful deployments per day)",
			env + ": lead time for changes, commit to DEPLOYED (hours, p50 and p90 per day)",
			env + ": change failure rate (% of deployments that failed, per day)",
			env + ": time to restore, first DEPLOY_FAILED to next DEPLOYED (hours, p50 and max per day)",
			env + ": consecutive failed deployments (alarm at 2)",
		} {
			if !strings.Contains(all, want) {
				t.Errorf("no widget titled %q; titles:\n%s", want, all)
			}
		}
	}
	for _, want := range []string{
		"Pipeline executions by outcome (per day, from CodePipeline's execution events)",
		"Gate verdicts before dev: images validated, and rejected by reason (per day)",
		"Validator errors by environment (per hour)",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no widget titled %q", want)
		}
	}
	if !strings.Contains(strings.Join(titlesOf(t, "cicd-pipeline-dev"), "\n"), "dev: consecutive failed deployments (alarm at 3)") {
		t.Error("the flat dashboard's alarm widget does not name its threshold 3")
	}
}

func titlesOf(t *testing.T, name string) []string {
	var out []string
	for _, w := range widgets(t, name) {
		out = append(out, title(w))
	}
	return out
}

// TestWidgetFormulas pins the statistics and the math behind the figures,
// as the README's "Delivery metrics" section states them.
func TestWidgetFormulas(t *testing.T) {
	raw, _ := json.Marshal(body(t, "cicd-orders"))
	got := string(raw)
	for _, want := range []string{
		`{"expression":"100 * cfrfailed / (cfrdeployed + cfrfailed)","label":"change failure rate %"`,
		`["cicd/Delivery","FailedDeployments","Environment","prod","Pipeline","orders",{"id":"cfrfailed","label":"failed","period":86400,"stat":"Sum","visible":false}]`,
		`{"expression":"lt50/3600","label":"lead time p50"`,
		`["cicd/Delivery","LeadTime","Environment","prod","Pipeline","orders",{"id":"lt90","label":"lead time p90","period":86400,"stat":"p90","visible":false}]`,
		`["cicd/Delivery","TimeToRestore","Environment","staging","Pipeline","orders",{"id":"ttrmax","label":"time to restore max","period":86400,"stat":"Maximum","visible":false}]`,
		`["cicd/Delivery","Deployments","Environment","dev","Pipeline","orders",{"label":"deployments","period":86400,"stat":"Sum"}]`,
		`["cicd/Delivery","GateRejections","Environment","dev","Pipeline","orders","Reason","vulnerable",{"label":"rejected: vulnerable","period":86400,"stat":"Sum"}]`,
		`"setPeriodToTimeRange":true`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("dashboard lacks %s", want)
		}
	}
	if b := body(t, "cicd-orders"); b["start"] != "-P28D" {
		t.Errorf("default time range %v, want -P28D", b["start"])
	}
	if b := body(t, "cicd-pipeline-dev"); b["start"] != "-P14D" {
		t.Errorf("flat time range %v, want -P14D", b["start"])
	}
}

// TestExecutionOutcomesFromEvents: the executions widget counts the
// matches of three target-less EventBridge rules on the pipeline's
// execution state changes.
func TestExecutionOutcomesFromEvents(t *testing.T) {
	_, tpl := dashboardFixture.Template(t)
	rules := map[string]string{} // logical ID -> states
	for id, r := range cdktest.Resources(tpl, "AWS::Events::Rule") {
		if !strings.HasPrefix(id, "Orders") {
			continue
		}
		props := r["Properties"].(map[string]any)
		// The pipeline's execution state changes; no targets: it only counts.
		cdktest.Matches(t, "rule "+id, props, assertions.Match_ObjectLike(&map[string]any{
			"EventPattern": assertions.Match_ObjectLike(&map[string]any{
				"source":      assertions.Match_Exact(&[]any{"aws.codepipeline"}),
				"detail-type": assertions.Match_Exact(&[]any{"CodePipeline Pipeline Execution State Change"}),
				"resources":   assertions.Match_Exact(&[]any{pipelineArn}),
			}),
			"Targets": assertions.Match_Absent(),
		}))
		pattern, _ := props["EventPattern"].(map[string]any)
		rules[id] = cdktest.JSON(pattern["detail"])
	}
	var states []string
	for _, s := range rules {
		states = append(states, s)
	}
	sort.Strings(states)
	if got := strings.Join(states, " "); got != `{"state":["FAILED"]} {"state":["STOPPED","SUPERSEDED","CANCELED"]} {"state":["SUCCEEDED"]}` {
		t.Errorf("rules match %s", got)
	}
	drawn := dashboardMetrics(t, "cicd-orders")
	for id := range rules {
		if k := metricKey("AWS/Events", "MatchedEvents", map[string]string{"RuleName": "<Ref:" + id + ">"}); !drawn[k] {
			t.Errorf("the dashboard does not draw %s", k)
		}
	}
}

func alarm(t *testing.T, name string) map[string]any {
	t.Helper()
	_, tpl := dashboardFixture.Template(t)
	for _, a := range cdktest.Resources(tpl, "AWS::CloudWatch::Alarm") {
		if props := a["Properties"].(map[string]any); props["AlarmName"] == name {
			return props
		}
	}
	t.Fatalf("no alarm %s", name)
	return nil
}

// hasAlarm checks that the alarm called name has props; why says what
// breaks otherwise. The alarm is found by name first, so that a mismatch
// shows that alarm and no other.
func hasAlarm(t *testing.T, name string, props map[string]any, why string) {
	t.Helper()
	cdktest.Matches(t, "alarm "+name+": "+why, alarm(t, name), assertions.Match_ObjectLike(&props))
}

// toTopic matches the alarm actions of a topic whose logical ID starts with
// prefix.
func toTopic(prefix string) any {
	return []any{map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^" + prefix))}}
}

func TestFailedDeploymentAlarms(t *testing.T) {
	tests := []struct {
		name, env, service, topic string
		threshold                 float64
	}{
		{"cicd-orders-dev-failed-deployments", "dev", "orders", "OrdersTopic", 2},
		{"cicd-orders-staging-failed-deployments", "staging", "orders", "OrdersTopic", 2},
		{"cicd-orders-prod-failed-deployments", "prod", "orders", "OrdersTopic", 2},
		{"cicd-pipeline-dev-dev-failed-deployments", "dev", "dev", "FlatTopic", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hasAlarm(t, tc.name, map[string]any{
				"Namespace": delivery.Namespace, "MetricName": delivery.MetricConsecutiveFailedDeployments,
				"Statistic": "Maximum", "Period": 300, "Threshold": tc.threshold, "EvaluationPeriods": 1,
				"ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "ignore",
				"Dimensions": assertions.Match_Exact(&[]any{
					map[string]any{"Name": "Environment", "Value": tc.env},
					map[string]any{"Name": "Pipeline", "Value": tc.service},
				}),
			}, fmt.Sprintf("want the environment's consecutive failed deployments, %g or more in one period, no data ignored", tc.threshold))
			hasAlarm(t, tc.name, map[string]any{"AlarmActions": toTopic(tc.topic), "OKActions": toTopic(tc.topic)},
				"want alarm and OK actions on the pipeline's topic")
			for _, want := range []string{fmt.Sprintf("%g or more deployments in a row failed in %s", tc.threshold, tc.env), "next DEPLOYED", "cmd/history"} {
				hasAlarm(t, tc.name, map[string]any{"AlarmDescription": assertions.Match_StringLikeRegexp(jsii.String(regexp.QuoteMeta(want)))},
					fmt.Sprintf("the description does not say %q", want))
			}
		})
	}
}

func TestValidatorErrorsAlarm(t *testing.T) {
	tests := []struct {
		name, topic, service string
		envs                 []string
		threshold, secs      float64
		window               string
	}{
		{"cicd-orders-validator-errors", "OrdersTopic", orders.Service, orders.Environments, 1, 300, "5 minutes"},
		{"cicd-pipeline-dev-validator-errors", "FlatTopic", flat.Service, flat.Environments, 4, 900, "15 minutes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hasAlarm(t, tc.name, map[string]any{
				"Threshold": tc.threshold, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
				"EvaluationPeriods": 1, "TreatMissingData": "notBreaching",
			}, fmt.Sprintf("want %g or more in one period, no data is no error", tc.threshold))
			// The sum of each environment's errors, the only query returned.
			var ids []string
			var reads []any
			for i, env := range tc.envs {
				id := fmt.Sprintf("e%d", i)
				ids = append(ids, id)
				reads = append(reads, assertions.Match_ObjectLike(&map[string]any{
					"Id": id, "ReturnData": false,
					"MetricStat": assertions.Match_ObjectLike(&map[string]any{
						"Metric": assertions.Match_ObjectLike(&map[string]any{
							"MetricName": delivery.MetricValidatorErrors,
							"Dimensions": assertions.Match_Exact(&[]any{
								map[string]any{"Name": "Environment", "Value": env},
								map[string]any{"Name": "Pipeline", "Value": tc.service},
							}),
						}),
						"Stat": "Sum", "Period": tc.secs,
					}),
				}))
			}
			sum := assertions.Match_ObjectLike(&map[string]any{"Expression": "SUM([" + strings.Join(ids, ",") + "])", "ReturnData": true})
			hasAlarm(t, tc.name, map[string]any{"Metrics": append([]any{sum}, reads...)},
				fmt.Sprintf("want it to evaluate SUM(%s) of each environment's ValidatorErrors over %g s", strings.Join(ids, ","), tc.secs))
			hasAlarm(t, tc.name, map[string]any{"AlarmActions": toTopic(tc.topic)}, "want the topic")
			for _, want := range []string{"within " + tc.window, "retry the stage"} {
				hasAlarm(t, tc.name, map[string]any{"AlarmDescription": assertions.Match_StringLikeRegexp(jsii.String(regexp.QuoteMeta(want)))},
					fmt.Sprintf("the description does not say %q", want))
			}
		})
	}
}

// TestAlarmsReachTheTopic: CloudWatch may publish this construct's alarms
// (by name) to the topic and use the topic's key.
func TestAlarmsReachTheTopic(t *testing.T) {
	tpl, _ := dashboardFixture.Template(t)
	if !cdktest.HasResourceProperties(t, tpl, "AWS::SNS::TopicPolicy", map[string]any{
		"Topics": []any{map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^OrdersTopic"))}},
		"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{
				"Action": "sns:Publish",
				"Condition": assertions.Match_Exact(&map[string]any{
					"ArnLike": map[string]any{"aws:SourceArn": map[string]any{"Fn::Join": []any{"", []any{
						"arn:", map[string]any{"Ref": "AWS::Partition"}, ":cloudwatch:", map[string]any{"Ref": "AWS::Region"}, ":",
						map[string]any{"Ref": "AWS::AccountId"}, ":alarm:cicd-orders-*",
					}}}},
					"StringEquals": map[string]any{"aws:SourceAccount": map[string]any{"Ref": "AWS::AccountId"}},
				}),
				"Effect":    "Allow",
				"Principal": assertions.Match_Exact(&map[string]any{"Service": "cloudwatch.amazonaws.com"}),
			}),
		})}),
	}) {
		t.Error("CloudWatch may not publish the alarms of cicd-orders, by name, to its topic")
	}
	cdktest.ResourceCountIs(t, tpl, "AWS::KMS::Key", 1)
	if !cdktest.HasResourceProperties(t, tpl, "AWS::KMS::Key", map[string]any{
		"KeyPolicy": assertions.Match_ObjectLike(&map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
			assertions.Match_Exact(&map[string]any{
				"Action":    []any{"kms:Decrypt", "kms:GenerateDataKey*"},
				"Effect":    "Allow",
				"Principal": map[string]any{"Service": "cloudwatch.amazonaws.com"},
				"Resource":  "*",
				"Sid":       "CloudWatchAlarmsUseKeyForTopic",
			}),
		})}),
	}) {
		t.Error("CloudWatch cannot publish to the encrypted topic")
	}
}

// TestOutputIsThePropsOnlyFunction: the twin (same props, another name)
// gives the same dashboard and alarms, down to the order of every list, so
// nothing like Go's map order reaches the template.
func TestOutputIsThePropsOnlyFunction(t *testing.T) {
	normalize := func(prefix, name string, v any) string {
		var buf strings.Builder
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		s := buf.String()
		s = strings.ReplaceAll(s, name, "NAME")
		s = strings.ReplaceAll(s, `"`+prefix, `"ID`)
		s = strings.ReplaceAll(s, "<Ref:"+prefix, "<Ref:ID")
		s = strings.ReplaceAll(s, "<GetAtt:"+prefix, "<GetAtt:ID")
		return s
	}
	stripHash := func(s string) string {
		// Logical IDs end in an 8-hex-digit hash of the construct path.
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			if i+8 <= len(s) && isHash(s[i:i+8]) && i > 0 && s[i-1] >= 'a' && s[i-1] <= 'z' {
				i += 7
				continue
			}
			b.WriteByte(s[i])
		}
		return b.String()
	}
	a := stripHash(normalize("Orders", "cicd-orders", body(t, "cicd-orders")))
	b := stripHash(normalize("Twin", "cicd-twin", body(t, "cicd-twin")))
	if a != b {
		t.Errorf("dashboards of the same props differ:\n%s\n%s", a, b)
	}
	for _, env := range orders.Environments {
		x := normalize("Orders", "cicd-orders", alarm(t, "cicd-orders-"+env+"-failed-deployments"))
		y := normalize("Twin", "cicd-twin", alarm(t, "cicd-twin-"+env+"-failed-deployments"))
		if stripHash(x) != stripHash(y) {
			t.Errorf("alarms of the same props differ:\n%s\n%s", x, y)
		}
	}
	x := normalize("Orders", "cicd-orders", alarm(t, "cicd-orders-validator-errors"))
	y := normalize("Twin", "cicd-twin", alarm(t, "cicd-twin-validator-errors"))
	if stripHash(x) != stripHash(y) {
		t.Errorf("alarms of the same props differ:\n%s\n%s", x, y)
	}
}

func isHash(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}

// TestLintWaiverIsTheDashboardsOnly: cfn-lint skips E3002 (its schema
// lacks a dashboard's Tags) on the dashboard alone, and nothing else.
func TestLintWaiverIsTheDashboardsOnly(t *testing.T) {
	tpl, j := dashboardFixture.Template(t)
	cdktest.AllResources(t, tpl, "AWS::CloudWatch::Dashboard", map[string]any{
		"Metadata": assertions.Match_ObjectLike(&map[string]any{
			"cfn-lint": assertions.Match_Exact(&map[string]any{"config": map[string]any{"ignore_checks": []any{"E3002"}}}),
		}),
	})
	// No waiver anywhere else (a resource may have no Metadata at all).
	for _, typ := range []string{"AWS::CloudWatch::Alarm", "AWS::Events::Rule"} {
		for id, r := range cdktest.Resources(j, typ) {
			if meta, _ := r["Metadata"].(map[string]any); meta["cfn-lint"] != nil {
				t.Errorf("%s cfn-lint metadata %s, want none", id, cdktest.JSON(meta["cfn-lint"]))
			}
		}
	}
}

func TestURL(t *testing.T) {
	dashboardFixture.Template(t)
	cdktest.Matches(t, "URL", awscdk.Stack_Of(ordersDashboard.Construct).Resolve(ordersDashboard.URL()),
		assertions.Match_Exact(&map[string]any{"Fn::Join": []any{"", []any{
			"https://console.aws.amazon.com/cloudwatch/home?region=", map[string]any{"Ref": "AWS::Region"}, "#dashboards:name=cicd-orders",
		}}}))
}

func TestBadPropsPanicWithOneLine(t *testing.T) {
	stack := cdktest.NewStack(t)
	pipeline := awscodepipeline.Pipeline_FromPipelineArn(stack, jsii.String("Pipeline"), jsii.String(pipelineArn))
	topic := awssns.Topic_FromTopicArn(stack, jsii.String("Topic"), jsii.String("arn:aws:sns:eu-west-1:111111111111:t"))
	good := dashboard.Props{Name: "cicd-x", Service: "x", Environments: []string{"dev"}, Pipeline: pipeline, Topic: topic}
	tests := []struct {
		change func(*dashboard.Props)
		want   string
	}{
		{func(p *dashboard.Props) { p.Name = "cicd x" }, `name "cicd x" must be letters, digits, - and _`},
		{func(p *dashboard.Props) { p.Service = "" }, "no service"},
		{func(p *dashboard.Props) { p.Pipeline = nil }, "no pipeline"},
		{func(p *dashboard.Props) { p.Topic = nil }, "no topic"},
		{func(p *dashboard.Props) { p.Environments = nil }, "0 environments, want 1 to 10"},
		{func(p *dashboard.Props) { p.Environments = strings.Fields("a b c d e f g h i j k") }, "11 environments, want 1 to 10"},
		{func(p *dashboard.Props) { p.Environments = []string{"a-b", "a--b"} }, "names must be set and unique"},
		{func(p *dashboard.Props) { p.ConsecutiveFailedDeployments = -1 }, "threshold -1, want 1 or more"},
		{func(p *dashboard.Props) { p.ValidatorErrors = -2 }, "threshold -2, want 1 or more"},
		{func(p *dashboard.Props) { p.ValidatorErrorPeriod = 90 * time.Second }, "validator error period 1m30s, want whole minutes"},
		{func(p *dashboard.Props) { p.TimeRange = 36 * time.Hour }, "time range 36h0m0s, want whole days"},
	}
	for _, tc := range tests {
		p := good
		tc.change(&p)
		msg := func() (msg string) {
			defer func() { msg = fmt.Sprint(recover()) }()
			dashboard.New(stack, "D", p)
			return ""
		}()
		if !strings.HasPrefix(msg, "dashboard D: ") || !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Errorf("panic %q, want one line saying %q", msg, tc.want)
		}
	}
}
