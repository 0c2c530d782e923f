package body

import (
	"fmt"
	"strings"
	"testing"
)

// A metric drawn on its own and used by an expression is one line, visible,
// with the expression's id; the expression's other metrics follow it,
// hidden, in the order of their ids; periods of 5 minutes and the Average
// statistic are left to CloudWatch's defaults, as CDK leaves them.
func TestMetricsJSONDrawsEachMetricOnce(t *testing.T) {
	deployed := series{Namespace: "ns", Name: "Deployments", Dims: map[string]string{"Pipeline": "p", "Environment": "dev"},
		Stat: "Sum", Period: day, Label: "Deployments"}
	failed := series{Namespace: "ns", Name: "Failed", Dims: map[string]string{"Pipeline": "p", "Environment": "dev"},
		Stat: "Sum", Period: day, Label: "failed"}
	relabelled := deployed
	relabelled.Label = "deployed"
	rate := series{Expression: "100 * f / (d + f)", Using: map[string]series{"f": failed, "d": relabelled},
		Label: "rate", Period: day}
	average := series{Namespace: "ns", Name: "Latency", Stat: "Average", Period: defaultPeriod}
	got, err := marshal(metricsJSON([]series{deployed, rate, average}))
	if err != nil {
		t.Fatal(err)
	}
	want := `[["ns","Deployments","Environment","dev","Pipeline","p",{"label":"Deployments","id":"d","period":86400,"stat":"Sum"}],` +
		`[{"label":"rate","expression":"100 * f / (d + f)","period":86400}],` +
		`["ns","Failed","Environment","dev","Pipeline","p",{"label":"failed","id":"f","visible":false,"period":86400,"stat":"Sum"}],` +
		`["ns","Latency"]]`
	if string(got) != want {
		t.Errorf("metrics:\n%s\nwant:\n%s", got, want)
	}
}

// Rows stack; a widget that does not fit on the line starts the next one,
// under the line's tallest widget (CDK's Row).
func TestLayoutWrapsAtTheGridWidth(t *testing.T) {
	w := func(width, height int) widget { return widget{kind: "text", width: width, height: height} }
	body := bodyJSON("-P1D", [][]widget{{w(24, 2)}, {w(18, 4), w(8, 3), w(6, 1)}, {w(6, 1)}})
	want := `{"start":"-P1D","widgets":[` +
		`{"type":"text","width":24,"height":2,"x":0,"y":0,"properties":{}},` +
		`{"type":"text","width":18,"height":4,"x":0,"y":2,"properties":{}},` +
		`{"type":"text","width":8,"height":3,"x":0,"y":6,"properties":{}},` +
		`{"type":"text","width":6,"height":1,"x":8,"y":6,"properties":{}},` +
		`{"type":"text","width":6,"height":1,"x":0,"y":9,"properties":{}}]}`
	if body != want {
		t.Errorf("body:\n%s\nwant:\n%s", body, want)
	}
}

// A body needs an alarm for each environment, and an environment.
func TestJSONWantsAnAlarmPerEnvironment(t *testing.T) {
	for _, p := range []Props{
		{Service: "orders", Environments: []string{"dev", "prod"}, FailedDeploymentAlarms: []string{"arn:dev"}, TimeRange: day},
		{Service: "orders", TimeRange: day},
	} {
		func() {
			defer func() {
				if r := fmt.Sprint(recover()); !strings.HasPrefix(r, "dashboard body: ") || strings.Contains(r, "\n") {
					t.Errorf("JSON(%+v) panicked with %q, want one line on the environments and their alarms", p, r)
				}
			}()
			JSON(p)
		}()
	}
	body := JSON(Props{Service: "orders", Environments: []string{"dev"}, FailedDeploymentAlarms: []string{"arn:dev"},
		ValidatorErrorsAlarm: "arn:validator", TimeRange: 14 * day})
	for _, want := range []string{`"start":"-P14D"`, `"alarms":["arn:dev","arn:validator"]`, `"annotations":{"alarms":["arn:dev"]}`} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %s:\n%s", want, body)
		}
	}
}
