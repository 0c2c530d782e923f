package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The scale benchmark: apps of N pipelines, each with three environments,
// configured through the app's own pipelines key, against the TypeScript
// twin's N copies of its stack (-c pipelines=N).

// scalePipelines is the pipelines context of an app of n services: n copies
// of the first pipeline of examples/pipelines.json with distinct service
// names (and repositories, e-mail addresses and owners to match), each with
// exactly three environments.
func scalePipelines(root string, n int) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, "examples", "pipelines.json"))
	if err != nil {
		return "", err
	}
	var file struct {
		Pipelines []map[string]any `json:"pipelines"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return "", fmt.Errorf("examples/pipelines.json: %w", err)
	}
	if len(file.Pipelines) == 0 {
		return "", fmt.Errorf("examples/pipelines.json has no pipeline")
	}
	first, err := json.Marshal(file.Pipelines[0])
	if err != nil {
		return "", err
	}
	pipelines := make([]map[string]any, n)
	for i := range n {
		var p map[string]any
		if err := json.Unmarshal(first, &p); err != nil {
			return "", err
		}
		name := fmt.Sprintf("svc%02d", i+1)
		p["service"] = name
		if src, ok := p["source"].(map[string]any); ok {
			if repo, ok := src["repository"].(string); ok {
				owner, _, _ := strings.Cut(repo, "/")
				src["repository"] = owner + "/" + name
			}
		}
		if _, ok := p["notificationEmail"]; ok {
			p["notificationEmail"] = name + "-team@example.com"
		}
		if _, ok := p["tags"]; ok {
			p["tags"] = map[string]string{"Owner": name + "-team"}
		}
		envs, _ := p["environments"].([]any)
		if len(envs) != 3 {
			return "", fmt.Errorf("examples/pipelines.json: the first pipeline has %d environments, the scale benchmark wants 3", len(envs))
		}
		for _, e := range envs {
			if env, ok := e.(map[string]any); ok {
				env["service"] = name
			}
		}
		pipelines[i] = p
	}
	out, err := json.Marshal(pipelines)
	return string(out), err
}

// parseScale reads --scale: distinct pipeline counts, at least 1, ascending.
func parseScale(s string) ([]int, error) {
	var ns []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || (len(ns) > 0 && n <= ns[len(ns)-1]) {
			return nil, fmt.Errorf("--scale %q: use ascending pipeline counts, e.g. 1,5,20", s)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

func scaleKey(lang string, n int) string { return lang + "@" + strconv.Itoa(n) }

// scaleTargets are the Go app (cdk.json's command, as users run it, with its
// own timings on) and the TypeScript twin, at each N.
func (b *bench) scaleTargets(ns []int, ts *synthTarget) ([]synthTarget, error) {
	var targets []synthTarget
	for _, n := range ns {
		pipelines, err := scalePipelines(b.root, n)
		if err != nil {
			return nil, err
		}
		targets = append(targets, synthTarget{Key: scaleKey("go", n), Label: fmt.Sprintf("Go, %d pipelines", n), Dir: b.root,
			Args: []string{"-c", "pipelines=" + pipelines}, Pipelines: n, Timings: true})
		if ts != nil {
			t := *ts
			t.Key, t.Label, t.Pipelines = scaleKey("ts", n), fmt.Sprintf("TypeScript, %d stacks", n), n
			t.Args = []string{"-c", "pipelines=" + strconv.Itoa(n)}
			targets = append(targets, t)
		}
	}
	return targets, nil
}

// diffRun is `cdk diff` of one stack against a saved template, as the
// pull-request workflow runs it (internal/dataguard.CLI): the synthesized
// assembly as the app, in an empty folder.
type diffRun struct {
	Pipelines int
	Stack     string
	Walls     []float64
	Failed    string
}

// measureDiff synthesizes the Go app of t into a kept folder, saves its first
// stack's template without its last resource (a change for the diff to
// show), and times the diff rounds times.
func (b *bench) measureDiff(t synthTarget, rounds int) diffRun {
	d := diffRun{Pipelines: t.Pipelines}
	out := filepath.Join(b.work, "diff-"+t.Key)
	defer os.RemoveAll(out)
	t.Timings = false
	if _, err := b.synthInto(t, out, false); err != nil {
		d.Failed = firstLine(err.Error())
		return d
	}
	templates, _ := filepath.Glob(filepath.Join(out, "*.template.json"))
	if len(templates) == 0 {
		d.Failed = "no template"
		return d
	}
	d.Stack = strings.TrimSuffix(filepath.Base(templates[0]), ".template.json")
	data, err := os.ReadFile(templates[0])
	if err != nil {
		d.Failed = err.Error()
		return d
	}
	var tpl map[string]any
	if err := json.Unmarshal(data, &tpl); err != nil {
		d.Failed = err.Error()
		return d
	}
	if res, ok := tpl["Resources"].(map[string]any); ok {
		last := ""
		for k := range res {
			last = max(last, k)
		}
		delete(res, last)
	}
	saved := filepath.Join(b.work, "saved-"+t.Key+".json")
	defer os.Remove(saved)
	if data, err = json.Marshal(tpl); err == nil {
		err = os.WriteFile(saved, data, 0o644)
	}
	if err != nil {
		d.Failed = err.Error()
		return d
	}
	empty := filepath.Join(b.work, "diff-cwd")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		d.Failed = err.Error()
		return d
	}
	cli := filepath.Join(b.root, "node_modules", ".bin", "cdk")
	env := append(b.tsEnv(), "CDK_DISABLE_CLI_TELEMETRY=true", "CDK_DISABLE_VERSION_CHECK=true")
	for range rounds {
		r, err := measure(empty, env, cli, "diff", d.Stack, "--app", out, "--template", saved, "--no-color", "--no-notices")
		if err != nil {
			d.Failed = firstLine(err.Error())
			return d
		}
		d.Walls = append(d.Walls, seconds(r.Wall))
	}
	return d
}
