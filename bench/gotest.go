package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// testRun is one `go test -count=1 ./...` and the synths its test binaries
// made, as internal/cdktest logs them.
type testRun struct {
	run
	Synths map[string]pkgSynths
	// Elapsed is each package's and each top-level test's time, from
	// go test -json ("cicd/x" and "cicd/x TestY").
	Elapsed map[string]float64
}

type pkgSynths struct {
	Calls    int
	Distinct int
}

const synthLogEnv = "CICD_TEST_SYNTH_LOG" // internal/cdktest.SynthLogEnv

func (b *bench) goTest(tag string) (testRun, error) {
	log := filepath.Join(b.work, "synth-log-"+tag)
	defer os.Remove(log)
	env := append(append([]string(nil), b.env...), synthLogEnv+"="+log)
	r, err := measureTime(b.root, env, "go", "test", "-count=1", "-json", "./...")
	tr := testRun{run: r, Elapsed: testElapsed(r.Output)}
	if err != nil {
		return tr, fmt.Errorf("go test failed: %s", strings.Join(failedTests(r.Output), ", "))
	}
	tr.Synths, err = readSynthLog(log)
	return tr, err
}

type testEvent struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
}

func testEvents(out string) []testEvent {
	var evs []testEvent
	for _, line := range strings.Split(out, "\n") {
		var ev testEvent
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &ev) == nil {
			evs = append(evs, ev)
		}
	}
	return evs
}

func testElapsed(out string) map[string]float64 {
	el := map[string]float64{}
	for _, ev := range testEvents(out) {
		if (ev.Action == "pass" || ev.Action == "fail") && !strings.Contains(ev.Test, "/") {
			el[strings.TrimSpace(ev.Package+" "+ev.Test)] = ev.Elapsed
		}
	}
	return el
}

func failedTests(out string) []string {
	var failed []string
	for _, ev := range testEvents(out) {
		if ev.Action == "fail" {
			failed = append(failed, strings.TrimSpace(ev.Package+" "+ev.Test))
		}
	}
	if len(failed) == 0 {
		failed = []string{"(no failing test reported; build error?)"}
	}
	return failed
}

// readSynthLog counts, per package, the synths and the distinct templates.
func readSynthLog(path string) (map[string]pkgSynths, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return map[string]pkgSynths{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	seen := map[string]map[string]bool{}
	out := map[string]pkgSynths{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 3 {
			continue
		}
		pkg, fp := fields[0], fields[1]+"/"+fields[2]
		if seen[pkg] == nil {
			seen[pkg] = map[string]bool{}
		}
		s := out[pkg]
		s.Calls++
		if !seen[pkg][fp] {
			seen[pkg][fp] = true
			s.Distinct++
		}
		out[pkg] = s
	}
	return out, sc.Err()
}

// Synths that bypass cdktest.Template are not counted; the report lists
// where test code synthesizes by other means.
var directSynth = regexp.MustCompile(`Template_FromStack\(|Template_FromJSON\(|\.Synth\(`)

func (b *bench) uncountedSynthSites() []string {
	var sites []string
	_ = filepath.WalkDir(b.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			switch d.Name() {
			case "node_modules", "cdk.out", ".git", "cdktest":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for i, line := range strings.Split(string(data), "\n") {
			if directSynth.MatchString(line) {
				rel, _ := filepath.Rel(b.root, path)
				sites = append(sites, rel+":"+itoa(i+1))
			}
		}
		return nil
	})
	sort.Strings(sites)
	return sites
}
