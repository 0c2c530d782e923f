package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// synthTarget is one way of running cdk synth.
type synthTarget struct {
	Key   string // short name in tables
	Label string
	Dir   string   // working directory (holds cdk.json)
	App   []string // --app override; nil for cdk.json's own command
	// ColdBundle empties the validator's bundle cache before each synth, so
	// the asset is built as on a machine that never built it.
	ColdBundle bool
	// Env replaces the benchmark's environment when set.
	Env []string
	// Args are more arguments of cdk synth (-c pipelines=...).
	Args []string
	// Pipelines is N of the scale benchmark (0: the default app).
	Pipelines int
	// Timings has the Go app write its own timings (CICD_SYNTH_TIMINGS),
	// which also turns aws-cdk-lib's performance counters on.
	Timings bool
}

// synthRun is one measured synth.
type synthRun struct {
	run
	Resources int
	// Stacks and Assets are the cloud assembly's templates and file or
	// image assets (distinct hashes over every stack's asset manifest).
	Stacks, Assets int
	// App are the Go app's own timings (ms): kernel, constructs, synth, exit.
	App map[string]float64
	// Counters are aws-cdk-lib's own performance counters (milliseconds),
	// written to the output folder when the slow-synth threshold is 0.
	Counters map[string]float64
}

// synth times one synth of t, without sampling memory: the sampler slows
// what it samples (measureTime).
func (b *bench) synth(t synthTarget, tag string) (synthRun, error) {
	out := filepath.Join(b.work, "synth-"+t.Key+"-"+tag)
	defer os.RemoveAll(out)
	return b.synthInto(t, out, false)
}

// synthMemory synthesizes t once more with the memory sampler on, for the
// peak memory figures; its time is not reported.
func (b *bench) synthMemory(t synthTarget) (synthRun, error) {
	out := filepath.Join(b.work, "synth-"+t.Key+"-memory")
	defer os.RemoveAll(out)
	return b.synthInto(t, out, true)
}

// synthInto synthesizes t into out and leaves the assembly there; sample
// says whether to sample the process tree's memory.
func (b *bench) synthInto(t synthTarget, out string, sample bool) (synthRun, error) {
	// The threshold 0 makes the app write its performance counters for the
	// CLI; it changes nothing in the templates.
	if t.ColdBundle {
		if err := os.RemoveAll(bundleCacheDir()); err != nil {
			return synthRun{}, err
		}
	}
	args := []string{"cdk", "synth", "-q", "-o", out, "-c", "@aws-cdk/core.slowSynthThreshold=0"}
	if t.App != nil {
		args = append(args, "--app", strings.Join(t.App, " "))
	}
	args = append(args, t.Args...)
	env := b.env
	if t.Env != nil {
		env = t.Env
	}
	timings := out + ".timings.json"
	if t.Timings {
		env = append(append([]string(nil), env...), appTimingsEnv+"="+timings)
		defer os.Remove(timings)
	}
	r, err := execute(t.Dir, env, sample, "npx", args...)
	if err != nil {
		return synthRun{}, err
	}
	sr := synthRun{run: r}
	if sr.Resources, sr.Stacks, err = countResources(out); err != nil {
		return sr, err
	}
	sr.Assets = countAssets(out)
	sr.Counters = readCounters(filepath.Join(out, "performance-counters.json"))
	if data, err := os.ReadFile(timings); err == nil && t.Timings {
		if json.Unmarshal(data, &sr.App) != nil {
			sr.App = nil
		}
	}
	return sr, nil
}

// appTimingsEnv is the app's TimingsEnv (cicd.go).
const appTimingsEnv = "CICD_SYNTH_TIMINGS"

// countAssets counts the distinct file and image assets that the stacks'
// asset manifests name, the templates aside.
func countAssets(dir string) int {
	files, _ := filepath.Glob(filepath.Join(dir, "*.assets.json"))
	hashes := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var m struct {
			Files map[string]struct {
				Source struct{ Path string } `json:"source"`
			} `json:"files"`
			DockerImages map[string]json.RawMessage `json:"dockerImages"`
		}
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		for h, f := range m.Files {
			// Each stack's own template is a file asset too.
			if !strings.HasSuffix(f.Source.Path, ".template.json") {
				hashes["file "+h] = true
			}
		}
		for h := range m.DockerImages {
			hashes["image "+h] = true
		}
	}
	return len(hashes)
}

// bundleCacheDir is where constructs/validator keeps built bootstraps
// (internal/gobundle.UserCache).
func bundleCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "no-bundle-cache")
	}
	return filepath.Join(dir, "cicd", "validator-bootstrap")
}

// countResources adds up the resources of every template in a cloud
// assembly, and counts the templates.
func countResources(dir string) (resources, stacks int, err error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.template.json"))
	if err != nil || len(files) == 0 {
		return 0, 0, fmt.Errorf("no template in %s", dir)
	}
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return 0, 0, err
		}
		var tpl struct {
			Resources map[string]json.RawMessage
		}
		if err := json.Unmarshal(data, &tpl); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", f, err)
		}
		n += len(tpl.Resources)
	}
	return n, len(files), nil
}

func readCounters(path string) map[string]float64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var f struct {
		Counters map[string]float64 `json:"counters"`
	}
	if json.Unmarshal(data, &f) != nil {
		return nil
	}
	return f.Counters
}

// prepareTS copies the TypeScript twin (its folder may be read-only) into
// the work folder, installs its pinned dependencies and compiles it once.
func (b *bench) prepareTS(src string) (string, error) {
	dst := filepath.Join(b.work, "ts-reference")
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			switch d.Name() {
			case "node_modules", "dist", "cdk.out":
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if info, err := d.Info(); err == nil && info.Mode()&0o111 != 0 {
			mode = 0o755
		}
		return os.WriteFile(filepath.Join(dst, rel), data, mode)
	})
	if err != nil {
		return "", fmt.Errorf("copy the TypeScript twin: %w", err)
	}
	for _, c := range [][]string{
		{"npm", "ci", "--no-audit", "--no-fund"},
		{"npx", "tsc", "-p", "tsconfig.build.json"},
	} {
		b.logf("ts twin: %s", strings.Join(c, " "))
		if _, err := measure(dst, b.env, c[0], c[1:]...); err != nil {
			return "", err
		}
	}
	return dst, nil
}

// jsiiProfile synthesizes once with JSII_DEBUG=1 and counts the requests the
// Go app sends to the jsii kernel, by kind and by most frequent target.
type jsiiProfile struct {
	Total  int
	ByAPI  map[string]int
	Top    []countedName
	Wall   float64
	Failed string
}

type countedName struct {
	Name  string
	Count int
}

func (b *bench) profileJSII(t synthTarget) jsiiProfile {
	out := filepath.Join(b.work, "synth-jsii")
	defer os.RemoveAll(out)
	env := append(append([]string(nil), b.env...), "JSII_DEBUG=1")
	args := []string{"cdk", "synth", "-q", "-o", out}
	if t.App != nil {
		args = append(args, "--app", strings.Join(t.App, " "))
	}
	r, err := measure(t.Dir, env, "npx", args...)
	p := jsiiProfile{ByAPI: map[string]int{}, Wall: seconds(r.Wall)}
	if err != nil {
		p.Failed = err.Error()
		return p
	}
	targets := map[string]int{}
	for _, line := range strings.Split(r.Output, "\n") {
		if !strings.HasPrefix(line, "> {") {
			continue
		}
		var req map[string]any
		if json.Unmarshal([]byte(line[2:]), &req) != nil {
			continue
		}
		api, _ := req["api"].(string)
		if api == "" {
			for k := range req { // {"complete": ...}, {"exit": 0}
				api = k
			}
		}
		p.ByAPI[api]++
		p.Total++
		name := fmt.Sprint(req["fqn"])
		if req["fqn"] == nil {
			name = ""
		}
		if m, ok := req["method"].(string); ok {
			name = strings.TrimPrefix(name+"."+m, ".")
		} else if prop, ok := req["property"].(string); ok {
			name = strings.TrimPrefix(name+"."+prop, ".")
		}
		if api != "load" && api != "complete" && api != "exit" && api != "del" {
			targets[api+" "+name]++
		}
	}
	for k, v := range targets {
		p.Top = append(p.Top, countedName{k, v})
	}
	sort.Slice(p.Top, func(i, j int) bool {
		if p.Top[i].Count != p.Top[j].Count {
			return p.Top[i].Count > p.Top[j].Count
		}
		return p.Top[i].Name < p.Top[j].Name
	})
	if len(p.Top) > 8 {
		p.Top = p.Top[:8]
	}
	return p
}
