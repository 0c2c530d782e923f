package dataguard

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Toolkit gives the CDK CLI's own view of a stack's change: the text of
// `cdk diff`, whose replacement markers the guard reads as its second source.
type Toolkit interface {
	// Diff returns the diff of one stack of the pull request's assembly
	// (in assemblyDir) against the base branch's template of that stack.
	Diff(ctx context.Context, assemblyDir string, stack *Stack, baseTemplate string) (string, error)
	// Name says which toolkit it is, for the report.
	Name() string
}

// CLI runs the CDK CLI (`cdk diff STACK --app ASSEMBLY --template BASE`),
// which needs no AWS account for this.
type CLI struct {
	// Path is the cdk executable.
	Path string
	// Timeout bounds one stack's diff.
	// Default: 3 minutes.
	Timeout time.Duration
}

// Name implements Toolkit.
func (c CLI) Name() string { return "cdk diff (" + c.Path + ")" }

// Diff implements Toolkit.
func (c CLI) Diff(ctx context.Context, assemblyDir string, stack *Stack, baseTemplate string) (string, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	app, err := filepath.Abs(assemblyDir)
	if err != nil {
		return "", err
	}
	base, err := filepath.Abs(baseTemplate)
	if err != nil {
		return "", err
	}
	// An empty working folder: no cdk.json or cdk.context.json of whatever
	// folder the command runs in changes what the CLI does.
	work, err := os.MkdirTemp("", "dataguard-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	cmd := exec.CommandContext(ctx, c.Path, "diff", stack.HierarchicalID,
		"--app", app, "--template", base, "--no-color", "--no-notices")
	cmd.Dir = work
	// As npx does: the CLI's own folder first on PATH, so that a Node
	// installed next to it (package.json pins one) runs it.
	cmd.Env = append(os.Environ(),
		"PATH="+filepath.Dir(c.Path)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"CDK_DISABLE_CLI_TELEMETRY=true", "CDK_DISABLE_VERSION_CHECK=true")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s diff %s: %v: %s", c.Path, stack.HierarchicalID, err, lastLines(out.String(), 3))
	}
	return cleanDiff(out.String()), nil
}

// cleanDiff drops what is not the diff: Node's end-of-life banner and the
// CLI's count of stacks with differences.
func cleanDiff(text string) string {
	var keep []string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "!!") || strings.HasPrefix(line, "✨") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.TrimSpace(strings.Join(keep, "\n"))
}

func lastLines(text string, n int) string {
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "!!") {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}

// ToolkitDiff is what the guard reads in the text of `cdk diff`.
type ToolkitDiff struct {
	// NoDifferences is true when the CLI found none.
	NoDifferences bool
	// Resources holds the resources the CLI marks, by logical ID.
	Resources map[string]ToolkitResource
}

// ToolkitResource is one resource line of `cdk diff` and its properties.
type ToolkitResource struct {
	Type string
	// Impact is the CLI's word for the resource: replace, may be replaced,
	// destroy, orphan, import, or "" for an update or a creation.
	Impact string
	// Replacing are the properties marked (requires replacement) or
	// (may cause replacement).
	Replacing []ToolkitProperty
}

// ToolkitProperty is a property whose change replaces the resource.
type ToolkitProperty struct {
	Name string
	// May is true for "may cause replacement" (it depends on values known
	// only at deploy time).
	May bool
}

var (
	// [~] AWS::S3::Bucket Artifacts/Bucket ArtifactsBucket88671897 replace
	resourceLine = regexp.MustCompile(`^\[(?:[+~-]|←)\] ([A-Za-z0-9]+::[A-Za-z0-9:]+) (.+)$`)
	//  └─ [~] KeySchema (requires replacement)
	propertyLine = regexp.MustCompile(`^ [├└]─ \[[+~-]\] (\S+)(?: \((requires replacement|may cause replacement)\))?\s*$`)
	moveSuffix   = regexp.MustCompile(`\s*\(OR move .*\)$`)
	impacts      = []string{"may be replaced", "replace", "destroy", "orphan", "import"}
)

// ParseToolkitDiff reads the resource lines of one stack's `cdk diff`
// (printed with --no-color). ids are the logical IDs of the stack's two
// templates: a resource line ends with its logical ID and the impact, and may
// have the construct path before it.
func ParseToolkitDiff(text string, ids map[string]bool) ToolkitDiff {
	d := ToolkitDiff{Resources: map[string]ToolkitResource{}}
	current := ""
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.Contains(line, "There were no differences") {
			d.NoDifferences = true
		}
		if m := resourceLine.FindStringSubmatch(line); m != nil {
			id, impact := splitResourceLine(moveSuffix.ReplaceAllString(m[2], ""), ids)
			current = id
			if id != "" {
				d.Resources[id] = ToolkitResource{Type: m[1], Impact: impact}
			}
			continue
		}
		if m := propertyLine.FindStringSubmatch(line); m != nil && current != "" {
			if m[2] != "" {
				r := d.Resources[current]
				r.Replacing = append(r.Replacing, ToolkitProperty{Name: m[1], May: m[2] == "may cause replacement"})
				d.Resources[current] = r
			}
			continue
		}
		if !strings.HasPrefix(line, " ") {
			current = ""
		}
	}
	return d
}

// splitResourceLine takes "Path/To/Construct LogicalId impact" apart: the
// logical ID is the first word that the templates know and that only an
// impact follows.
func splitResourceLine(rest string, ids map[string]bool) (id, impact string) {
	fields := strings.Fields(rest)
	for i, f := range fields {
		if tail := strings.Join(fields[i+1:], " "); ids[f] && (tail == "" || slices.Contains(impacts, tail)) {
			return f, tail
		}
	}
	// A logical ID the templates do not have: the word before the impact.
	for _, word := range impacts {
		if strings.HasSuffix(rest, " "+word) {
			rest = strings.TrimSuffix(rest, " "+word)
			fields = strings.Fields(rest)
			impact = word
			break
		}
	}
	if len(fields) == 0 {
		return "", impact
	}
	return fields[len(fields)-1], impact
}
