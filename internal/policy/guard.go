// Package policy runs the template checks of the security tests: cfn-guard
// with the AWS Control Tower proactive rules (from the npm package
// @cdklabs/cdk-validator-cfnguard, installed by npm ci), held against a
// checked-in waiver file, and cfn-lint.
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
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
	if resource == "" {
		resource = "(template)"
	}
	return fmt.Sprintf("%s %s on %s: %s", v.Control, v.Rule, resource, v.Title)
}

// cfn-guard's exit status when a rule fails; the report is still complete.
const guardFailed = 19

// The control ID and title in a rule's message: "[CT.S3.PR.2]: Require ... [FIX]: ...".
var controlPattern = regexp.MustCompile(`\[(CT\.[A-Z0-9]+\.PR\.\d+)\]:((?s).*?)(\[FIX\]|$)`)

// Validate runs every rule on the template file and returns the failures,
// sorted, one per rule and resource.
func (g Guard) Validate(template string) ([]Violation, error) {
	cmd := exec.Command(g.Binary, "validate", "--rules", g.Rules, "--data", template,
		"--output-format", "json", "--show-summary", "none", "--structured")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == guardFailed) {
		return nil, fmt.Errorf("cfn-guard on %s: %v: %s", template, err, firstLine(stderr.String()))
	}
	var reports []struct {
		NotCompliant []any `json:"not_compliant"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &reports); err != nil {
		return nil, fmt.Errorf("cfn-guard on %s: unreadable report: %v", template, err)
	}
	if len(reports) == 0 {
		return nil, fmt.Errorf("cfn-guard on %s: empty report", template)
	}
	seen := map[Violation]bool{}
	var out []Violation
	for _, report := range reports {
		for _, failed := range report.NotCompliant {
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
			for r := range resources {
				v := Violation{Rule: name, Control: control, Resource: r, Title: title}
				if !seen[v] {
					seen[v] = true
					out = append(out, v)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
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
