package main

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"cicd/internal/patterntest"
)

func TestParseUserParameters(t *testing.T) {
	cases := []struct {
		in      string
		want    userParameters
		wantErr []string
	}{
		{in: `{"mode":"gate","imageTag":"abc123","executionId":"e-1"}`, want: userParameters{Mode: ModeGate, ImageTag: "abc123", ExecutionID: "e-1"}},
		{in: ` {"mode":"verify","imageTag":"v1.2.3_rc-1","executionId":"` + testExec + `"} `, want: userParameters{Mode: ModeVerify, ImageTag: "v1.2.3_rc-1", ExecutionID: testExec}},
		{in: `{"mode":"gate","imageTag":"abc","executionId":"e","extra":true}`, want: userParameters{Mode: ModeGate, ImageTag: "abc", ExecutionID: "e"}},
		{in: ``, wantErr: []string{"empty"}},
		{in: `   `, wantErr: []string{"empty"}},
		{in: `gate`, wantErr: []string{"not a JSON object"}},
		{in: `[]`, wantErr: []string{"not a JSON object"}},
		{in: `null`, wantErr: []string{"not a JSON object"}},
		{in: `{}`, wantErr: []string{"mode is missing", "imageTag is missing", "executionId is missing"}},
		{in: `{"mode":"gate","imageTag":"a","executionId":"e"} {}`, wantErr: []string{"text after the JSON object"}},
		{in: `{"mode":"GATE","imageTag":"a","executionId":"e"}`, want: userParameters{ImageTag: "a", ExecutionID: "e"}, wantErr: []string{`mode "GATE" is not gate or verify`}},
		{in: `{"mode":1,"imageTag":"a","executionId":"e"}`, want: userParameters{ImageTag: "a", ExecutionID: "e"}, wantErr: []string{"mode is not a string"}},
		{in: `{"mode":"gate","imageTag":"a","executionId":"e"}}`, wantErr: []string{"text after the JSON object"}},
		{in: `{"mode":"gate","imageTag":"a","executionId":"e"} x`, wantErr: []string{"text after the JSON object"}},
		{in: `{"mode":"gate","imageTag":"a","executionId":"e","mode":"verify"}`, wantErr: []string{`key "mode" appears twice`}},
		{in: `{"mode":"gate","imageTag":"a","executionId":"e","Mode":"verify"}`, wantErr: []string{`key "Mode" appears twice (also as "mode")`}},
		{in: `{"mode":"gate","x":1,"X":2,"imageTag":"a","executionId":"e"}`, wantErr: []string{`key "X" appears twice`}},
		{in: `{"MODE":"gate","imageTag":"a","executionId":"e"}`, want: userParameters{ImageTag: "a", ExecutionID: "e"}, wantErr: []string{`key "MODE" is spelled "mode"`, "mode is missing"}},
		{in: `{"mode":"gate","imageTag":null,"executionId":"e"}`, want: userParameters{Mode: ModeGate, ExecutionID: "e"}, wantErr: []string{"imageTag is missing"}},
		{in: `{"mode":"gate","imageTag":"a","executionId":["e"]}`, want: userParameters{Mode: ModeGate, ImageTag: "a"}, wantErr: []string{"executionId is not a string"}},
		{in: `{"mode":"gate","imageTag":"a","executionId":"e","pad":"` + strings.Repeat("x", maxParametersLen) + `"}`, wantErr: []string{"longer than"}},
		{in: `{"mode":"verify","imageTag":"a","executionId":"e","imageDigest":"` + testDigest + `","commitTime":"2026-11-25T11:50:00+01:00","environment":"prod",` +
			`"target":{"cluster":"apps","service":"orders","container":"web","account":"222222222222","region":"us-east-1","roleArn":"arn:aws:iam::222222222222:role/r"}}`,
			want: userParameters{Mode: ModeVerify, ImageTag: "a", ExecutionID: "e", ImageDigest: testDigest,
				CommitTime: time.Date(2026, 11, 25, 10, 50, 0, 0, time.UTC), Environment: "prod",
				Target: &targetParams{Cluster: "apps", Service: "orders", Container: "web", Account: "222222222222", Region: "us-east-1", RoleARN: "arn:aws:iam::222222222222:role/r"}}},
		{in: `{"mode":"verify","imageTag":"a","executionId":"e","target":{"cluster":"arn:aws:ecs:us-east-1:222222222222:cluster/apps","account":""}}`,
			want: userParameters{Mode: ModeVerify, ImageTag: "a", ExecutionID: "e", Target: &targetParams{Cluster: "arn:aws:ecs:us-east-1:222222222222:cluster/apps"}}},
		{in: `{"mode":"verify","imageTag":"a","executionId":"e","target":"apps"}`, want: userParameters{Mode: ModeVerify, ImageTag: "a", ExecutionID: "e"},
			wantErr: []string{"target: not a JSON object"}},
		{in: `{"mode":"verify","imageTag":"a","executionId":"e","target":{"account":"22","region":"mars","roleArn":"arn:aws:iam::1:user/u","cluster":"a b","container":7}}`,
			want:    userParameters{Mode: ModeVerify, ImageTag: "a", ExecutionID: "e", Target: &targetParams{}},
			wantErr: []string{`target.account "22" is not valid`, `target.region "mars" is not valid`, `target.roleArn`, `target.cluster "a b" is not valid`, "target.container is not a string"}},
		{in: `{"mode":"verify","imageTag":"a","executionId":"e","target":{"region":"eu-west-1","Region":"us-east-1"}}`,
			want: userParameters{Mode: ModeVerify, ImageTag: "a", ExecutionID: "e"}, wantErr: []string{`target: key "Region" appears twice`}},
		{in: `{"mode":"gate","imageTag":"a","executionId":"e","imageDigest":"sha256:ABC"}`, want: userParameters{Mode: ModeGate, ImageTag: "a", ExecutionID: "e"},
			wantErr: []string{`imageDigest "sha256:ABC" is not valid`}},
		{in: `{"mode":"gate","imageTag":"a","executionId":"e","commitTime":"#{SourceVariables.CommitterDate}"}`, want: userParameters{Mode: ModeGate, ImageTag: "a", ExecutionID: "e"},
			wantErr: []string{"commitTime is the unresolved pipeline variable"}},
		{in: `{"mode":"gate","imageTag":"a","executionId":"e","environment":"-dev"}`, want: userParameters{Mode: ModeGate, ImageTag: "a", ExecutionID: "e"},
			wantErr: []string{`environment "-dev" is not valid`}},
		{in: `{"mode":"gate","imageTag":"-bad","executionId":"e"}`, want: userParameters{Mode: ModeGate, ExecutionID: "e"}, wantErr: []string{`imageTag "-bad" is not valid`}},
		{in: `{"mode":"gate","imageTag":"a b","executionId":"e"}`, want: userParameters{Mode: ModeGate, ExecutionID: "e"}, wantErr: []string{"imageTag"}},
		{in: `{"mode":"gate","imageTag":"` + strings.Repeat("a", 129) + `","executionId":"e"}`, want: userParameters{Mode: ModeGate, ExecutionID: "e"}, wantErr: []string{"imageTag"}},
		{in: `{"mode":"gate","imageTag":"a","executionId":"#{codepipeline.PipelineExecutionId}"}`, want: userParameters{Mode: ModeGate, ImageTag: "a"}, wantErr: []string{"executionId is the unresolved pipeline variable"}},
		{in: `{"mode":"gate","imageTag":"a","executionId":"e\u0000x"}`, want: userParameters{Mode: ModeGate, ImageTag: "a"}, wantErr: []string{"executionId"}},
		{in: `{"mode":"gate","imageTag":"tag\nInjected: yes","executionId":"e"}`, want: userParameters{Mode: ModeGate, ExecutionID: "e"}, wantErr: []string{`"tag?Injected: yes"`}},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseUserParameters(tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseUserParameters() = %+v, want %+v", got, tc.want)
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				return
			}
			if !errors.Is(err, ErrBadParameters) {
				t.Fatalf("error %v, want ErrBadParameters", err)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if strings.ContainsAny(err.Error(), "\n\x00") {
				t.Errorf("error %q echoes control characters", err)
			}
		})
	}
}

func TestParseCommitTime(t *testing.T) {
	want := time.Date(2026, 11, 25, 11, 50, 0, 0, time.UTC)
	for _, in := range []string{"2026-11-25T11:50:00Z", "2026-11-25T12:50:00+01:00", "2026-11-25T11:50:00.000Z",
		"2026-11-25T11:50:00+0000", "2026-11-25 12:50:00 +0100", "Wed Nov 25 12:50:00 2026 +0100"} {
		if got, ok := parseCommitTime(in); !ok || !got.Equal(want) {
			t.Errorf("parseCommitTime(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "yesterday", "2026-11-25", "1969-12-31T23:59:59Z", "2201-01-01T00:00:00Z", "1795607400000"} {
		if got, ok := parseCommitTime(in); ok {
			t.Errorf("parseCommitTime(%q) = %v, want refused", in, got)
		}
	}
}

func TestParseEvent(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		wantID  string
		wantErr error
	}{
		{name: "a job", in: string(jobEventJSON(testJob, "p", "tok")), wantID: testJob},
		{name: "a job without data", in: `{"CodePipeline.job":{"id":"j-1"}}`, wantID: "j-1"},
		{name: "data of the wrong type", in: `{"CodePipeline.job":{"id":"j-1","data":[]}}`, wantID: "j-1", wantErr: ErrMalformedEvent},
		{name: "an id of the wrong type", in: `{"CodePipeline.job":{"id":7}}`, wantErr: ErrNotAJob},
		{name: "empty", in: ``, wantErr: ErrNotAJob},
		{name: "not JSON", in: `hello`, wantErr: ErrNotAJob},
		{name: "another event", in: `{"detail-type":"Scheduled Event"}`, wantErr: ErrNotAJob},
		{name: "a blank id", in: `{"CodePipeline.job":{"id":"   "}}`, wantErr: ErrNotAJob},
		// CodePipeline knows a job by its id exactly as written: trimmed, it
		// would name another job, which could then be ended in its place.
		{name: "an id with a space", in: `{"CodePipeline.job":{"id":"j-1 "}}`, wantErr: ErrNotAJob},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseEvent([]byte(tc.in))
			if got.ID != tc.wantID || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("parseEvent() = %q, %v; want %q, %v", got.ID, err, tc.wantID, tc.wantErr)
			}
		})
	}
	ev, _ := parseEvent(jobEventJSON(testJob, "p", "tok"))
	if ev.UserParameters != "p" || ev.ContinuationToken != "tok" {
		t.Errorf("parseEvent() = %+v", ev)
	}
}

func TestContinuation(t *testing.T) {
	since := testNow.Add(-90 * time.Second)
	tok := continuation{Mode: ModeVerify, Since: since.UnixMilli(), Attempt: 2}
	got, err := parseContinuation(tok.encode(), ModeVerify, testNow)
	if err != nil || got != tok {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if w := got.waited(testNow); w != 90*time.Second {
		t.Errorf("waited %s", w)
	}
	if w := got.waited(since.Add(-time.Hour)); w != 0 {
		t.Errorf("waited %s before it started", w)
	}
	// A little clock skew between containers is fine.
	skewed := continuation{Mode: ModeGate, Since: testNow.Add(time.Minute).UnixMilli(), Attempt: maxAttempts}
	if _, err := parseContinuation(skewed.encode(), ModeGate, testNow); err != nil {
		t.Errorf("a token a minute ahead with %d attempts: %v", maxAttempts, err)
	}
	future := strconv.FormatInt(testNow.Add(maxClockSkew+time.Second).UnixMilli(), 10)
	for _, bad := range []string{"", "x", "{}", `{"mode":"gate","since":1}`, `{"mode":"verify","since":-1}`,
		`{"mode":"verify","since":5,"attempt":-1}`, `{"mode":"verify","since":"5"}`, strings.Repeat(" ", maxTokenLen+1),
		`{"mode":"verify","since":` + future + `}`, `{"mode":"verify","since":5,"attempt":100001}`,
		`{"mode":"verify","since":5,"since":6}`, `{"mode":"verify","since":5,"Since":6}`, `{"mode":"verify","since":5,"extra":1}`,
		`{"mode":"verify","since":5} {}`, `{"mode":"verify","since":5.5}`} {
		if _, err := parseContinuation(bad, ModeVerify, testNow); !errors.Is(err, ErrBadContinuation) {
			t.Errorf("parseContinuation(%q) = %v, want ErrBadContinuation", bad, err)
		}
	}
}

func TestBlocking(t *testing.T) {
	counts := map[string]int32{"CRITICAL": 1, "HIGH": 0, "MEDIUM": 2, "LOW": 3, "INFORMATIONAL": 9, "UNDEFINED": 1, "UNTRIAGED": 4, "WEIRD": 5}
	cases := map[Severity]string{
		SeverityCritical: "CRITICAL 1",
		SeverityHigh:     "CRITICAL 1",
		SeverityMedium:   "CRITICAL 1, MEDIUM 2",
		SeverityLow:      "CRITICAL 1, MEDIUM 2, LOW 3, UNDEFINED 1, UNTRIAGED 4, WEIRD 5",
		SeverityNone:     "",
	}
	for sev, want := range cases {
		if got := sev.blocking(counts); got != want {
			t.Errorf("%s.blocking() = %q, want %q", sev, got, want)
		}
	}
	if got := SeverityLow.blocking(nil); got != "" {
		t.Errorf("blocking(nil) = %q", got)
	}
	if got := SeverityLow.blocking(map[string]int32{"INFORMATIONAL": 3, "LOW": -1}); got != "" {
		t.Errorf("INFORMATIONAL or a negative count blocks: %q", got)
	}
	if got := formatCounts(counts, nil); got != "CRITICAL 1, HIGH 0, MEDIUM 2, LOW 3, UNDEFINED 1, UNTRIAGED 4, INFORMATIONAL 9, WEIRD 5" {
		t.Errorf("formatCounts() = %q", got)
	}
}

func TestStatusOf(t *testing.T) {
	cases := map[error]Status{
		ErrImageNotFound: StatusRejected, ErrScanFailed: StatusRejected, ErrScanTimeout: StatusRejected, ErrVulnerable: StatusRejected,
		ErrRolloutFailed: StatusDeployFailed, ErrRolloutTimeout: StatusDeployFailed, ErrImageMismatch: StatusDeployFailed,
		ErrConfig: StatusError, ErrHistory: StatusError, ErrBadParameters: StatusError, errors.New("boom"): StatusError,
	}
	for err, want := range cases {
		if got := statusOf(errorsWrap(err)); got != want {
			t.Errorf("statusOf(%v) = %s, want %s", err, got, want)
		}
	}
}

func errorsWrap(err error) error { return errors.Join(errors.New("context"), err) }

func TestRunsImage(t *testing.T) {
	cases := []struct {
		image, digest string
		want          bool
	}{
		{testRepoURI + ":" + testTag, "", true},
		{testRepoURI + ":" + testTag, testDigest, true},
		{testRepoURI + "@" + testDigest, testDigest, true},
		{testRepoURI + ":" + testTag + "@" + testDigest, testDigest, true},
		{testRepoURI + "@" + testDigest, "", false},
		{testRepoURI + ":" + testTag + "x", "", false},
		{testRepoURI + "-other:" + testTag, "", false},
		{"", "", false},
	}
	for _, tc := range cases {
		if got := runsImage(tc.image, testRepoURI, testTag, tc.digest); got != tc.want {
			t.Errorf("runsImage(%q, digest %q) = %v", tc.image, tc.digest, got)
		}
	}
}

// Each bounded expression accepts exactly what the counted repetition it
// stands for accepts, and captures the same: at, under and over each limit,
// and on random values, mostly of the allowed characters.
func TestBoundedIsTheCountedRepetition(t *testing.T) {
	const (
		id          = "aZ09_.:-"
		ecs         = "aZ09_-"
		ecsArn      = "arn:aws:ecs:eu-west-1:123456789012:service/"
		role        = "arn:aws:iam::123456789012:role/"
		roleCounted = `^arn:aws[a-z-]*:iam::(\d{12}):role/[A-Za-z0-9+=,.@_/-]{1,512}$`
	)
	cases := []struct {
		name    string
		m       matcher
		counted string
		prefix  string
		allowed string
	}{
		{"job id", validJobID, `^[A-Za-z0-9_.:-]{1,128}$`, "", id},
		{"execution id", validExecutionID, `^[A-Za-z0-9_.:-]{1,128}$`, "", id},
		{"tag", validTag, `^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`, "", "aZ09_.-"},
		{"environment", validEnvironment, `^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$`, "", "a09-"},
		{"container", validContainer, `^[A-Za-z0-9_-]{1,255}$`, "", ecs},
		{"ECS name", validECSName, `^([A-Za-z0-9_-]{1,255}|arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:(cluster|service)/[A-Za-z0-9_/-]{1,512})$`, "", ecs},
		{"ECS ARN", validECSName, `^([A-Za-z0-9_-]{1,255}|arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:(cluster|service)/[A-Za-z0-9_/-]{1,512})$`, ecsArn, ecs + "/"},
		{"role ARN", validRoleARN, roleCounted, role, "aZ09+=,.@_/-"},
	}
	rng := rand.New(rand.NewPCG(17, 2026))
	for _, tc := range cases {
		value := func(n int) string {
			var b strings.Builder
			b.WriteString(tc.prefix)
			for range n {
				if rng.IntN(40) == 0 {
					b.WriteByte(" #A:/"[rng.IntN(5)])
				} else {
					b.WriteByte(tc.allowed[rng.IntN(len(tc.allowed))])
				}
			}
			return b.String()
		}
		var values []string
		for _, n := range []int{0, 1, 2, 63, 64, 65, 127, 128, 129, 254, 255, 256, 511, 512, 513} {
			values = append(values, tc.prefix+strings.Repeat(tc.allowed[:1], n), value(n))
		}
		for range 300 {
			values = append(values, value(rng.IntN(530)))
		}
		patterntest.SameAsCounted(t, tc.name, tc.m, tc.counted, values)
	}
	for _, v := range []string{role + "deploy", role + strings.Repeat("a", 513), "arn:aws-cn:iam::210987654321:role/path/deploy"} {
		if got, want := validRoleARN.FindStringSubmatch(v), regexp.MustCompile(roleCounted).FindStringSubmatch(v); (got == nil) != (want == nil) || (got != nil && got[1] != want[1]) {
			t.Errorf("role ARN %q: groups %q, the counted expression's %q", v, got, want)
		}
	}
}
