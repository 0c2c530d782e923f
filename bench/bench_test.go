package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cicd/internal/gobundle"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and a parenthesis, as /proc allows.
	line := "4242 (node (v20) x) S 1 4240 4240 0 -1 4194304 100 0 0 0 5 1 0 0 20 0 11 0 123 1000000 2560 18446744073709551615"
	pgrp, rss, ok := parseStat(line)
	if !ok || pgrp != 4240 || rss != 2560 {
		t.Errorf("parseStat = %d %d %v, want 4240 2560 true", pgrp, rss, ok)
	}
	if _, _, ok := parseStat("garbage"); ok {
		t.Error("parseStat accepted garbage")
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// The size is measured on the binary the stack deploys: the environment and
// flags come from the bundler.
func TestBundlingFlags(t *testing.T) {
	env, flags := gobundle.Env(), gobundle.Args("lambda/validator", "bootstrap")
	if env["GOARCH"] != "arm64" || env["CGO_ENABLED"] != "0" || env["GOOS"] != "linux" {
		t.Errorf("env %v", env)
	}
	if got := strings.Join(flags, " "); !strings.Contains(got, "-trimpath") || !strings.Contains(got, "lambda.norpc") {
		t.Errorf("flags %q", got)
	}
}

func TestWriteReportKeepsTheRest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "B.md")
	if err := writeReport(path, "one\n"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	text := strings.Replace(string(data), "# Benchmarks\n", "# Benchmarks\n\nintro\n", 1) + "\n## Notes\nkept\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(path, "two\n"); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(path)
	got := string(data)
	if strings.Contains(got, "one") || !strings.Contains(got, "two") || !strings.Contains(got, "intro") || !strings.Contains(got, "kept") {
		t.Errorf("report:\n%s", got)
	}
}

func TestReadSynthLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	log := ".\tcicd-pipeline-dev\taa\n.\tcicd-pipeline-prod\tbb\n.\tcicd-pipeline-dev\taa\nconstructs/x\tTest\tcc\n"
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readSynthLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if got["."] != (pkgSynths{Calls: 3, Distinct: 2}) || got["constructs/x"] != (pkgSynths{Calls: 1, Distinct: 1}) {
		t.Errorf("readSynthLog = %v", got)
	}
}

// The scale benchmark's apps: n services made from the example's first
// pipeline, distinct names, three environments each.
func TestScalePipelines(t *testing.T) {
	text, err := scalePipelines("..", 20)
	if err != nil {
		t.Fatal(err)
	}
	var pipelines []struct {
		Service      string
		Source       struct{ Repository string }
		Environments []struct{ Name, Service string }
	}
	if err := json.Unmarshal([]byte(text), &pipelines); err != nil {
		t.Fatal(err)
	}
	if len(pipelines) != 20 {
		t.Fatalf("%d pipelines, want 20", len(pipelines))
	}
	seen := map[string]bool{}
	for _, p := range pipelines {
		if seen[p.Service] || p.Service == "" || p.Source.Repository != "octo-org/"+p.Service {
			t.Errorf("pipeline %+v: want a distinct service with its own repository", p)
		}
		seen[p.Service] = true
		if len(p.Environments) != 3 {
			t.Errorf("%s: %d environments, want 3", p.Service, len(p.Environments))
		}
		for _, e := range p.Environments {
			if e.Service != p.Service {
				t.Errorf("%s: environment %s deploys service %s", p.Service, e.Name, e.Service)
			}
		}
	}
}

func TestParseScale(t *testing.T) {
	if got, err := parseScale("1, 5,20"); err != nil || fmt.Sprint(got) != "[1 5 20]" {
		t.Errorf("parseScale = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "5,1", "1,1", "x"} {
		if _, err := parseScale(bad); err == nil {
			t.Errorf("parseScale(%q) accepted", bad)
		}
	}
}

// The report's scale figures: per-resource ratios, the marginal cost and the
// cost per added pipeline, from runs with known times.
func TestScaleFigures(t *testing.T) {
	runs := func(wall float64, resources int) []synthRun {
		s := synthRun{run: run{Wall: time.Duration(wall * float64(time.Second))}, Resources: resources, Stacks: 1, Assets: 1}
		return []synthRun{s, s}
	}
	// The peak memory comes from the sampled runs (Memory), not from the
	// timed rounds, which run without the sampler.
	sampled := func(rss int64) []synthRun {
		return []synthRun{{run: run{TreeRSS: rss << 20, TreePSS: (rss - 100) << 20}}}
	}
	r := &results{Scale: []int{1, 5, 20}, ScaleRounds: 2, Synth: map[string][]synthRun{
		"go@1": runs(5, 50), "go@5": runs(9, 250), "go@20": runs(29, 1000),
		"ts@1": runs(4, 40), "ts@5": runs(8, 200), "ts@20": runs(23, 800),
	}, Memory: map[string][]synthRun{"go@1": sampled(900), "go@20": sampled(1400)}}
	if m, pass, ok := r.scalePeak(0, rssTarget); !ok || !pass || m != "900 MiB at 1 pipelines (PSS 800 MiB)" {
		t.Errorf("peak at 1 pipeline: %q %v %v, want 900 MiB, a pass", m, pass, ok)
	}
	if m, pass, ok := r.scalePeak(2, rssTarget); !ok || pass || !strings.HasPrefix(m, "1400 MiB at 20 pipelines") {
		t.Errorf("peak at 20 pipelines against 1 GiB: %q %v %v, want 1400 MiB, a miss", m, pass, ok)
	}
	r.ScaleTargets = []synthTarget{{Key: "go@20", Label: "Go, 20 pipelines", Pipelines: 20}, {Key: "ts@20", Label: "TypeScript, 20 stacks", Pipelines: 20}}
	if m, pass, ok := r.scaleRatio(0); !ok || !pass || !strings.HasPrefix(m, "1.00x") {
		t.Errorf("ratio at 1 pipeline: %q %v %v, want 1.00x, a pass", m, pass, ok)
	}
	if x, ok := r.marginalRatio(); !ok || math.Abs(x-(24.0/950)/(19.0/760)) > 1e-9 {
		t.Errorf("marginal ratio %v", x)
	}
	steps := r.perPipeline("go")
	if len(steps) != 2 || steps[0].cost != 1 || math.Abs(steps[1].cost-20.0/15) > 1e-9 {
		t.Errorf("cost per pipeline %+v, want 1 s then 1.33 s", steps)
	}
	// Of the synth, aws-cdk-lib's synthesis: 1 s then 30 s in Go (30.53 ms
	// for each of 950 added resources), 1 s then 5 s in TypeScript (5.26 ms
	// for each of 760), where the marginal target allows Go 1.10 * 25 ms.
	for key, synth := range map[string]float64{"go@1": 1000, "go@20": 30000} {
		for i := range r.Synth[key] {
			r.Synth[key][i].App = map[string]float64{"synth": synth}
		}
	}
	for key, synth := range map[string]float64{"ts@1": 1000, "ts@20": 5000} {
		for i := range r.Synth[key] {
			r.Synth[key][i].Counters = map[string]float64{"phase:Synthesis": synth}
		}
	}
	report := render(r)
	for _, want := range []string{
		"| aws-cdk-lib's synthesis (Go: `app.Synth`; `phase:Synthesis`) | 1000 | 1000 | - | - | 30000 | 5000 | 30.53 | 5.26 |",
		"costs the Go app 30.53 ms and the TypeScript twin 5.26 ms. The marginal target allows the Go app 27.50 ms a resource for its whole synth (1.10x TypeScript's 25.00 ms above): the synthesis of the Go app's resources alone exceeds it",
		"| Go, 20 pipelines | 29.00 s |",
		"| 1 at 1 pipelines, 1 at 5 pipelines, 1 at 20 pipelines | 1 | **pass** |",
		"| Go synth time per added pipeline, in the last step of the scale benchmark / in the first | 1.33x",
		"| Go | 5 | 20 | 1.33 |",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
}
