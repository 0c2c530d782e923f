package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// Fuzz targets: the seeds run as ordinary tests; CI also runs each briefly
// with go test -run='^$' -fuzz=FuzzX -fuzztime=25000x ./lambda/validator.

func eventSeeds() [][]byte {
	return [][]byte{
		jobEventJSON(testJob, params("gate", testTag, testExec), ""),
		jobEventJSON(testJob, params("verify", testTag, testExec), tokenAt(ModeVerify, testNow, 2)),
		jobEventJSON(testJob, `{"mode":"gate"}`, "garbage"),
		jobEventJSON(testJob, "", ""),
		jobEventJSON("", "", ""),
		[]byte(`{"CodePipeline.job":{"id":"j","data":{"actionConfiguration":{"configuration":{"UserParameters":{"mode":"gate"}}}}}}`),
		[]byte(`{"CodePipeline.job":{"id":"j","data":{"continuationToken":{"since":1}}}}`),
		[]byte(`{"CodePipeline.job":null}`),
		[]byte(`{"CodePipeline.job":"x"}`),
		[]byte(`{"Records":[]}`),
		[]byte(`[]`), []byte(`null`), []byte(``), []byte(`{`), []byte("\xff\xfe"),
	}
}

func FuzzParseEvent(f *testing.F) {
	for _, s := range eventSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := parseEvent(raw)
		if ev.ID == "" {
			if !errors.Is(err, ErrNotAJob) {
				t.Fatalf("no job id but error %v", err)
			}
			return
		}
		if !validJobID.MatchString(ev.ID) {
			t.Fatalf("invalid job id %q accepted", ev.ID)
		}
		if err != nil && !errors.Is(err, ErrMalformedEvent) {
			t.Fatalf("job %q with error %v", ev.ID, err)
		}
	})
}

func FuzzParseUserParameters(f *testing.F) {
	for _, s := range []string{
		params("gate", testTag, testExec), params("verify", "v1.0", "e"), params("deploy", "", ""),
		`{"mode":"gate","imageTag":"#{BuildVariables.IMAGE_TAG}","executionId":"#{codepipeline.PipelineExecutionId}"}`,
		`{}`, `[]`, `null`, `"gate"`, ``, `{"mode":"gate"} trailing`, `{"mode":"gate","mode":"verify"}`,
		`{"imageTag":"` + strings.Repeat("a", 200) + `"}`, "{\"imageTag\":\"a\u0000\"}", `{"mode":{"x":1}}`,
		`{"mode":"verify","imageTag":"a","executionId":"e","imageDigest":"sha256:` + strings.Repeat("0", 64) + `","commitTime":"2026-11-25T11:50:00Z",` +
			`"environment":"prod","target":{"cluster":"c","service":"s","account":"222222222222","region":"eu-west-1","roleArn":"arn:aws:iam::222222222222:role/r"}}`,
		`{"mode":"verify","imageTag":"a","executionId":"e","target":{"target":{}}}`, `{"target":[]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		up, err := parseUserParameters(s)
		if up.Mode != "" && up.Mode != ModeGate && up.Mode != ModeVerify {
			t.Fatalf("mode %q accepted", up.Mode)
		}
		if up.ImageTag != "" && !validTag.MatchString(up.ImageTag) {
			t.Fatalf("tag %q accepted", up.ImageTag)
		}
		if up.ExecutionID != "" && !validExecutionID.MatchString(up.ExecutionID) {
			t.Fatalf("execution id %q accepted", up.ExecutionID)
		}
		if up.ImageDigest != "" && !validDigest.MatchString(up.ImageDigest) {
			t.Fatalf("digest %q accepted", up.ImageDigest)
		}
		if up.Environment != "" && !validEnvironment.MatchString(up.Environment) {
			t.Fatalf("environment %q accepted", up.Environment)
		}
		if y := up.CommitTime.Year(); !up.CommitTime.IsZero() && (y < 1970 || y > 2200) {
			t.Fatalf("commit time %v accepted", up.CommitTime)
		}
		if tp := up.Target; tp != nil {
			for _, f := range []struct {
				v  string
				re matcher
			}{{tp.Cluster, validECSName}, {tp.Service, validECSName}, {tp.Container, validContainer},
				{tp.Account, validAccount}, {tp.Region, validRegion}, {tp.RoleARN, validRoleARN}} {
				if f.v != "" && !f.re.MatchString(f.v) {
					t.Fatalf("target field %q accepted", f.v)
				}
			}
		}
		if err == nil && (up.Mode == "" || up.ImageTag == "" || up.ExecutionID == "") {
			t.Fatalf("%+v accepted with a field missing", up)
		}
		if err != nil && (!errors.Is(err, ErrBadParameters) || strings.ContainsAny(err.Error(), "\n\r\x00")) {
			t.Fatalf("error %q", err)
		}
		if _, err := parseContinuation(s, ModeGate, testNow); err != nil && !errors.Is(err, ErrBadContinuation) {
			t.Fatalf("continuation error %v", err)
		}
	})
}

// FuzzHandle runs whole invocations on fakes: whatever the event, a job is
// ended exactly once, a non-job touches nothing, and nothing panics.
func FuzzHandle(f *testing.F) {
	for i, s := range eventSeeds() {
		f.Add(s, uint8(i))
	}
	f.Fuzz(func(t *testing.T, raw []byte, knobs uint8) {
		w := newWorld()
		// The knobs pick the answers of the fakes.
		switch knobs % 4 {
		case 0:
			w.images.out = imageOut(ecrtypes.ScanStatusComplete)
		case 1:
			w.images.out = imageOut(ecrtypes.ScanStatusInProgress)
		case 2:
			w.images.err = &ecrtypes.ImageNotFoundException{}
		}
		if knobs&4 != 0 {
			w.findings.out = findingsOut(ecrtypes.ScanStatusComplete, map[string]int32{"CRITICAL": 1})
		}
		if knobs&8 != 0 {
			w.services.out = servicesOut(deployment("d", "PRIMARY", tdNew, ecstypes.DeploymentRolloutStateCompleted, 1, 1, ""))
			w.taskDefs.defs = taskDefs(map[string]string{tdNew: testRepoURI + ":" + testTag})
		}
		if knobs&16 != 0 {
			w.table.resendFirst = true
		}
		if knobs&32 != 0 {
			w.topic.err = errors.New("down")
		}
		w.now = testNow.Add(time.Duration(knobs) * time.Minute)

		err := w.handle(context.Background(), raw)
		ev, _ := parseEvent(raw)
		results := len(w.pipeline.successes) + len(w.pipeline.failures)
		switch {
		case ev.ID == "" && (err == nil || w.awsCalls() != 0):
			t.Fatalf("non-job: err %v, %d AWS calls", err, w.awsCalls())
		case ev.ID != "" && results != 1:
			t.Fatalf("job ended %d times", results)
		case ev.ID != "" && err != nil:
			t.Fatalf("job ended but Handle() = %v", err)
		case strings.Contains(w.logs.String(), `"msg":"panic"`):
			t.Fatalf("recovered panic: %s", w.logs.String())
		}
	})
}

// fuzzPage is one answer of DescribeImageScanFindings, as FuzzScanFindings
// builds it from its input: the page served for Token, pointing to Next.
type fuzzPage struct {
	Token     string
	Status    string
	Counts    map[string]int32
	Basic     []string // severities of basic findings
	Enhanced  []*string
	Next      string
	Completed bool
	Absent    bool // no imageScanFindings at all
}

// referenceWeight is how a severity label weighs, written independently of
// outcome.go from the documented rule.
func referenceWeight(label string) int {
	switch strings.ToUpper(strings.TrimSpace(label)) {
	case "CRITICAL":
		return 4
	case "HIGH":
		return 3
	case "MEDIUM":
		return 2
	case "INFORMATIONAL":
		return 0
	default: // LOW, UNDEFINED, UNTRIAGED, none, unknown
		return 1
	}
}

// FuzzScanFindings runs the gate on findings answers built from the input
// (pages linked by nextToken, loops and dead ends included, basic and
// enhanced findings, counts or none). Whatever they are, the gate ends,
// reads at most maxFindingsPages pages, never passes an image with a
// finding at or above the threshold on any page it could reach, and records
// only short printable severity labels.
func FuzzScanFindings(f *testing.F) {
	for _, s := range []string{
		`[{"Status":"COMPLETE","Counts":{"HIGH":1},"Completed":true}]`,
		`[{"Status":"ACTIVE","Enhanced":["CRITICAL","low",null,""],"Completed":true}]`,
		`[{"Status":"ACTIVE"}]`,
		`[{"Status":"ACTIVE","Absent":true}]`,
		`[{"Status":"COMPLETE","Basic":["LOW"],"Next":"a"},{"Token":"a","Status":"COMPLETE","Basic":["CRITICAL"]}]`,
		`[{"Status":"COMPLETE","Basic":["LOW"],"Next":"a"},{"Token":"a","Status":"COMPLETE","Next":"a"}]`,
		`[{"Status":"COMPLETE","Next":"missing"}]`,
		`[{"Status":"UNSUPPORTED_IMAGE"}]`,
		`[{"Status":"COMPLETE","Counts":{"LOW":1},"Enhanced":["HIGH"]}]`,
		`[{"Status":"COMPLETE","Counts":{"critical":2,"INFORMATIONAL":-4}}]`,
		`[{"Status":"IN_PROGRESS"}]`,
		`[]`,
	} {
		for threshold := range uint8(5) {
			f.Add([]byte(s), threshold)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, knobs uint8) {
		var pages []fuzzPage
		if json.Unmarshal(data, &pages) != nil || len(pages) == 0 {
			return
		}
		served := map[string]*ecr.DescribeImageScanFindingsOutput{}
		byToken := map[string]fuzzPage{}
		for _, p := range pages {
			if _, dup := byToken[p.Token]; dup {
				continue
			}
			byToken[p.Token] = p
			out := &ecr.DescribeImageScanFindingsOutput{ImageScanStatus: &ecrtypes.ImageScanStatus{Status: ecrtypes.ScanStatus(p.Status)}}
			if p.Next != "" {
				out.NextToken = aws.String(p.Next)
			}
			if !p.Absent {
				fs := &ecrtypes.ImageScanFindings{FindingSeverityCounts: p.Counts}
				if p.Completed {
					fs.ImageScanCompletedAt = aws.Time(testNow)
				}
				for _, sev := range p.Basic {
					fs.Findings = append(fs.Findings, ecrtypes.ImageScanFinding{Severity: ecrtypes.FindingSeverity(sev)})
				}
				for _, sev := range p.Enhanced {
					fs.EnhancedFindings = append(fs.EnhancedFindings, ecrtypes.EnhancedImageScanFinding{Severity: sev})
				}
				out.ImageScanFindings = fs
			}
			served[p.Token] = out
		}
		if _, ok := served[""]; !ok {
			return
		}
		thresholds := []Severity{SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow, SeverityNone}
		threshold := thresholds[int(knobs)%len(thresholds)]
		unscanned := UnscannedReject
		if knobs&8 != 0 {
			unscanned = UnscannedAllow
		}
		images := &fakeImages{out: imageOut("")}
		findings := &fakeFindings{pages: served}
		g := &Gate{Images: images, Findings: findings, Repository: "r", Threshold: threshold, Unscanned: unscanned, MaxWait: time.Hour}
		res, err := g.Check(context.Background(), testTag, "", 0)

		if len(findings.calls) > maxFindingsPages {
			t.Fatalf("%d findings pages read, limit %d", len(findings.calls), maxFindingsPages)
		}
		for sev := range res.Findings {
			if len(sev) > 32 || strings.ContainsFunc(sev, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
				t.Fatalf("severity label %q recorded", sev)
			}
		}
		if err != nil || res.Status != StatusValidated {
			return
		}
		// A pass: the scan finished, or could not be done and that is allowed.
		first := byToken[""]
		switch ecrtypes.ScanStatus(first.Status) {
		case ecrtypes.ScanStatusComplete, ecrtypes.ScanStatusActive:
		case ecrtypes.ScanStatusUnsupportedImage:
			if unscanned != UnscannedAllow || res.Notice == "" {
				t.Fatalf("an unscanned image passed without UNSCANNED_IMAGES=allow and a notice")
			}
			return
		default:
			t.Fatalf("passed on scan status %q", first.Status)
		}
		if first.Absent {
			t.Fatal("passed with no findings answer at all")
		}
		if threshold == SeverityNone {
			return
		}
		limit := referenceWeight(string(threshold))
		for sev, n := range first.Counts {
			if n > 0 && referenceWeight(sev) >= limit && referenceWeight(sev) > 0 {
				t.Fatalf("passed with %s %d at threshold %s", sev, n, threshold)
			}
		}
		seen := map[string]bool{}
		for token, first := "", true; first || token != ""; first = false {
			p, ok := byToken[token]
			if !ok || seen[token] {
				break
			}
			seen[token] = true
			var labels []string
			labels = append(labels, p.Basic...)
			for _, e := range p.Enhanced {
				labels = append(labels, aws.ToString(e))
			}
			for _, sev := range labels {
				if w := referenceWeight(sev); w > 0 && w >= limit {
					t.Fatalf("passed with a %q finding on page %q at threshold %s", sev, token, threshold)
				}
			}
			token = p.Next
		}
	})
}
