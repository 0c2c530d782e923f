package main

import (
	"cmp"
	"fmt"
	"os"
	"sort"
	"strings"
)

// The generated part of BENCHMARKS.md lies between these lines; the rest of
// the file is written by hand and kept.
const (
	beginMarker = "<!-- bench/run: generated from here -->"
	endMarker   = "<!-- bench/run: generated up to here -->"
)

// Targets.
const (
	synthRatioTarget    = 1.10 // Go synth time per resource / TypeScript's
	marginalRatioTarget = 1.10 // Go's cost of one more resource / TypeScript's
	testWallTarget      = 60.0 // seconds, warm, on 2 cores
	bootstrapGuard      = 14e6 // bytes: TestBootstrapSizeGuard (constructs/validator_test.go)
	initTarget          = 25.0 // ms
	warmTarget          = 5.0  // ms
	rssTarget           = 1 << 30
	rssScaleTarget      = 3 << 29 // 1.5 GiB, at the largest pipeline count
)

func verdict(ok bool) string {
	if ok {
		return "**pass**"
	}
	return "**miss**"
}

// column is one column of a generated table: its heading and how a row
// fills its cell.
type column[T any] struct {
	head string
	cell func(T) string
}

func writeTable[T any](w *strings.Builder, cols []column[T], rows []T) {
	for _, c := range cols {
		w.WriteString("| " + c.head + " ")
	}
	w.WriteString("|\n" + strings.Repeat("|---", len(cols)) + "|\n")
	for _, row := range rows {
		for _, c := range cols {
			w.WriteString("| " + c.cell(row) + " ")
		}
		w.WriteString("|\n")
	}
}

// section is one part of the report; it writes nothing when its part was
// not measured.
type section func(w *strings.Builder, r *results)

var sections = []section{machineSection, targetSection, synthSection, scaleSection, breakdownSection, testSection, lambdaSection}

func render(r *results) string {
	var w strings.Builder
	for _, s := range sections {
		s(&w, r)
	}
	return w.String()
}

func machineSection(w *strings.Builder, r *results) {
	m := r.Machine
	fmt.Fprintf(w, "Measured %s UTC by `bench/run --rounds %d", r.Started.Format("2006-01-02 15:04"), r.Rounds)
	if r.ScaleRounds > 0 {
		fmt.Fprintf(w, " --scale-rounds %d", r.ScaleRounds)
	}
	fmt.Fprintf(w, "` (%.0f s in all).\n\n", r.Finished.Sub(r.Started).Seconds())
	libs := strings.TrimPrefix(m.GoLib, "v") + " (aws-cdk-go)"
	if m.TSLib != "" {
		libs += ", " + m.TSLib + " (TypeScript twin)"
	}
	type kv struct{ k, v string }
	writeTable(w, []column[kv]{{"machine", func(x kv) string { return x.k }}, {"", func(x kv) string { return x.v }}}, []kv{
		{"CPU", fmt.Sprintf("%s, %s cores, %s RAM", m.CPU, m.Cores, m.RAM)},
		{"load average (1, 5, 15 min)", m.LoadStart + " at the start, " + m.LoadEnd + " at the end"},
		{"Go", m.Go}, {"Node.js", m.Node}, {"CDK CLI", m.CLI}, {"aws-cdk-lib", libs},
	})
}

// target is one row of the targets table: judge says what was measured and
// whether it meets goal; ok false leaves the row out (not measured).
type target struct {
	what, goal string
	judge      func(r *results) (measured string, pass, ok bool)
}

var targets = []target{
	{"synth time per synthesized resource, default app, Go / TypeScript (median of per-round ratios)", "<= 1.10x", func(r *results) (string, bool, bool) {
		g, t := r.Synth["go"], r.Synth["ts"]
		if len(g) == 0 || len(t) == 0 {
			return "", false, false
		}
		x := median(ratios(g, t, true))
		return fmt.Sprintf("%.2fx (whole synth %.2fx; %d vs %d resources)", x, median(ratios(g, t, false)), g[0].Resources, t[0].Resources), x <= synthRatioTarget, true
	}},
	{"synth time per synthesized resource, smallest app of the scale benchmark, Go / TypeScript", "<= 1.10x", func(r *results) (string, bool, bool) {
		return r.scaleRatio(0)
	}},
	{"synth time per synthesized resource, largest app of the scale benchmark, Go / TypeScript", "<= 1.10x", func(r *results) (string, bool, bool) {
		return r.scaleRatio(len(r.Scale) - 1)
	}},
	{"marginal synth time of one more resource, smallest to largest app, Go / TypeScript", "<= 1.10x", func(r *results) (string, bool, bool) {
		x, ok := r.marginalRatio()
		if !ok {
			return "", false, false
		}
		return fmt.Sprintf("%.2fx", x), x <= marginalRatioTarget, true
	}},
	{"Go synth time per added pipeline, in the last step of the scale benchmark / in the first", "<= 1.00x", func(r *results) (string, bool, bool) {
		c := r.perPipeline("go")
		if len(c) < 2 {
			return "", false, false
		}
		first, last := c[0], c[len(c)-1]
		return fmt.Sprintf("%.2fx (%.2f s per pipeline from %d to %d, %.2f s from %d to %d)", last.cost/first.cost,
			last.cost, last.from, last.to, first.cost, first.from, first.to), last.cost <= first.cost, true
	}},
	{"synth peak RSS, whole process tree, smallest app of the scale benchmark (its sampled synth)", "<= 1 GiB", func(r *results) (string, bool, bool) {
		return r.scalePeak(0, rssTarget)
	}},
	{"synth peak RSS, whole process tree, largest app of the scale benchmark (its sampled synth)", "<= 1.5 GiB", func(r *results) (string, bool, bool) {
		return r.scalePeak(len(r.Scale)-1, rssScaleTarget)
	}},
	{"synth peak RSS, whole process tree (npx, CLI, app, jsii kernel) summed, highest of all default-app Go synths", "<= 1 GiB", func(r *results) (string, bool, bool) {
		var runs []synthRun
		for _, k := range []string{"go", "gocold", "gobin"} {
			runs = append(runs, r.Memory[k]...)
		}
		if len(runs) == 0 {
			return "", false, false
		}
		_, hi := minMax(collect(runs, func(s synthRun) float64 { return float64(s.TreeRSS) }))
		_, pss := minMax(collect(runs, func(s synthRun) float64 { return float64(s.TreePSS) }))
		return fmt.Sprintf("%.0f MiB (PSS %.0f MiB)", hi/(1<<20), pss/(1<<20)), hi <= rssTarget, true
	}},
	{"validator assets per synth, every app of the scale benchmark (the validator built once, one asset hash)", "1", func(r *results) (string, bool, bool) {
		var counts []string
		pass := true
		for _, n := range r.Scale {
			if runs := r.Synth[scaleKey("go", n)]; len(runs) > 0 {
				counts = append(counts, fmt.Sprintf("%d at %d pipelines", runs[0].Assets, n))
				pass = pass && runs[0].Assets == 1
			}
		}
		return strings.Join(counts, ", "), pass, len(counts) > 0
	}},
	{"`go test ./...`, warm build cache, `-count=1`", "<= 60 s on 2 cores, each variant once per binary", func(r *results) (string, bool, bool) {
		if len(r.Tests) == 0 {
			return "", false, false
		}
		wall := median(walls(r.Tests))
		once := true
		for _, t := range r.Tests {
			for _, s := range t.Synths {
				once = once && s.Calls == s.Distinct
			}
		}
		note := fmt.Sprintf("%.1f s", wall)
		if r.Machine.Cores != "2" {
			note += " (on " + r.Machine.Cores + " cores, not 2)"
		}
		if once {
			note += "; every stack synthesized once per test binary"
		} else {
			note += "; some stack synthesized more than once in a test binary"
		}
		return note, wall <= testWallTarget && once && len(r.TestFailures) == 0, true
	}},
	{"validator `bootstrap`, linux/arm64, bundling flags (a regression guard; the 8 MB target is retired)", "<= 14 MB", func(r *results) (string, bool, bool) {
		b := r.Arm64
		return fmt.Sprintf("%.2f MB (%d bytes; %.2f MB zipped)", float64(b.Bytes)/1e6, b.Bytes, float64(b.Zipped)/1e6), b.Bytes <= bootstrapGuard, b.Bytes > 0
	}},
	{"validator init under the emulator (INIT REPORT, linux/amd64)", "<= 25 ms", func(r *results) (string, bool, bool) {
		x := median(emulatorFigure(r, func(e emulatorRun) float64 { return e.InitMs }))
		return fmt.Sprintf("%.1f ms", x), x <= initTarget, len(r.Emulator) > 0
	}},
	{"validator warm invocation, passing gate against instant local fakes (INVOKE RTDONE)", "<= 5 ms", func(r *results) (string, bool, bool) {
		x := median(emulatorFigure(r, func(e emulatorRun) float64 { return median(e.WarmMs) }))
		return fmt.Sprintf("%.2f ms", x), x <= warmTarget, len(r.Emulator) > 0
	}},
}

func targetSection(w *strings.Builder, r *results) {
	type row struct{ what, measured, goal, result string }
	var rows []row
	for _, t := range targets {
		if m, pass, ok := t.judge(r); ok {
			rows = append(rows, row{t.what, m, t.goal, verdict(pass)})
		}
	}
	if len(r.Emulator) == 0 && r.EmulatorSkipped != "" {
		rows = append(rows, row{"validator init and warm invocation", "not measured: " + r.EmulatorSkipped, "<= 25 ms, <= 5 ms", "n/a"})
	}
	w.WriteString("\n### Targets\n\n")
	writeTable(w, []column[row]{
		{"figure", func(x row) string { return x.what }},
		{"measured", func(x row) string { return x.measured }},
		{"target", func(x row) string { return x.goal }},
		{"", func(x row) string { return x.result }},
	}, rows)
}

// synthColumns are the columns of a table of synth commands; vs is the
// TypeScript runs each row is compared with (none: no comparison).
func synthColumns(r *results, vs func(t synthTarget) []synthRun) []column[synthTarget] {
	runs := func(t synthTarget) []synthRun { return r.Synth[t.Key] }
	memory := func(t synthTarget) []synthRun { return r.Memory[t.Key] }
	wall := func(s synthRun) float64 { return seconds(s.Wall) }
	compare := func(perResource bool) func(synthTarget) string {
		return func(t synthTarget) string {
			if ts := vs(t); len(ts) > 0 && !strings.HasPrefix(t.Key, "ts") {
				return fmt.Sprintf("%.2fx", median(ratios(runs(t), ts, perResource)))
			}
			return ""
		}
	}
	return []column[synthTarget]{
		{"command", func(t synthTarget) string { return t.Label }},
		{"median", func(t synthTarget) string { return fmt.Sprintf("%.2f s", median(collect(runs(t), wall))) }},
		{"min-max", func(t synthTarget) string {
			lo, hi := minMax(collect(runs(t), wall))
			return fmt.Sprintf("%.2f-%.2f", lo, hi)
		}},
		{"stacks", func(t synthTarget) string { return itoa(runs(t)[0].Stacks) }},
		{"resources", func(t synthTarget) string { return itoa(runs(t)[0].Resources) }},
		{"assets", func(t synthTarget) string { return itoa(runs(t)[0].Assets) }},
		{"ms per resource", func(t synthTarget) string {
			return fmt.Sprintf("%.0f", 1000*median(collect(runs(t), wall))/float64(max(runs(t)[0].Resources, 1)))
		}},
		{"/ TypeScript (median ratio)", compare(false)},
		{"per resource / TypeScript", compare(true)},
		{"peak RSS tree (median, max)", func(t synthTarget) string {
			tree := collect(memory(t), func(s synthRun) float64 { return float64(s.TreeRSS) })
			_, hi := minMax(tree)
			single := collect(memory(t), func(s synthRun) float64 { return float64(s.MaxRSS) })
			return fmt.Sprintf("%.0f, %.0f MiB (%.0f MiB)", median(tree)/(1<<20), hi/(1<<20), median(single)/(1<<20))
		}},
		{"peak PSS tree (median)", func(t synthTarget) string {
			return fmt.Sprintf("%.0f MiB", median(collect(memory(t), func(s synthRun) float64 { return float64(s.TreePSS) }))/(1<<20))
		}},
	}
}

func synthSection(w *strings.Builder, r *results) {
	var measured []synthTarget
	for _, t := range r.Targets {
		if len(r.Synth[t.Key]) > 0 {
			measured = append(measured, t)
		}
	}
	if len(measured) == 0 {
		return
	}
	fmt.Fprintf(w, "\n### cdk synth\n\n`npx cdk synth -q` of the default app into a fresh output folder (so the validator asset is bundled each time: copied from the bundle cache, or, in the empty-bundle-cache row, built with a warm Go build cache), %d rounds, commands interleaved in rotating order, after one warm-up synth each: a warm synth, end to end, timed without sampling memory. Peak memory, from one more synth of each command after its rounds: the summed resident memory (RSS) of the whole process tree, sampled every %d ms (the sampler slows what it samples, so those runs are not timed), which counts shared pages once per process; PSS shares them out; in brackets the largest single process's peak RSS (what `/usr/bin/time -v` reports).\n\n", r.Rounds, sampleEvery.Milliseconds())
	writeTable(w, synthColumns(r, func(synthTarget) []synthRun { return r.Synth["ts"] }), measured)
	type diff struct {
		what      string
		from, to  string
		mem, keep bool
	}
	for _, d := range []diff{
		{"Cost of the cdk.json command (`.ci/app`: its stamp check, then exec) over a prebuilt binary passed with `--app`", "gobin", "go", false, true},
		{"What the bundle cache saves a synth into a fresh output folder", "go", "gocold", true, true},
	} {
		a, b := r.Synth[d.from], r.Synth[d.to]
		if len(a) == 0 || len(b) == 0 {
			continue
		}
		var dt, dm []float64
		for i := range min(len(a), len(b)) {
			dt = append(dt, seconds(b[i].Wall)-seconds(a[i].Wall))
		}
		am, bm := r.Memory[d.from], r.Memory[d.to]
		for i := range min(len(am), len(bm)) {
			dm = append(dm, mib(bm[i].TreeRSS)-mib(am[i].TreeRSS))
		}
		fmt.Fprintf(w, "\n%s, median of per-round differences: %.2f s", d.what, median(dt))
		if d.mem {
			mem := median(dm)
			if mem > -0.5 && mem < 0.5 {
				mem = 0 // no "-0 MiB"
			}
			fmt.Fprintf(w, " and %.0f MiB of peak tree RSS", mem)
		}
		w.WriteString(".\n")
	}
	if r.JSII.Total > 0 {
		var apis []string
		for k, v := range r.JSII.ByAPI {
			apis = append(apis, fmt.Sprintf("%s %d", k, v))
		}
		sort.Strings(apis)
		var top []string
		for _, c := range r.JSII.Top {
			top = append(top, fmt.Sprintf("`%s` %d", c.Name, c.Count))
		}
		fmt.Fprintf(w, "\njsii traffic of one synth of the prebuilt app (JSII_DEBUG=1): %d requests from Go to the kernel (%s); most frequent: %s.\n",
			r.JSII.Total, strings.Join(apis, ", "), strings.Join(top, ", "))
	} else if r.JSII.Failed != "" {
		fmt.Fprintf(w, "\njsii traffic: not measured (%s).\n", firstLine(r.JSII.Failed))
	}
}

func scaleSection(w *strings.Builder, r *results) {
	if len(r.ScaleTargets) == 0 {
		return
	}
	fmt.Fprintf(w, "\n### Scale: apps of %s pipelines\n\n", joinInts(r.Scale, ", "))
	fmt.Fprintf(w, "The Go app (cdk.json's command, with `-c pipelines=...`: N services made from the first pipeline of examples/pipelines.json, three environments each) against the TypeScript twin's N copies of its stack (`-c pipelines=N`), %d rounds, all %d commands interleaved in rotating order after one warm-up synth each; per-resource ratios are medians of per-round ratios. The Go app runs with `%s` set, which has it write its own timings and aws-cdk-lib's performance counters (the breakdown below).\n\n", r.ScaleRounds, len(r.ScaleTargets), appTimingsEnv)
	writeTable(w, synthColumns(r, func(t synthTarget) []synthRun { return r.Synth[scaleKey("ts", t.Pipelines)] }), r.ScaleTargets)

	if x, ok := r.marginalRatio(); ok {
		lo, hi := r.Scale[0], r.Scale[len(r.Scale)-1]
		g, t := r.marginal("go"), r.marginal("ts")
		fmt.Fprintf(w, "\nMarginal cost of one more resource from %d to %d pipelines (difference of the synth times over the difference of the resources, per round): Go %.1f ms, TypeScript %.1f ms, Go / TypeScript %.2fx.\n", lo, hi, 1000*median(g), 1000*median(t), x)
	}
	type step struct {
		lang string
		perPipelineStep
	}
	var steps []step
	for _, lang := range []string{"go", "ts"} {
		for _, c := range r.perPipeline(lang) {
			steps = append(steps, step{lang, c})
		}
	}
	if len(steps) > 0 {
		w.WriteString("\nCost of one more pipeline (stack), median of per-round differences:\n\n")
		writeTable(w, []column[step]{
			{"app", func(s step) string { return map[string]string{"go": "Go", "ts": "TypeScript"}[s.lang] }},
			{"from", func(s step) string { return itoa(s.from) }},
			{"to", func(s step) string { return itoa(s.to) }},
			{"seconds per added pipeline", func(s step) string { return fmt.Sprintf("%.2f", s.cost) }},
		}, steps)
	}
	if len(r.Diffs) > 0 {
		fmt.Fprintf(w, "\n`cdk diff` of one stack against a saved template, as the pull-request workflow runs it (internal/dataguard: `cdk diff STACK --app <synthesized assembly> --template <base template>` in an empty folder; the saved template lacks one resource), %d runs each; a pull request's check is the synth of the app plus one such diff per changed stack:\n\n", r.ScaleRounds)
		writeTable(w, []column[diffRun]{
			{"app", func(d diffRun) string { return fmt.Sprintf("Go, %d pipelines", d.Pipelines) }},
			{"stack", func(d diffRun) string { return "`" + d.Stack + "`" }},
			{"diff, median", func(d diffRun) string {
				if d.Failed != "" {
					return "failed: " + d.Failed
				}
				return fmt.Sprintf("%.2f s", median(d.Walls))
			}},
			{"min-max", func(d diffRun) string {
				lo, hi := minMax(d.Walls)
				return fmt.Sprintf("%.2f-%.2f", lo, hi)
			}},
			{"synth + diff of one stack", func(d diffRun) string {
				return fmt.Sprintf("%.2f s", median(collect(r.Synth[scaleKey("go", d.Pipelines)], func(s synthRun) float64 { return seconds(s.Wall) }))+median(d.Walls))
			}},
		}, r.Diffs)
	}
}

// breakdownRow is one row of where the synth time goes: the Go app's figure
// from its own timings and aws-cdk-lib's counters, TypeScript's from the
// counters.
type breakdownRow struct {
	what   string
	goPart func(s synthRun) (float64, bool)
	tsPart func(s synthRun) (float64, bool)
}

func counter(name string) func(s synthRun) (float64, bool) {
	return func(s synthRun) (float64, bool) {
		v, ok := s.Counters[name]
		return v, ok
	}
}

func appTiming(name string) func(s synthRun) (float64, bool) {
	return func(s synthRun) (float64, bool) {
		v, ok := s.App[name]
		return v, ok
	}
}

func sumOf(parts ...func(s synthRun) (float64, bool)) func(s synthRun) (float64, bool) {
	return func(s synthRun) (float64, bool) {
		total := 0.0
		for _, p := range parts {
			v, ok := p(s)
			if !ok {
				return 0, false
			}
			total += v
		}
		return total, true
	}
}

func rest(whole func(s synthRun) (float64, bool), parts ...func(s synthRun) (float64, bool)) func(s synthRun) (float64, bool) {
	return func(s synthRun) (float64, bool) {
		w, ok1 := whole(s)
		p, ok2 := sumOf(parts...)(s)
		return w - p, ok1 && ok2
	}
}

func wallMs(s synthRun) (float64, bool) { return 1000 * seconds(s.Wall), true }

var breakdownRows = []breakdownRow{
	{"whole `cdk synth`, wall", wallMs, wallMs},
	{"the CLI: npx, its start, the app's process start, reading the assembly (the rest of the wall time; TypeScript: with its process's exit)",
		rest(wallMs, appTiming("kernel"), appTiming("constructs"), appTiming("synth"), appTiming("exit")),
		rest(wallMs, counter("phase:Load"), counter("phase:Construction"), counter("phase:Synthesis"))},
	{"the jsii kernel's start-up (Go: process start to `new App` answered; TypeScript: `phase:Load`, loading aws-cdk-lib)", appTiming("kernel"), counter("phase:Load")},
	{"building the construct tree: our construct calls (Go: the configuration read and NewStacks; `phase:Construction`), asset staging included", appTiming("constructs"), counter("phase:Construction")},
	{"... of which the kernel waits for the Go process (`fs.readSync`: jsii requests, callbacks, the validator's bundling)", counter("fs.readSync"), counter("fs.readSync")},
	{"... of which the kernel answers the Go process (`fs.writeSync`)", counter("fs.writeSync"), counter("fs.writeSync")},
	{"aws-cdk-lib's synthesis (Go: `app.Synth`; `phase:Synthesis`)", appTiming("synth"), counter("phase:Synthesis")},
	{"... of which template validation (`validateTemplates`)", counter("validateTemplates"), counter("validateTemplates")},
	{"... ... of which the rule checks themselves (`CloudFormationValidate.validate`)", counter("CloudFormationValidate.validate"), counter("CloudFormationValidate.validate")},
	{"... the rest: resolving tokens, writing templates and manifests", rest(appTiming("synth"), counter("validateTemplates")), rest(counter("phase:Synthesis"), counter("validateTemplates"))},
	{"the jsii kernel's exit (Go: `jsii.Close`, until the kernel's process ended)", appTiming("exit"), appTiming("exit")},
	{"jsii requests the kernel read (`fs.readSync` calls; a count, not ms)", counter("fs.readSync(cnt)"), counter("fs.readSync(cnt)")},
}

func breakdownSection(w *strings.Builder, r *results) {
	if len(r.Scale) == 0 {
		return
	}
	ns := r.Scale
	cell := func(key string, part func(s synthRun) (float64, bool)) string {
		if x, ok := partMedian(r.Synth[key], part); ok {
			return fmt.Sprintf("%.0f", x)
		}
		return "-"
	}
	cols := []column[breakdownRow]{{"ms, medians", func(b breakdownRow) string { return b.what }}}
	for _, n := range ns {
		cols = append(cols,
			column[breakdownRow]{fmt.Sprintf("Go, %d", n), func(b breakdownRow) string { return cell(scaleKey("go", n), b.goPart) }},
			column[breakdownRow]{fmt.Sprintf("TypeScript, %d", n), func(b breakdownRow) string { return cell(scaleKey("ts", n), b.tsPart) }})
	}
	lo, hi := ns[0], ns[len(ns)-1]
	perAdded := func(lang string, part func(s synthRun) (float64, bool)) string {
		if x, ok := r.marginalPart(lang, part); ok {
			return fmt.Sprintf("%.2f", x)
		}
		return "-"
	}
	if len(ns) > 1 {
		cols = append(cols,
			column[breakdownRow]{fmt.Sprintf("Go, per added resource, %d to %d", lo, hi), func(b breakdownRow) string { return perAdded("go", b.goPart) }},
			column[breakdownRow]{fmt.Sprintf("TypeScript, per added resource, %d to %d", lo, hi), func(b breakdownRow) string { return perAdded("ts", b.tsPart) }})
	}
	fmt.Fprintf(w, "\nWhere the synth time goes, at %s pipelines: the Go app's own timings (`%s`) and aws-cdk-lib's performance counters (`-c @aws-cdk/core.slowSynthThreshold=0`). The validator's asset is staged during construction (one copy from the bundle cache per synth). The last columns divide the difference of the medians between the smallest and the largest app by the resources added.\n\n", joinInts(ns, " and "), appTimingsEnv)
	writeTable(w, cols, breakdownRows)
	goSynth, ok1 := r.marginalPart("go", appTiming("synth"))
	tsSynth, ok2 := r.marginalPart("ts", counter("phase:Synthesis"))
	if ts := r.marginal("ts"); ok1 && ok2 && len(ts) > 0 {
		budget := marginalRatioTarget * 1000 * median(ts)
		fmt.Fprintf(w, "\nPer added resource, aws-cdk-lib's synthesis alone (it runs in the kernel and calls nothing in Go) costs the Go app %.2f ms and the TypeScript twin %.2f ms. The marginal target allows the Go app %.2f ms a resource for its whole synth (%.2fx TypeScript's %.2f ms above)", goSynth, tsSynth, budget, marginalRatioTarget, budget/marginalRatioTarget)
		if goSynth > budget {
			w.WriteString(": the synthesis of the Go app's resources alone exceeds it, whatever the construction costs.\n")
		} else {
			w.WriteString(".\n")
		}
	}
}

// partMedian is the median of a part of the synth over the runs that
// measured it; ok is false when none did.
func partMedian(runs []synthRun, part func(s synthRun) (float64, bool)) (float64, bool) {
	var xs []float64
	for _, s := range runs {
		if v, ok := part(s); ok {
			xs = append(xs, v)
		}
	}
	return median(xs), len(xs) > 0
}

// marginalPart is what one more resource adds to a part of the synth, from
// the smallest to the largest app of lang: the difference of the part's
// medians over the difference of the resources.
func (r *results) marginalPart(lang string, part func(s synthRun) (float64, bool)) (float64, bool) {
	if len(r.Scale) < 2 {
		return 0, false
	}
	lo, hi := r.Synth[scaleKey(lang, r.Scale[0])], r.Synth[scaleKey(lang, r.Scale[len(r.Scale)-1])]
	a, ok1 := partMedian(lo, part)
	b, ok2 := partMedian(hi, part)
	if !ok1 || !ok2 || hi[0].Resources <= lo[0].Resources {
		return 0, false
	}
	return (b - a) / float64(hi[0].Resources-lo[0].Resources), true
}

// testRow is one package of the go test table.
type testRow struct {
	pkg     string
	elapsed []float64
	synths  pkgSynths
	slowest []string
}

func testSection(w *strings.Builder, r *results) {
	if len(r.Tests) == 0 && len(r.TestFailures) == 0 {
		return
	}
	ws := walls(r.Tests)
	lo, hi := minMax(ws)
	fmt.Fprintf(w, "\n### go test\n\n`go test -count=1 ./...` after one warm-up run (build cache warm, results not cached): median %.1f s (min %.1f, max %.1f) over %d runs.", median(ws), lo, hi, len(r.Tests))
	if len(r.TestFailures) > 0 {
		fmt.Fprintf(w, " **%d run(s) failed**: %s.", len(r.TestFailures), strings.Join(r.TestFailures, "; "))
	}
	w.WriteString("\n\nPer package (`go test -json`, median seconds; packages run in parallel, one per core), the synths each test binary made (counted by internal/cdktest.Template through CICD_TEST_SYNTH_LOG) and its slowest tests:\n\n")
	var rows []testRow
	if len(r.Tests) > 0 {
		elapsed := map[string][]float64{}
		for _, t := range r.Tests {
			for k, v := range t.Elapsed {
				elapsed[k] = append(elapsed[k], v)
			}
		}
		last := r.Tests[len(r.Tests)-1]
		for pkg, v := range elapsed {
			if strings.Contains(pkg, " ") {
				continue
			}
			var tests []countedName
			for k, tv := range elapsed {
				if name, ok := strings.CutPrefix(k, pkg+" "); ok && median(tv) >= 0.5 {
					tests = append(tests, countedName{name, int(median(tv) * 10)})
				}
			}
			sort.Slice(tests, func(i, j int) bool { return tests[i].Count > tests[j].Count })
			var slow []string
			for _, tc := range tests[:min(3, len(tests))] {
				slow = append(slow, fmt.Sprintf("%s %.1f s", tc.Name, float64(tc.Count)/10))
			}
			dir := cmp.Or(strings.TrimPrefix(strings.TrimPrefix(pkg, "cicd"), "/"), ".")
			rows = append(rows, testRow{pkg, v, last.Synths[dir], slow})
		}
		sort.Slice(rows, func(i, j int) bool { return median(rows[i].elapsed) > median(rows[j].elapsed) })
	}
	writeTable(w, []column[testRow]{
		{"package", func(t testRow) string { return t.pkg }},
		{"time", func(t testRow) string { return fmt.Sprintf("%.1f s", median(t.elapsed)) }},
		{"synths", func(t testRow) string { return itoa(t.synths.Calls) }},
		{"distinct stacks", func(t testRow) string { return itoa(t.synths.Distinct) }},
		{"slowest tests", func(t testRow) string { return strings.Join(t.slowest, ", ") }},
	}, rows)
	if len(r.UncountedSynths) > 0 {
		fmt.Fprintf(w, "\nTest code that synthesizes without cdktest.Template (not counted above): %s.\n", strings.Join(r.UncountedSynths, ", "))
	}
}

// emulatorRow is one figure of the validator under the emulator.
type emulatorRow struct {
	what   string
	format string
	value  func(e emulatorRun) float64
}

var emulatorRows = []emulatorRow{
	{"init (INIT REPORT: runtime start to its first request for an event)", "%.1f", func(e emulatorRun) float64 { return e.InitMs }},
	{"first invocation as the caller sees it (init included)", "%.1f", func(e emulatorRun) float64 { return e.FirstMs }},
	{"warm invocation, function duration (INVOKE RTDONE)", "%.2f", func(e emulatorRun) float64 { return median(e.WarmMs) }},
	{"warm invocation as the caller sees it (through the emulator)", "%.2f", func(e emulatorRun) float64 { return median(e.WarmWallMs) }},
}

func lambdaSection(w *strings.Builder, r *results) {
	if r.Arm64.Bytes == 0 {
		return
	}
	fmt.Fprintf(w, "\n### validator Lambda\n\nBuilt with the environment and flags of internal/gobundle/gobundle.go. linux/arm64 (deployed): %d bytes (%.2f MB, %.2f MB zipped; TestBootstrapSizeGuard (constructs/validator_test.go) fails above 14 MB); built into a fresh folder with a warm Go build cache in %.2f s, what bundling costs a synth when the bundle cache misses. linux/amd64 (run here): %d bytes.\n",
		r.Arm64.Bytes, float64(r.Arm64.Bytes)/1e6, float64(r.Arm64.Zipped)/1e6, seconds(r.Arm64.Wall), r.Amd64.Bytes)
	if len(r.Emulator) == 0 {
		return
	}
	fmt.Fprintf(w, "\nUnder aws-lambda-rie, a fresh emulator each round, %d warm gate invocations per round against a local server that answers ECR, DynamoDB and CodePipeline at once:\n\n", r.Warm)
	writeTable(w, []column[emulatorRow]{
		{"figure", func(e emulatorRow) string { return e.what }},
		{"median of rounds", func(e emulatorRow) string { return fmt.Sprintf(e.format+" ms", median(emulatorFigure(r, e.value))) }},
		{"min-max", func(e emulatorRow) string {
			lo, hi := minMax(emulatorFigure(r, e.value))
			return fmt.Sprintf(e.format+"-"+e.format, lo, hi)
		}},
	}, emulatorRows)
}

// Figures computed from the runs.

// ratios are the per-round ratios of a's synth time to b's, per resource or
// whole.
func ratios(a, b []synthRun, perResource bool) []float64 {
	var out []float64
	for i := range min(len(a), len(b)) {
		x := seconds(a[i].Wall) / seconds(b[i].Wall)
		if perResource && a[i].Resources > 0 && b[i].Resources > 0 {
			x = (seconds(a[i].Wall) / float64(a[i].Resources)) / (seconds(b[i].Wall) / float64(b[i].Resources))
		}
		out = append(out, x)
	}
	return out
}

// scaleRatio judges the per-resource ratio at the i-th pipeline count.
func (r *results) scaleRatio(i int) (string, bool, bool) {
	if i < 0 || i >= len(r.Scale) {
		return "", false, false
	}
	n := r.Scale[i]
	g, t := r.Synth[scaleKey("go", n)], r.Synth[scaleKey("ts", n)]
	if len(g) == 0 || len(t) == 0 {
		return "", false, false
	}
	x := median(ratios(g, t, true))
	return fmt.Sprintf("%.2fx at %d pipelines (whole synth %.2fx; %d vs %d resources)", x, n, median(ratios(g, t, false)), g[0].Resources, t[0].Resources), x <= synthRatioTarget, true
}

// marginal is, per round, the synth time of one more resource from the
// smallest to the largest app of lang.
func (r *results) marginal(lang string) []float64 {
	if len(r.Scale) < 2 {
		return nil
	}
	lo, hi := r.Synth[scaleKey(lang, r.Scale[0])], r.Synth[scaleKey(lang, r.Scale[len(r.Scale)-1])]
	var out []float64
	for i := range min(len(lo), len(hi)) {
		if d := hi[i].Resources - lo[i].Resources; d > 0 {
			out = append(out, (seconds(hi[i].Wall)-seconds(lo[i].Wall))/float64(d))
		}
	}
	return out
}

func (r *results) marginalRatio() (float64, bool) {
	g, t := r.marginal("go"), r.marginal("ts")
	var xs []float64
	for i := range min(len(g), len(t)) {
		xs = append(xs, g[i]/t[i])
	}
	return median(xs), len(xs) > 0
}

// perPipelineStep is the synth time one more pipeline adds between two
// pipeline counts.
type perPipelineStep struct {
	from, to int
	cost     float64
}

func (r *results) perPipeline(lang string) []perPipelineStep {
	var steps []perPipelineStep
	for i := 1; i < len(r.Scale); i++ {
		a, b := r.Synth[scaleKey(lang, r.Scale[i-1])], r.Synth[scaleKey(lang, r.Scale[i])]
		var d []float64
		for j := range min(len(a), len(b)) {
			d = append(d, (seconds(b[j].Wall)-seconds(a[j].Wall))/float64(r.Scale[i]-r.Scale[i-1]))
		}
		if len(d) > 0 {
			steps = append(steps, perPipelineStep{r.Scale[i-1], r.Scale[i], median(d)})
		}
	}
	return steps
}

// scalePeak judges the highest peak tree RSS of the Go app at the i-th
// pipeline count.
func (r *results) scalePeak(i int, limit int64) (string, bool, bool) {
	if i < 0 || i >= len(r.Scale) {
		return "", false, false
	}
	runs := r.Memory[scaleKey("go", r.Scale[i])]
	if len(runs) == 0 {
		return "", false, false
	}
	_, hi := minMax(collect(runs, func(s synthRun) float64 { return float64(s.TreeRSS) }))
	_, pss := minMax(collect(runs, func(s synthRun) float64 { return float64(s.TreePSS) }))
	return fmt.Sprintf("%.0f MiB at %d pipelines (PSS %.0f MiB)", hi/(1<<20), r.Scale[i], pss/(1<<20)), hi <= float64(limit), true
}

func emulatorFigure(r *results, f func(e emulatorRun) float64) []float64 {
	var xs []float64
	for _, e := range r.Emulator {
		xs = append(xs, f(e))
	}
	return xs
}

func collect[T any](xs []T, f func(T) float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

func joinInts(ns []int, sep string) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = itoa(n)
	}
	return strings.Join(s, sep)
}

func walls(ts []testRun) []float64 {
	var out []float64
	for _, t := range ts {
		out = append(out, seconds(t.Wall))
	}
	return out
}

// writeReport replaces the generated section of path, or writes a new file.
func writeReport(path, report string) error {
	section := beginMarker + "\n" + report + endMarker + "\n"
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	text := string(old)
	i, j := strings.Index(text, beginMarker), strings.Index(text, endMarker)
	switch {
	case i >= 0 && j > i:
		text = text[:i] + section + strings.TrimPrefix(text[j+len(endMarker):], "\n")
	case text == "":
		text = "# Benchmarks\n\n" + section
	default:
		text = strings.TrimRight(text, "\n") + "\n\n" + section
	}
	return os.WriteFile(path, []byte(text), 0o644)
}
