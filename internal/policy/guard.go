// Package policy runs the template checks of the security tests: cfn-guard
// with the AWS Control Tower proactive rules (from the npm package
// @cdklabs/cdk-validator-cfnguard, installed by npm ci), held against a
// checked-in waiver file, and cfn-lint.
package policy

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
)

// GuardPackage is the npm package that ships cfn-guard and the rules.
const GuardPackage = "node_modules/@cdklabs/cdk-validator-cfnguard"

// Guard is a cfn-guard binary and the rules it runs.
type Guard struct {
	Binary string
	Rules  string
}

// FindGuard returns the cfn-guard binary and the Control Tower rules that
// npm ci installed under moduleRoot.
func FindGuard(moduleRoot string) (Guard, error) {
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	platform := map[string]string{"linux": "ubuntu", "darwin": "macos"}[runtime.GOOS]
	if arch == "" || platform == "" {
		return Guard{}, fmt.Errorf("cfn-guard: %s/%s has no binary in %s", runtime.GOOS, runtime.GOARCH, GuardPackage)
	}
	pkg := filepath.Join(moduleRoot, filepath.FromSlash(GuardPackage))
	g := Guard{
		Binary: filepath.Join(pkg, "bin", platform, arch, "cfn-guard"),
		Rules:  filepath.Join(pkg, "rules", "control-tower", "cfn-guard"),
	}
	for _, p := range []string{g.Binary, g.Rules} {
		if _, err := os.Stat(p); err != nil {
			return Guard{}, fmt.Errorf("cfn-guard: %s is missing: run npm ci in %s", p, moduleRoot)
		}
	}
	return g, nil
}

// Violation is one Control Tower rule that a resource of a template fails.
type Violation struct {
	// Rule is the cfn-guard rule name, e.g. s3_bucket_logging_enabled_check.
	Rule string
	// Control is the Control Tower control ID, e.g. CT.S3.PR.2.
	Control string
	// Resource is the logical ID, or "" when the rule names no resource.
	Resource string
	// Title is the control's one-line description.
	Title string
}

func (v Violation) String() string {
	resource := v.Resource
	resource = cmp.Or(resource, "(template)")
	return fmt.Sprintf("%s %s on %s: %s", v.Control, v.Rule, resource, v.Title)
}

// cfn-guard's exit status when a rule fails; the report is still complete.
const guardFailed = 19

// The control ID and title in a rule's message: "[CT.S3.PR.2]: Require ... [FIX]: ...".
var controlPattern = regexp.MustCompile(`\[(CT\.[A-Z0-9]+\.PR\.\d+)\]:((?s).*?)(\[FIX\]|$)`)

// Validate runs every rule on the template file and returns the failures,
// sorted, one per rule and resource.
func (g Guard) Validate(template string) ([]Violation, error) {
	all, err := g.ValidateAll(template)
	if err != nil {
		return nil, err
	}
	return all[template], nil
}

// ValidateAll runs every rule on each template file and returns the
// failures of each file, sorted, one per rule and resource.
//
// A Control Tower rule selects the resources of the types it names and is
// skipped where there are none, but cfn-guard's time grows with the size of
// the template for every rule file it evaluates on it, whatever the rule
// selects: about 40 ms a rule file on one of the app's templates, half of
// it in the kernel, mapping and unmapping memory (and two runs side by side
// are slower than one). So a rule file sees only the resources of the
// types it names, beside the template's other sections: the rule files run
// in a few runs (see plan), each on a copy of every template that holds
// resources of the run's types, and rule files whose types no template
// holds do not run. On the 11 templates of the security tests this takes
// 4.8 s in 7 runs, against 9.6 s in one run on the whole templates (2.9 s
// of it is the IAM rules on the policies, and stays). A rule file that
// names no type, or a template that cannot be read as JSON (YAML, or no
// template at all), gets the whole of each template: cfn-guard then reads
// it, or says what is wrong.
func (g Guard) ValidateAll(templates ...string) (map[string][]Violation, error) {
	return g.validate(templates, measured)
}

// validate is ValidateAll with the runs planned by the costs.
func (g Guard) validate(templates []string, c costs) (map[string][]Violation, error) {
	groups, err := g.ruleGroups()
	if err != nil {
		return nil, err
	}
	whole := make([]data, len(templates))
	docs := make([]map[string]any, len(templates))
	sizes := make([]map[string]int, len(templates))
	readable := true
	for i, t := range templates {
		whole[i] = data{file: t, template: t}
		if docs[i], sizes[i] = readTemplate(t); docs[i] == nil {
			readable = false
		}
	}
	// A template that is not JSON: every rule file on the whole templates.
	runs := []ruleGroup{{rules: []string{g.Rules}}}
	if readable {
		runs = plan(groups, sizes, c)
	}
	dir, err := os.MkdirTemp("", "cfn-guard-")
	if err != nil {
		return nil, fmt.Errorf("cfn-guard: %w", err)
	}
	defer os.RemoveAll(dir)

	out := make(map[string][]Violation, len(templates))
	for _, t := range templates {
		out[t] = []Violation{}
	}
	for i, run := range runs {
		files := whole
		if run.types != nil {
			files = nil
			for j, doc := range docs {
				part, ok := only(doc, run.types)
				if !ok {
					continue
				}
				file := filepath.Join(dir, fmt.Sprintf("%d-%d-%s", i, j, filepath.Base(templates[j])))
				if err := writeJSON(file, part); err != nil {
					return nil, fmt.Errorf("cfn-guard: %w", err)
				}
				files = append(files, data{file: file, template: templates[j]})
			}
		}
		if len(files) == 0 {
			continue
		}
		reports, err := g.run(run.rules, files)
		if err != nil {
			return nil, err
		}
		for t, vs := range reports {
			out[t] = append(out[t], vs...)
		}
	}
	for t, vs := range out {
		sort.Slice(vs, func(i, j int) bool { return vs[i].String() < vs[j].String() })
		out[t] = slices.Compact(vs)
	}
	return out, nil
}

// costs are those of a cfn-guard run beside that of evaluating one rule
// file on one byte of template: of starting the run, and of reading one
// data file in it.
type costs struct{ run, file int }

// measured are the costs on the project machine: starting a run (35 ms)
// and reading a data file in it (3 ms) take as long as evaluating a rule
// file on 150 KB and on 12 KB of template.
var measured = costs{run: 150_000, file: 12_000}

// plan returns the cfn-guard runs of the rule groups on templates whose
// resources of each type take sizes bytes: groups whose types no template
// holds are left out, and the others are merged, the pair that saves the
// most time first, while merging saves time. A run then evaluates each of
// its rule files on the resources of all its types: many runs on small
// templates cost more than their rule files on a little more of each.
func plan(groups []ruleGroup, sizes []map[string]int, c costs) []ruleGroup {
	cost := func(g ruleGroup) int {
		total := c.run
		for _, size := range sizes {
			n := 0
			for t := range g.types {
				n += size[t]
			}
			if n > 0 {
				total += c.file + len(g.rules)*n
			}
		}
		return total
	}
	var runs []ruleGroup
	for _, g := range groups {
		if g.types == nil || cost(g) > c.run {
			runs = append(runs, g)
		}
	}
	for {
		best, bi, bj := 0, -1, -1
		for i := range runs {
			for j := i + 1; j < len(runs); j++ {
				if runs[i].types == nil || runs[j].types == nil {
					continue
				}
				if d := cost(merge(runs[i], runs[j])) - cost(runs[i]) - cost(runs[j]); d < best {
					best, bi, bj = d, i, j
				}
			}
		}
		if bi < 0 {
			return runs
		}
		runs[bi] = merge(runs[bi], runs[bj])
		runs = slices.Delete(runs, bj, bj+1)
	}
}

// merge returns the run of the rule files of a and b, on the types of both.
func merge(a, b ruleGroup) ruleGroup {
	types := maps.Clone(a.types)
	maps.Copy(types, b.types)
	return ruleGroup{types: types, rules: slices.Concat(a.rules, b.rules)}
}

// data is a file that cfn-guard reads: a template, or the part of one.
type data struct {
	file     string
	template string
}

// run runs the rule files on the data files in one cfn-guard run and
// returns the failures of each template, unsorted and possibly repeated
// (validate sorts them and keeps one of each).
func (g Guard) run(rules []string, files []data) (map[string][]Violation, error) {
	args := []string{"validate"}
	for _, r := range rules {
		args = append(args, "--rules", r)
	}
	templates := make([]string, len(files))
	template := make(map[string]string, len(files))
	for i, f := range files {
		args = append(args, "--data", f.file)
		templates[i], template[f.file] = f.template, f.template
	}
	cmd := exec.Command(g.Binary, append(args, "--output-format", "json", "--show-summary", "none", "--structured")...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	what := strings.Join(templates, ", ")
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == guardFailed) {
		return nil, fmt.Errorf("cfn-guard on %s: %v: %s", what, err, firstLine(stderr.String()))
	}
	var reports []struct {
		Name         string `json:"name"`
		NotCompliant []any  `json:"not_compliant"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &reports); err != nil {
		return nil, fmt.Errorf("cfn-guard on %s: unreadable report: %v", what, err)
	}
	out := make(map[string][]Violation, len(files))
	for _, report := range reports {
		t, ok := template[report.Name]
		if !ok {
			return nil, fmt.Errorf("cfn-guard on %s: a report on %q, which was not given", what, report.Name)
		}
		if out[t] == nil {
			out[t] = []Violation{}
		}
		for _, failed := range report.NotCompliant {
			out[t] = append(out[t], violations(failed)...)
		}
	}
	for _, t := range templates {
		if _, ok := out[t]; !ok {
			return nil, fmt.Errorf("cfn-guard on %s: no report on %s", what, t)
		}
	}
	return out, nil
}

// typePattern is a CloudFormation resource type, as rule files name them.
var typePattern = regexp.MustCompile(`AWS::[A-Za-z0-9]+::[A-Za-z0-9]+`)

// ruleGroup is the rule files that name the same resource types; types is
// nil for the rule files that name none.
type ruleGroup struct {
	types map[string]bool
	rules []string
}

// ruleGroups returns the rule files grouped by the resource types they
// name, in the order of their first file. A single rule file is one group
// that sees whole templates.
func (g Guard) ruleGroups() ([]ruleGroup, error) {
	info, err := os.Stat(g.Rules)
	if err != nil {
		return nil, fmt.Errorf("cfn-guard rules: %w", err)
	}
	if !info.IsDir() {
		return []ruleGroup{{rules: []string{g.Rules}}}, nil
	}
	var groups []ruleGroup
	index := map[string]int{}
	err = filepath.WalkDir(g.Rules, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := filepath.Ext(path); ext != ".guard" && ext != ".ruleset" {
			return nil
		}
		text, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		types := typePattern.FindAllString(string(text), -1)
		slices.Sort(types)
		types = slices.Compact(types)
		key := strings.Join(types, " ")
		i, ok := index[key]
		if !ok {
			var named map[string]bool // nil: the whole template
			if len(types) > 0 {
				named = map[string]bool{}
				for _, t := range types {
					named[t] = true
				}
			}
			i, index[key] = len(groups), len(groups)
			groups = append(groups, ruleGroup{types: named})
		}
		groups[i].rules = append(groups[i].rules, path)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cfn-guard rules: %w", err)
	}
	return groups, nil
}

// readTemplate returns the template in the file and the size of its
// resources of each type, or nil where it is not a JSON object whose
// Resources are objects with a Type.
func readTemplate(file string) (map[string]any, map[string]int) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.UseNumber() // numbers reach cfn-guard as written
	var doc map[string]any
	if dec.Decode(&doc) != nil {
		return nil, nil
	}
	resources, ok := doc["Resources"].(map[string]any)
	if !ok {
		return nil, nil
	}
	sizes := map[string]int{}
	for _, r := range resources {
		r, ok := r.(map[string]any)
		t, isString := r["Type"].(string)
		if !ok || !isString {
			return nil, nil
		}
		text, err := json.Marshal(r)
		if err != nil {
			return nil, nil
		}
		sizes[t] += len(text)
	}
	return doc, sizes
}

// only returns the template with the resources of the types and none
// other, and whether it has any.
func only(doc map[string]any, types map[string]bool) (map[string]any, bool) {
	resources := map[string]any{}
	for id, r := range doc["Resources"].(map[string]any) {
		if types[r.(map[string]any)["Type"].(string)] {
			resources[id] = r
		}
	}
	if len(resources) == 0 {
		return nil, false
	}
	part := maps.Clone(doc)
	part["Resources"] = resources
	return part, true
}

func writeJSON(file string, v any) error {
	text, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(file, text, 0o644)
}

// violations are the failures of one failed rule, one per resource.
func violations(failed any) []Violation {
	name := "(unnamed rule)"
	top, _ := failed.(map[string]any)
	if rule, ok := top["Rule"].(map[string]any); ok {
		if n, ok := rule["name"].(string); ok {
			name = n
		}
	}
	control, title, resources := "", "", map[string]bool{}
	walk(failed, func(key string, value string) {
		switch key {
		case "custom_message":
			if m := controlPattern.FindStringSubmatch(value); m != nil && control == "" {
				control, title = m[1], strings.Join(strings.Fields(m[2]), " ")
			}
		case "path":
			if parts := strings.Split(value, "/"); len(parts) > 2 && parts[1] == "Resources" {
				resources[parts[2]] = true
			}
		}
	})
	if len(resources) == 0 {
		resources[""] = true
	}
	var out []Violation
	for r := range resources {
		out = append(out, Violation{Rule: name, Control: control, Resource: r, Title: title})
	}
	return out
}

// walk calls fn for every string value in tree, with its key.
func walk(tree any, fn func(key, value string)) {
	switch t := tree.(type) {
	case map[string]any:
		for k, v := range t {
			if s, ok := v.(string); ok {
				fn(k, s)
				continue
			}
			walk(v, fn)
		}
	case []any:
		for _, v := range t {
			walk(v, fn)
		}
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
