package dataguard

import (
	"fmt"
	"io"
	"strings"
)

// Verdict is the report's result in one line.
func (r *Report) Verdict() string {
	accepted := 0
	for _, f := range r.Findings {
		if f.Accepted != nil {
			accepted++
		}
	}
	n := len(r.Findings)
	switch {
	case r.Failed() && n > accepted:
		s := fmt.Sprintf("failed: %d of %d %s not accepted", n-accepted, n, plural(n, "finding is", "findings are"))
		if len(r.Errors) > 0 {
			s += fmt.Sprintf(", and %d %s", len(r.Errors), plural(len(r.Errors), "error", "errors"))
		}
		return s
	case r.Failed():
		return fmt.Sprintf("failed: %d %s", len(r.Errors), plural(len(r.Errors), "error", "errors"))
	case n == 0:
		return fmt.Sprintf("passed: nothing that holds data is replaced or removed (%d %s compared)", len(r.Stacks), plural(len(r.Stacks), "stack", "stacks"))
	default:
		return fmt.Sprintf("passed: %d %s, all accepted", n, plural(n, "finding", "findings"))
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// what names a finding's resource.
func (f *Finding) what() string {
	if f.Stack == nil {
		return "the whole pull request"
	}
	return fmt.Sprintf("stack %s, %s (%s, %s)", f.Stack.Label(), f.LogicalID, f.Type, f.Holds)
}

func (f *Finding) similarText() string {
	if f.Similar == nil {
		return ""
	}
	where := f.Similar.LogicalID
	if f.Similar.Stack.Key() != f.Stack.Key() {
		where += " in stack " + f.Similar.Stack.Label()
	}
	return fmt.Sprintf("a changed logical ID? The pull request adds %s, of the same type with similar properties", where)
}

func (a *Acceptance) text() string {
	s := fmt.Sprintf("accepted by %s (%s)", a.By, a.Source)
	if a.Reason != "" {
		s += ": " + a.Reason
	}
	return s
}

// how says what decided replacement.
func (r *Report) how() string {
	return "Replacement decided from " + strings.Join(r.Sources, " and from ") + "."
}

// WriteText prints the report for a terminal or a job log. readme points to
// what to do about a finding.
func (r *Report) WriteText(w io.Writer, readme string) {
	fmt.Fprintln(w, "data guard: "+r.Verdict())
	fmt.Fprintln(w, "  "+r.how())
	for _, n := range r.Notes {
		fmt.Fprintln(w, "  "+n)
	}
	for _, f := range r.Findings {
		state := "NOT ACCEPTED"
		if f.Accepted != nil {
			state = "accepted"
		}
		fmt.Fprintf(w, "\n%s: %s: %s\n", state, f.Kind, f.what())
		for _, why := range f.Why {
			fmt.Fprintln(w, "    why: "+why)
		}
		if f.Effect != "" {
			fmt.Fprintln(w, "    then: "+f.Effect)
		}
		if s := f.similarText(); s != "" {
			fmt.Fprintln(w, "    note: "+s)
		}
		if f.Accepted != nil {
			fmt.Fprintln(w, "    "+f.Accepted.text())
		}
	}
	if len(r.Errors) > 0 {
		fmt.Fprintln(w)
		for _, e := range r.Errors {
			fmt.Fprintln(w, "error: "+e)
		}
	}
	if len(r.Findings) > 0 || len(r.Errors) > 0 {
		fmt.Fprintf(w, "\nWhat to do: %s\n", readme)
	}
	fmt.Fprintln(w)
	for _, c := range r.Stacks {
		fmt.Fprintln(w, c.summary(false))
	}
}

// summary is the stack's one line: its counts of added, changed, replaced
// and removed resources.
func (c *StackChange) summary(markdown bool) string {
	name := c.Stack().Label()
	if markdown {
		name = "`" + c.Stack().Name + "`" + strings.TrimPrefix(c.Stack().Label(), c.Stack().Name)
	}
	s := fmt.Sprintf("%s: %d added, %d changed, %d replaced, %d removed", name, len(c.Added), len(c.Changed), len(c.Replaced), len(c.Removed))
	switch {
	case c.Base == nil:
		s += " (new stack)"
	case c.PR == nil:
		s += " (stack removed)"
	}
	if len(c.Sections) > 0 {
		s += "; " + strings.Join(c.Sections, ", ") + " changed"
	}
	return s
}

// WriteMarkdown writes the report as the pull request's comment: the
// guard's result first, then each stack's diff (folded when the stack is
// unchanged), then one summary line per stack.
func (r *Report) WriteMarkdown(w io.Writer, readme string) {
	fmt.Fprintf(w, "#### Data guard: %s\n\n", r.Verdict())
	if len(r.Findings) > 0 {
		fmt.Fprintln(w, "| | change | stack | logical ID | type | why |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|")
		for _, f := range r.Findings {
			state := "**not accepted**"
			if f.Accepted != nil {
				state = cell(f.Accepted.text())
			}
			why := strings.Join(f.Why, "; ")
			if f.Effect != "" {
				why += ". Then " + f.Effect
			}
			if s := f.similarText(); s != "" {
				why += ". " + s
			}
			stack, id, typ := "", "", ""
			if f.Stack != nil {
				stack, id, typ = code(f.Stack.Name)+cell(strings.TrimPrefix(f.Stack.Label(), f.Stack.Name)), code(f.LogicalID), code(f.Type)+" ("+f.Holds+")"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", state, f.Kind, stack, id, typ, cell(why))
		}
		fmt.Fprintln(w)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "- **error:** %s\n", cell(e))
	}
	if len(r.Errors) > 0 {
		fmt.Fprintln(w)
	}
	if len(r.Findings) > 0 || len(r.Errors) > 0 {
		fmt.Fprintf(w, "What to do: %s\n\n", link(readme))
	}
	fmt.Fprintf(w, "<sub>%s</sub>\n\n", html(strings.Join(append([]string{r.how()}, r.Notes...), " ")))

	fmt.Fprintln(w, "#### Stacks")
	fmt.Fprintln(w)
	for _, c := range r.Stacks {
		open := " open"
		state := "no changes"
		if !c.Unchanged() {
			state = strings.TrimPrefix(c.summary(false), c.Stack().Label()+": ")
		} else {
			open = ""
		}
		fmt.Fprintf(w, "<details%s><summary><code>%s</code>%s: %s</summary>\n\n", open, html(c.Stack().Name), html(strings.TrimPrefix(c.Stack().Label(), c.Stack().Name)), html(state))
		fmt.Fprintln(w, "```")
		fmt.Fprintln(w, c.diffText())
		fmt.Fprintln(w, "```")
		fmt.Fprintln(w, "</details>")
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "#### Summary")
	fmt.Fprintln(w)
	for _, c := range r.Stacks {
		fmt.Fprintln(w, "- "+c.summary(true))
	}
}

// diffText is the stack's diff: the toolkit's when it ran, else the guard's
// own list of resource changes.
func (c *StackChange) diffText() string {
	if c.Unchanged() {
		return "There were no differences"
	}
	if c.ToolkitText != "" {
		return c.ToolkitText
	}
	var lines []string
	switch {
	case c.Base == nil:
		lines = append(lines, "New stack: the base branch does not have it.")
	case c.PR == nil:
		lines = append(lines, "Stack removed: the pull request no longer has it.")
	}
	replaced := map[string]bool{}
	for _, id := range c.Replaced {
		replaced[id] = true
	}
	typeOf := func(id string) string {
		if c.PR != nil && c.PR.Template.Resources[id] != nil {
			return c.PR.Template.Resources[id].Type
		}
		return c.Base.Template.Resources[id].Type
	}
	for _, id := range c.Added {
		lines = append(lines, "[+] "+typeOf(id)+" "+id)
	}
	for _, id := range c.Removed {
		lines = append(lines, "[-] "+typeOf(id)+" "+id)
	}
	for _, id := range c.Replaced {
		lines = append(lines, "[~] "+typeOf(id)+" "+id+" replace")
	}
	for _, id := range c.Changed {
		lines = append(lines, "[~] "+typeOf(id)+" "+id)
	}
	if len(c.Sections) > 0 {
		lines = append(lines, "Also changed: "+strings.Join(c.Sections, ", "))
	}
	return strings.Join(lines, "\n")
}

func code(s string) string { return "`" + strings.ReplaceAll(s, "`", "'") + "`" }

func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", "").Replace(s)
}

func html(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// link makes a Markdown link of a URL, and leaves other text as it is.
func link(ref string) string {
	if strings.HasPrefix(ref, "https://") || strings.HasPrefix(ref, "http://") {
		return "[README, Operations](" + ref + ")"
	}
	return ref
}
