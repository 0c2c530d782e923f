package delivery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// emfLine is an EMF line as CloudWatch reads it.
type emfLine struct {
	AWS struct {
		Timestamp         int64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  string     `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct {
				Name string `json:"Name"`
				Unit string `json:"Unit"`
			} `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	} `json:"_aws"`
}

// extract reads a line the way CloudWatch does: every metric of every
// directive, with its dimension values taken from the root members named
// in the dimension set. It returns "Name{Dim=value,...}=value unit".
func extract(t *testing.T, line []byte) []string {
	t.Helper()
	var meta emfLine
	var root map[string]any
	if err := json.Unmarshal(line, &meta); err != nil {
		t.Fatalf("not JSON: %v: %s", err, line)
	}
	_ = json.Unmarshal(line, &root)
	var out []string
	for _, d := range meta.AWS.CloudWatchMetrics {
		if d.Namespace != Namespace {
			t.Errorf("namespace %q, want %q", d.Namespace, Namespace)
		}
		for _, set := range d.Dimensions {
			var dims []string
			for _, name := range set {
				v, ok := root[name].(string)
				if !ok || v == "" {
					t.Errorf("dimension %s has no string value in the root: %s", name, line)
				}
				dims = append(dims, name+"="+v)
			}
			for _, m := range d.Metrics {
				v, ok := root[m.Name].(float64)
				if !ok {
					t.Errorf("metric %s has no number in the root: %s", m.Name, line)
				}
				out = append(out, fmt.Sprintf("%s{%s}=%g %s", m.Name, strings.Join(dims, ","), v, m.Unit))
			}
		}
	}
	return out
}

func TestEMFPerOutcome(t *testing.T) {
	const t0 = int64(1_700_000_000_000)
	base := Record{DeploymentID: "exec-1", Timestamp: t0, Pipeline: "orders", Environment: "prod", ImageTag: "abc123"}
	with := func(f func(*Record)) Record { r := base; f(&r); return r }
	dims := "{Pipeline=orders,Environment=prod}"
	tests := []struct {
		name string
		rec  Record
		prev Streak
		want []string
	}{
		{
			name: "deployed with a commit time and no failures before",
			rec: with(func(r *Record) {
				r.Mode, r.Status, r.CommitTime = ModeVerify, StatusDeployed, t0-90*60*1000
			}),
			prev: Streak{Known: true},
			want: []string{
				"Deployments" + dims + "=1 Count", "FailedDeployments" + dims + "=0 Count",
				"ConsecutiveFailedDeployments" + dims + "=0 Count", "LeadTime" + dims + "=5400 Seconds",
			},
		},
		{
			name: "deployed after two failures: time to restore from the first",
			rec:  with(func(r *Record) { r.Mode, r.Status = ModeVerify, StatusDeployed }),
			prev: Streak{Known: true, Failures: 2, Since: t0 - 1500},
			want: []string{
				"Deployments" + dims + "=1 Count", "FailedDeployments" + dims + "=0 Count",
				"ConsecutiveFailedDeployments" + dims + "=0 Count", "TimeToRestore" + dims + "=1.5 Seconds",
			},
		},
		{
			name: "deployed, earlier verdicts unknown: no time to restore, no lead time without a commit time",
			rec:  with(func(r *Record) { r.Mode, r.Status = ModeVerify, StatusDeployed }),
			prev: Streak{},
			want: []string{
				"Deployments" + dims + "=1 Count", "FailedDeployments" + dims + "=0 Count",
				"ConsecutiveFailedDeployments" + dims + "=0 Count",
			},
		},
		{
			name: "deployed with a commit after it (a skewed clock): no lead time",
			rec: with(func(r *Record) {
				r.Mode, r.Status, r.CommitTime = ModeVerify, StatusDeployed, t0+1000
			}),
			prev: Streak{Known: true},
			want: []string{
				"Deployments" + dims + "=1 Count", "FailedDeployments" + dims + "=0 Count",
				"ConsecutiveFailedDeployments" + dims + "=0 Count",
			},
		},
		{
			name: "third failure in a row",
			rec:  with(func(r *Record) { r.Mode, r.Status = ModeVerify, StatusDeployFailed }),
			prev: Streak{Known: true, Failures: 2, Since: t0 - 5000},
			want: []string{
				"Deployments" + dims + "=0 Count", "FailedDeployments" + dims + "=1 Count",
				"ConsecutiveFailedDeployments" + dims + "=3 Count",
			},
		},
		{
			name: "failure, earlier verdicts unknown: no streak figure",
			rec:  with(func(r *Record) { r.Mode, r.Status = ModeVerify, StatusDeployFailed }),
			want: []string{"Deployments" + dims + "=0 Count", "FailedDeployments" + dims + "=1 Count"},
		},
		{
			name: "gate validated",
			rec:  with(func(r *Record) { r.Mode, r.Status = ModeGate, StatusValidated }),
			want: []string{"GateValidations" + dims + "=1 Count"},
		},
		{
			name: "gate rejected for findings: the reason class is a dimension",
			rec: with(func(r *Record) {
				r.Mode, r.Status = ModeGate, StatusRejected
				r.Reason = "image has findings at or above the threshold: CRITICAL 1 (threshold HIGH)"
			}),
			want: []string{"GateRejections{Pipeline=orders,Environment=prod,Reason=vulnerable}=1 Count"},
		},
		{
			name: "validator error",
			rec: with(func(r *Record) {
				r.Mode, r.Status, r.Reason = ModeVerify, StatusError, "validator misconfigured: missing SERVICE"
			}),
			want: []string{"ValidatorErrors" + dims + "=1 Count"},
		},
		{
			name: "error before the environment is known: the dimension still has a value",
			rec: with(func(r *Record) {
				r.Status, r.Environment, r.Pipeline = StatusError, "", ""
			}),
			want: []string{"ValidatorErrors{Pipeline=unknown,Environment=unknown}=1 Count"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			line := EMF(tc.rec, tc.prev)
			if got, want := strings.Join(extract(t, line), "\n"), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("metrics:\n%s\nwant:\n%s\nline: %s", got, want, line)
			}
			var meta emfLine
			_ = json.Unmarshal(line, &meta)
			if meta.AWS.Timestamp != tc.rec.Timestamp {
				t.Errorf("EMF timestamp %d, want the outcome's %d", meta.AWS.Timestamp, tc.rec.Timestamp)
			}
			if !bytes.Equal(line, EMF(tc.rec, tc.prev)) {
				t.Error("two lines for the same outcome differ")
			}
			var root map[string]any
			_ = json.Unmarshal(line, &root)
			if root["status"] != string(tc.rec.Status) || root["deploymentId"] != "exec-1" || root["imageTag"] != "abc123" {
				t.Errorf("line lacks the outcome's status, execution or image for Logs Insights: %s", line)
			}
		})
	}
}

func TestWriteEMFWritesOneLine(t *testing.T) {
	var buf bytes.Buffer
	rec := Record{Status: StatusError, Pipeline: "orders", Environment: "dev", Timestamp: 1}
	if err := WriteEMF(&buf, rec, Streak{}); err != nil {
		t.Fatal(err)
	}
	if s := buf.String(); strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") || !strings.HasPrefix(s, "{") {
		t.Errorf("want one JSON line, got %q", s)
	}
	buf.Reset()
	if err := WriteEMF(&buf, Record{Status: "SOMETHING_ELSE"}, Streak{}); err != nil || buf.Len() != 0 {
		t.Errorf("an unknown status wrote %q (err %v), want nothing", buf.String(), err)
	}
}

func TestClassifyRejection(t *testing.T) {
	tests := []struct {
		reason string
		want   RejectionReason
	}{
		{"image has findings at or above the threshold: CRITICAL 1, HIGH 2 (threshold HIGH)", ReasonVulnerable},
		{"image scan did not succeed: scan status FAILED: internal error", ReasonScanFailed},
		{"image scan did not succeed: scan status UNSUPPORTED_IMAGE: The operating system is not supported", ReasonUnscanned},
		{"image scan did not finish in time: image scan is IN_PROGRESS after 15m0s (limit 15m0s)", ReasonScanTimeout},
		{`image not found: no image tagged "abc" in repository cicd-orders`, ReasonImageMissing},
		{"Image Not Found: upper case too", ReasonImageMissing},
		{"something new", ReasonOther},
		{"", ReasonOther},
	}
	for _, tc := range tests {
		if got := ClassifyRejection(tc.reason); got != tc.want {
			t.Errorf("ClassifyRejection(%q) = %s, want %s", tc.reason, got, tc.want)
		}
	}
	seen := map[RejectionReason]bool{}
	for _, r := range RejectionReasons {
		if seen[r] {
			t.Errorf("class %s listed twice", r)
		}
		seen[r] = true
	}
	for _, p := range rejectionPatterns {
		if !seen[p.class] {
			t.Errorf("pattern class %s is not in RejectionReasons: the dashboard would not show it", p.class)
		}
	}
}
