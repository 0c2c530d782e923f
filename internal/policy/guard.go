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
// failures of each file, sorted, one per rule and resource. The files go to
// one cfn-guard run. It is single-threaded, but two side by side are slower
// than one: nearly half of its time is spent mapping and unmapping memory,
// and that system time doubles when the other core is busy (on 2 cores, 11
// templates took 12.7 s in one run and 19.6 s in two).
func (g Guard) ValidateAll(templates ...string) (map[string][]Violation, error) {
	rules, err := g.rulesFor(templates)
	if err != nil {
		return nil, err
	}
	return g.run(rules, templates)
}

// run runs the rule files on the template files in one cfn-guard run.
func (g Guard) run(rules, templates []string) (map[string][]Violation, error) {
	if len(rules) == 0 {
		out := make(map[string][]Violation, len(templates))
		for _, t := range templates {
			out[t] = []Violation{}
		}
		return out, nil
	}
	args := []string{"validate"}
	for _, r := range rules {
		args = append(args, "--rules", r)
	}
	for _, t := range templates {
		args = append(args, "--data", t)
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
	out := make(map[string][]Violation, len(templates))
	seen := map[string]map[Violation]bool{}
	for _, report := range reports {
		if !slices.Contains(templates, report.Name) {
			return nil, fmt.Errorf("cfn-guard on %s: a report on %q, which was not given", what, report.Name)
		}
		if seen[report.Name] == nil {
			seen[report.Name] = map[Violation]bool{}
			out[report.Name] = []Violation{}
		}
		for _, failed := range report.NotCompliant {
			for _, v := range violations(failed) {
				if !seen[report.Name][v] {
					seen[report.Name][v] = true
					out[report.Name] = append(out[report.Name], v)
				}
			}
		}
	}
	for _, t := range templates {
		if _, ok := out[t]; !ok {
			return nil, fmt.Errorf("cfn-guard on %s: no report on %s", what, t)
		}
		sort.Slice(out[t], func(i, j int) bool { return out[t][i].String() < out[t][j].String() })
	}
	return out, nil
}

// typePattern is a CloudFormation resource type, as rule files name them.
var typePattern = regexp.MustCompile(`AWS::[A-Za-z0-9]+::[A-Za-z0-9]+`)

// rulesFor returns the rule files that can fail on the templates: those
// that name a resource type one of the templates holds, and those that name
// none. Every Control Tower rule selects the resources of its types and is
// skipped when there are none, and cfn-guard's time grows with every rule
// file it evaluates on every template (about 8 s a template for the whole
// set against 2 s for the files that name our types), so the others are
// left out. A template that cannot be read as JSON (YAML, or no template at
// all) gets every rule: cfn-guard then reads it, or says what is wrong.
func (g Guard) rulesFor(templates []string) ([]string, error) {
	info, err := os.Stat(g.Rules)
	if err != nil {
		return nil, fmt.Errorf("cfn-guard rules: %w", err)
	}
	if !info.IsDir() {
		return []string{g.Rules}, nil
	}
	present := map[string]bool{}
	for _, t := range templates {
		var template struct {
			Resources map[string]struct{ Type string }
		}
		data, err := os.ReadFile(t)
		if err != nil || json.Unmarshal(data, &template) != nil {
			return []string{g.Rules}, nil
		}
		for _, r := range template.Resources {
			present[r.Type] = true
		}
	}
	var rules []string
	err = filepath.WalkDir(g.Rules, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := filepath.Ext(path); ext != ".guard" && ext != ".ruleset" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		types := typePattern.FindAllString(string(data), -1)
		if len(types) == 0 || slices.ContainsFunc(types, func(t string) bool { return present[t] }) {
			rules = append(rules, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cfn-guard rules: %w", err)
	}
	return rules, nil
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
