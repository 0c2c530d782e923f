package main

import (
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
	synthRatioTarget = 1.10 // Go synth time per resource / TypeScript's
	testWallTarget   = 90.0 // seconds, warm, on 2 cores
	bootstrapTarget  = 8e6  // bytes (8 MB)
	initTarget       = 25.0 // ms
	warmTarget       = 5.0  // ms
	rssTarget        = 1 << 30
)

func verdict(ok bool) string {
	if ok {
		return "**pass**"
	}
	return "**miss**"
}

func render(r *results) string {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	m := r.Machine
	p("Measured %s UTC by `bench/run --rounds %d` (%.0f s in all).\n\n",
		r.Started.Format("2006-01-02 15:04"), r.Rounds, r.Finished.Sub(r.Started).Seconds())
	p("| machine | |\n|---|---|\n")
	p("| CPU | %s, %s cores, %s RAM |\n", m.CPU, m.Cores, m.RAM)
	p("| load average (1, 5, 15 min) | %s at the start, %s at the end |\n", m.LoadStart, m.LoadEnd)
	p("| Go | %s |\n| Node.js | %s |\n| CDK CLI | %s |\n", m.Go, m.Node, m.CLI)
	p("| aws-cdk-lib | %s (aws-cdk-go)", strings.TrimPrefix(m.GoLib, "v"))
	if m.TSLib != "" {
		p(", %s (TypeScript twin)", m.TSLib)
	}
	p(" |\n\n")

	// Figures the targets are judged on.
	type row struct{ what, measured, target, result string }
	var rows []row
	goRuns, tsRuns, binRuns := r.Synth["go"], r.Synth["ts"], r.Synth["gobin"]
	ratio := func(a, b []synthRun, perResource bool) []float64 {
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
	if len(goRuns) > 0 && len(tsRuns) > 0 {
		perRes := median(ratio(goRuns, tsRuns, true))
		rows = append(rows, row{"synth time per synthesized resource, Go / TypeScript (median of per-round ratios)",
			fmt.Sprintf("%.2fx (whole synth %.2fx; %d vs %d resources)", perRes, median(ratio(goRuns, tsRuns, false)), goRuns[0].Resources, tsRuns[0].Resources),
			"<= 1.10x", verdict(perRes <= synthRatioTarget)})
	} else if len(goRuns) > 0 {
		rows = append(rows, row{"synth time per synthesized resource, Go / TypeScript", "not measured (no TypeScript twin)", "<= 1.10x", "n/a"})
	}
	if len(r.Tests) > 0 {
		wall := median(walls(r.Tests))
		once := true
		for _, t := range r.Tests {
			for _, s := range t.Synths {
				once = once && s.Calls == s.Distinct
			}
		}
		note := fmt.Sprintf("%.1f s", wall)
		if m.Cores != "2" {
			note += " (on " + m.Cores + " cores, not 2)"
		}
		if once {
			note += "; every stack synthesized once per test binary"
		} else {
			note += "; some stack synthesized more than once in a test binary"
		}
		rows = append(rows, row{"`go test ./...`, warm build cache, `-count=1`", note, "<= 90 s on 2 cores, each variant once per binary",
			verdict(wall <= testWallTarget && once && len(r.TestFailures) == 0)})
	}
	if r.Arm64.Bytes > 0 {
		rows = append(rows, row{"validator `bootstrap`, linux/arm64, bundling flags",
			fmt.Sprintf("%.2f MB (%d bytes; %.2f MB zipped)", float64(r.Arm64.Bytes)/1e6, r.Arm64.Bytes, float64(r.Arm64.Zipped)/1e6),
			"<= 8 MB", verdict(r.Arm64.Bytes <= bootstrapTarget)})
	}
	if len(r.Emulator) > 0 {
		var inits, warms []float64
		for _, e := range r.Emulator {
			inits = append(inits, e.InitMs)
			warms = append(warms, median(e.WarmMs))
		}
		rows = append(rows,
			row{"validator init under the emulator (INIT REPORT, linux/amd64)", fmt.Sprintf("%.1f ms", median(inits)), "<= 25 ms", verdict(median(inits) <= initTarget)},
			row{"validator warm invocation, passing gate against instant local fakes (INVOKE RTDONE)", fmt.Sprintf("%.2f ms", median(warms)), "<= 5 ms", verdict(median(warms) <= warmTarget)})
	} else if r.EmulatorSkipped != "" {
		rows = append(rows, row{"validator init and warm invocation", "not measured: " + r.EmulatorSkipped, "<= 25 ms, <= 5 ms", "n/a"})
	}
	if len(goRuns) > 0 {
		var peaks, psss []float64
		for _, s := range append(append(append([]synthRun(nil), goRuns...), binRuns...), r.Synth["gocold"]...) {
			peaks = append(peaks, float64(s.TreeRSS))
			psss = append(psss, float64(s.TreePSS))
		}
		_, hi := minMax(peaks)
		_, pssHi := minMax(psss)
		rows = append(rows, row{"synth peak RSS, whole process tree (npx, CLI, go, app, jsii kernel) summed, highest of all Go synths",
			fmt.Sprintf("%.0f MiB (PSS %.0f MiB)", hi/(1<<20), pssHi/(1<<20)), "<= 1 GiB", verdict(hi <= rssTarget)})
	}
	p("### Targets\n\n| figure | measured | target | |\n|---|---|---|---|\n")
	for _, x := range rows {
		p("| %s | %s | %s | %s |\n", x.what, x.measured, x.target, x.result)
	}

	if len(r.Targets) > 0 {
		p("\n### cdk synth\n\n")
		p("`npx cdk synth -q` of the default stack into a fresh output folder (so the validator asset is bundled each time: copied from the bundle cache, or, in the empty-bundle-cache row, built with a warm Go build cache), %d rounds, commands interleaved in rotating order. Peak memory: the summed resident memory (RSS) of the whole process tree, sampled every %d ms, which counts shared pages once per process; PSS shares them out; in brackets the largest single process's peak RSS (what `/usr/bin/time -v` reports).\n\n", r.Rounds, sampleEvery.Milliseconds())
		p("| command | median | min-max | resources | ms per resource | / TypeScript (median ratio) | per resource / TypeScript | peak RSS tree (median, max) | peak PSS tree (median) |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, t := range r.Targets {
			runs := r.Synth[t.Key]
			if len(runs) == 0 {
				continue
			}
			ws := synthWalls(runs)
			lo, hi := minMax(ws)
			med := median(ws)
			vsTS, perRes := "", ""
			if t.Key != "ts" && len(tsRuns) > 0 {
				vsTS = fmt.Sprintf("%.2fx", median(ratio(runs, tsRuns, false)))
				perRes = fmt.Sprintf("%.2fx", median(ratio(runs, tsRuns, true)))
			}
			var tree, single, pss []float64
			for _, s := range runs {
				tree = append(tree, float64(s.TreeRSS))
				pss = append(pss, float64(s.TreePSS))
				single = append(single, float64(s.MaxRSS))
			}
			_, treeHi := minMax(tree)
			p("| %s | %.2f s | %.2f-%.2f | %d | %.0f | %s | %s | %.0f, %.0f MiB (%.0f MiB) | %.0f MiB |\n", t.Label, med, lo, hi, runs[0].Resources,
				1000*med/float64(max(runs[0].Resources, 1)), vsTS, perRes, median(tree)/(1<<20), treeHi/(1<<20), median(single)/(1<<20), median(pss)/(1<<20))
		}
		if len(goRuns) > 0 && len(binRuns) > 0 {
			var d []float64
			for i := range min(len(goRuns), len(binRuns)) {
				d = append(d, seconds(goRuns[i].Wall)-seconds(binRuns[i].Wall))
			}
			p("\nCost of the cdk.json command over a prebuilt binary (`go mod download` and `go run`'s cached build), median of per-round differences: %.2f s.\n", median(d))
		}
		if cold := r.Synth["gocold"]; len(goRuns) > 0 && len(cold) > 0 {
			var d, m []float64
			for i := range min(len(goRuns), len(cold)) {
				d = append(d, seconds(cold[i].Wall)-seconds(goRuns[i].Wall))
				m = append(m, mib(cold[i].TreeRSS)-mib(goRuns[i].TreeRSS))
			}
			mem := median(m)
			if mem > -0.5 && mem < 0.5 {
				mem = 0 // no "-0 MiB"
			}
			p("\nWhat the bundle cache saves a synth into a fresh output folder, median of per-round differences: %.2f s and %.0f MiB of peak tree RSS.\n", median(d), mem)
		}
		p("\naws-cdk-lib's own performance counters (ms, medians; `fs.readSync` is the kernel waiting for the Go process: jsii callbacks and the asset build):\n\n| command |")
		for _, k := range counterKeys {
			p(" %s |", k)
		}
		p("\n|---|%s\n", strings.Repeat("---|", len(counterKeys)))
		for _, t := range r.Targets {
			p("| %s |", t.Key)
			for _, k := range counterKeys {
				var xs []float64
				for _, s := range r.Synth[t.Key] {
					if v, ok := s.Counters[k]; ok {
						xs = append(xs, v)
					}
				}
				if len(xs) == 0 {
					p(" - |")
				} else {
					p(" %.0f |", median(xs))
				}
			}
			p("\n")
		}
		var silent []string
		for _, t := range r.Targets {
			found := false
			for _, s := range r.Synth[t.Key] {
				found = found || len(s.Counters) > 0
			}
			if !found {
				silent = append(silent, t.Key)
			}
		}
		if len(silent) > 0 {
			p("\nNo counters from %s: the app turns aws-cdk-lib's performance report off (`PerformanceReporting: false`, which keeps cdk.out deterministic).\n", strings.Join(silent, ", "))
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
			p("\njsii traffic of one synth of the prebuilt app (JSII_DEBUG=1): %d requests from Go to the kernel (%s); most frequent: %s.\n",
				r.JSII.Total, strings.Join(apis, ", "), strings.Join(top, ", "))
		} else if r.JSII.Failed != "" {
			p("\njsii traffic: not measured (%s).\n", firstLine(r.JSII.Failed))
		}
	}

	if len(r.Tests) > 0 || len(r.TestFailures) > 0 {
		p("\n### go test\n\n")
		ws := walls(r.Tests)
		lo, hi := minMax(ws)
		p("`go test -count=1 ./...` after one warm-up run (build cache warm, results not cached): median %.1f s (min %.1f, max %.1f) over %d runs.", median(ws), lo, hi, len(r.Tests))
		if len(r.TestFailures) > 0 {
			p(" **%d run(s) failed**: %s.", len(r.TestFailures), strings.Join(r.TestFailures, "; "))
		}
		p("\n\nPer package (`go test -json`, median seconds; packages run in parallel, one per core), the synths each test binary made (counted by internal/cdktest.Template through CICD_TEST_SYNTH_LOG) and its slowest tests:\n\n| package | time | synths | distinct stacks | slowest tests |\n|---|---|---|---|---|\n")
		if len(r.Tests) > 0 {
			elapsed := map[string][]float64{}
			for _, t := range r.Tests {
				for k, v := range t.Elapsed {
					elapsed[k] = append(elapsed[k], v)
				}
			}
			last := r.Tests[len(r.Tests)-1]
			var pkgs []string
			for k := range elapsed {
				if !strings.Contains(k, " ") {
					pkgs = append(pkgs, k)
				}
			}
			sort.Slice(pkgs, func(i, j int) bool { return median(elapsed[pkgs[i]]) > median(elapsed[pkgs[j]]) })
			for _, pkg := range pkgs {
				var tests []countedName
				for k, v := range elapsed {
					if name, ok := strings.CutPrefix(k, pkg+" "); ok && median(v) >= 0.5 {
						tests = append(tests, countedName{name, int(median(v) * 10)})
					}
				}
				sort.Slice(tests, func(i, j int) bool { return tests[i].Count > tests[j].Count })
				var slow []string
				for i, tc := range tests {
					if i == 3 {
						break
					}
					slow = append(slow, fmt.Sprintf("%s %.1f s", tc.Name, float64(tc.Count)/10))
				}
				dir := strings.TrimPrefix(strings.TrimPrefix(pkg, "cicd"), "/")
				if dir == "" {
					dir = "."
				}
				s := last.Synths[dir]
				p("| %s | %.1f s | %d | %d | %s |\n", pkg, median(elapsed[pkg]), s.Calls, s.Distinct, strings.Join(slow, ", "))
			}
		}
		if len(r.UncountedSynths) > 0 {
			p("\nTest code that synthesizes without cdktest.Template (not counted above): %s.\n", strings.Join(r.UncountedSynths, ", "))
		}
	}

	if r.Arm64.Bytes > 0 {
		p("\n### validator Lambda\n\n")
		p("Built with the environment and flags of constructs/validator/bundling.go. linux/arm64 (deployed): %d bytes (%.2f MB, %.2f MB zipped); built into a fresh folder with a warm Go build cache in %.2f s, what bundling costs a synth when the bundle cache misses. linux/amd64 (run here): %d bytes.\n",
			r.Arm64.Bytes, float64(r.Arm64.Bytes)/1e6, float64(r.Arm64.Zipped)/1e6, seconds(r.Arm64.Wall), r.Amd64.Bytes)
		if len(r.Emulator) > 0 {
			var inits, firsts, warms, wallWarms []float64
			for _, e := range r.Emulator {
				inits = append(inits, e.InitMs)
				firsts = append(firsts, e.FirstMs)
				warms = append(warms, median(e.WarmMs))
				wallWarms = append(wallWarms, median(e.WarmWallMs))
			}
			ilo, ihi := minMax(inits)
			p("\nUnder aws-lambda-rie, a fresh emulator each round, %d warm gate invocations per round against a local server that answers ECR, DynamoDB and CodePipeline at once:\n\n", r.Warm)
			p("| figure | median of rounds | min-max |\n|---|---|---|\n")
			p("| init (INIT REPORT: runtime start to its first request for an event) | %.1f ms | %.1f-%.1f |\n", median(inits), ilo, ihi)
			flo, fhi := minMax(firsts)
			p("| first invocation as the caller sees it (init included) | %.1f ms | %.1f-%.1f |\n", median(firsts), flo, fhi)
			wlo, whi := minMax(warms)
			p("| warm invocation, function duration (INVOKE RTDONE) | %.2f ms | %.2f-%.2f |\n", median(warms), wlo, whi)
			clo, chi := minMax(wallWarms)
			p("| warm invocation as the caller sees it (through the emulator) | %.2f ms | %.2f-%.2f |\n", median(wallWarms), clo, chi)
		}
	}
	return w.String()
}

func walls(ts []testRun) []float64 {
	var out []float64
	for _, t := range ts {
		out = append(out, seconds(t.Wall))
	}
	return out
}

func synthWalls(rs []synthRun) []float64 {
	var out []float64
	for _, s := range rs {
		out = append(out, seconds(s.Wall))
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
