package dataguard

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Types that hold data whatever their policies say.
var dataTypes = map[string]bool{
	"AWS::KMS::Key":               true,
	"AWS::S3::Bucket":             true,
	"AWS::ECR::Repository":        true,
	"AWS::DynamoDB::Table":        true,
	"AWS::DynamoDB::GlobalTable":  true,
	"AWS::CodeCommit::Repository": true,
}

// Policies that say a resource's data outlives it.
var keepPolicies = map[string]bool{"Retain": true, "RetainExceptOnCreate": true, "Snapshot": true}

// HoldsData says whether the guard protects r, and why: its type holds
// data, or its DeletionPolicy or UpdateReplacePolicy keeps it.
func HoldsData(r *Resource) (string, bool) {
	if dataTypes[r.Type] {
		return "holds data", true
	}
	if keepPolicies[r.DeletionPolicy] {
		return "DeletionPolicy " + r.DeletionPolicy, true
	}
	if keepPolicies[r.UpdateReplacePolicy] {
		return "UpdateReplacePolicy " + r.UpdateReplacePolicy, true
	}
	return "", false
}

// Kind is what a pull request would do to a resource that holds data.
type Kind string

// The kinds of finding.
const (
	Replaced     Kind = "replaced"
	Removed      Kind = "removed"
	StackRemoved Kind = "removed with its stack"
	// NoBase: there was no base assembly to compare with.
	NoBase Kind = "not compared"
)

// Finding is one resource that holds data and that the pull request would
// replace or remove.
type Finding struct {
	// Stack is the base branch's stack (nil for NoBase).
	Stack     *Stack
	LogicalID string
	Type      string
	Kind      Kind
	// Why lists the causes: the properties that force the replacement (and
	// which source says so), or the removal.
	Why []string
	// Effect says what CloudFormation does to the old resource.
	Effect string
	// Holds says why the guard protects the resource.
	Holds string
	// Similar is a new resource of the same type with similar properties:
	// the removal may be a changed logical ID.
	Similar *Location
	// Accepted says who let the change through, or is nil.
	Accepted *Acceptance
}

// Location is a resource in an assembly.
type Location struct {
	Stack     *Stack
	LogicalID string
}

// StackChange is how one stack differs between the two assemblies.
type StackChange struct {
	// Base and PR are the two versions; Base is nil for a new stack, PR for
	// a removed one.
	Base, PR *Stack
	// Logical IDs, sorted.
	Added, Changed, Replaced, Removed []string
	// Sections lists the template sections other than Resources that
	// differ (Outputs, Parameters, ...).
	Sections []string
	// ToolkitText is the text of `cdk diff` for the stack, when it ran.
	ToolkitText string
	// replacedWhy holds the causes of each replacement, by logical ID.
	replacedWhy map[string][]string
	toolkit     *ToolkitDiff
}

// Stack is the stack as the pull request has it, or the base's when it is
// removed.
func (c *StackChange) Stack() *Stack {
	if c.PR != nil {
		return c.PR
	}
	return c.Base
}

// Unchanged is true when the stack's template is the same on both sides.
func (c *StackChange) Unchanged() bool {
	return c.Base != nil && c.PR != nil && len(c.Added)+len(c.Changed)+len(c.Replaced)+len(c.Removed)+len(c.Sections) == 0
}

// Report is the outcome of a comparison.
type Report struct {
	Stacks   []*StackChange
	Findings []*Finding
	// Sources say what decided replacement.
	Sources []string
	// Notes say what else the reader should know of how it was decided.
	Notes []string
	// Errors are what kept the guard from judging (a failed cdk diff, an
	// acceptance entry that matches nothing): each fails the check.
	Errors []string
}

// Failed is true when a finding is not accepted or the guard could not judge.
func (r *Report) Failed() bool {
	if len(r.Errors) > 0 {
		return true
	}
	for _, f := range r.Findings {
		if f.Accepted == nil {
			return true
		}
	}
	return false
}

// Options configure a comparison.
type Options struct {
	// Schemas are the create-only properties of each type.
	// Default: EmbeddedSchemas().
	Schemas *Schemas
	// Toolkit is the second source of replacements; nil uses the schemas
	// only.
	Toolkit Toolkit
	// Parallel bounds how many toolkit diffs run at once.
	// Default: the number of CPUs, at most 4.
	Parallel int
}

// Compare finds what the pull request's assembly would replace or remove of
// the base's resources that hold data. base nil means there is nothing to
// compare with (noBase says why): every stack is new, and one finding says
// the guard could not judge.
func Compare(ctx context.Context, base, pr *Assembly, noBase string, opts Options) *Report {
	if opts.Schemas == nil {
		opts.Schemas = EmbeddedSchemas()
	}
	r := &Report{}
	r.Sources = append(r.Sources, "the createOnlyProperties of the resource schemas ("+opts.Schemas.Source+")")
	if opts.Toolkit != nil {
		r.Sources = append(r.Sources, "the replacement markers of "+opts.Toolkit.Name())
	}

	baseStacks := map[string]*Stack{}
	if base != nil {
		for _, s := range base.Stacks {
			baseStacks[s.Key()] = s
		}
	}
	prKeys := map[string]bool{}
	for _, s := range pr.Stacks {
		prKeys[s.Key()] = true
		r.Stacks = append(r.Stacks, &StackChange{Base: baseStacks[s.Key()], PR: s})
	}
	if base != nil {
		for _, s := range base.Stacks {
			if !prKeys[s.Key()] {
				r.Stacks = append(r.Stacks, &StackChange{Base: s})
			}
		}
	}
	sort.SliceStable(r.Stacks, func(i, j int) bool { return r.Stacks[i].Stack().Key() < r.Stacks[j].Stack().Key() })

	for _, c := range r.Stacks {
		c.count()
	}
	if opts.Toolkit != nil {
		r.runToolkit(ctx, pr.Dir, opts)
	}
	for _, c := range r.Stacks {
		c.replacements(opts.Schemas)
	}
	r.findings()
	if base == nil {
		r.Findings = append([]*Finding{{
			Kind: NoBase,
			Why:  []string{noBase + ": nothing to compare the pull request with, so the guard cannot tell what it replaces or removes"},
		}}, r.Findings...)
	}
	return r
}

// count sorts the resources into added, removed, and in both but different
// (Changed, until replacements sorts out those replaced).
func (c *StackChange) count() {
	var before, after map[string]*Resource
	if c.Base != nil {
		before = c.Base.Template.Resources
	}
	if c.PR != nil {
		after = c.PR.Template.Resources
	}
	for id, res := range after {
		old, ok := before[id]
		switch {
		case !ok:
			c.Added = append(c.Added, id)
		case canonical(old.raw) != canonical(res.raw):
			c.Changed = append(c.Changed, id)
		}
	}
	for id := range before {
		if _, ok := after[id]; !ok {
			c.Removed = append(c.Removed, id)
		}
	}
	sort.Strings(c.Added)
	sort.Strings(c.Changed)
	sort.Strings(c.Removed)
	if c.Base != nil && c.PR != nil {
		keys := map[string]bool{}
		for k := range c.Base.Template.raw {
			keys[k] = true
		}
		for k := range c.PR.Template.raw {
			keys[k] = true
		}
		for k := range keys {
			if k != "Resources" && canonical(c.Base.Template.raw[k]) != canonical(c.PR.Template.raw[k]) {
				c.Sections = append(c.Sections, k)
			}
		}
		sort.Strings(c.Sections)
	}
}

// runToolkit diffs every stack that both sides have and that changed.
func (r *Report) runToolkit(ctx context.Context, dir string, opts Options) {
	parallel := opts.Parallel
	if parallel <= 0 {
		parallel = min(runtime.NumCPU(), 4)
	}
	slots := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, c := range r.Stacks {
		if c.Base == nil || c.PR == nil || c.Unchanged() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			text, err := opts.Toolkit.Diff(ctx, dir, c.PR, c.Base.TemplatePath)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.Errors = append(r.Errors, fmt.Sprintf("cdk diff of stack %s failed, so the guard could not check its replacements with the toolkit (run again, or pass -cdk=none to judge from the resource schemas alone): %v", c.PR.Label(), err))
				return
			}
			ids := map[string]bool{}
			for id := range c.Base.Template.Resources {
				ids[id] = true
			}
			for id := range c.PR.Template.Resources {
				ids[id] = true
			}
			d := ParseToolkitDiff(text, ids)
			c.ToolkitText = text
			c.toolkit = &d
		}()
	}
	wg.Wait()
	sort.Strings(r.Errors)
}

// replacements moves from Changed to Replaced the resources that
// CloudFormation would replace: a create-only property changed (schemas), the
// toolkit says so, or a create-only property refers to a resource that is
// replaced (its value changes at deploy time, though its text does not).
func (c *StackChange) replacements(schemas *Schemas) {
	c.replacedWhy = map[string][]string{}
	if c.Base == nil || c.PR == nil {
		return
	}
	before, after := c.Base.Template.Resources, c.PR.Template.Resources
	var both []string
	textChanged := map[string]bool{}
	for _, id := range slices.Sorted(maps.Keys(after)) {
		if old, ok := before[id]; ok {
			both = append(both, id)
			textChanged[id] = canonical(old.raw) != canonical(after[id].raw)
		}
	}
	causes := map[string][]cause{}
	for _, id := range both {
		if textChanged[id] {
			causes[id] = schemaReplacement(schemas, before[id], after[id])
		}
		if c.toolkit != nil {
			causes[id] = append(causes[id], toolkitReplacement(c.toolkit.Resources[id])...)
		}
	}
	for grew := true; grew; {
		grew = false
		for _, id := range both {
			if len(causes[id]) > 0 {
				continue
			}
			res := after[id]
			pointers, _ := schemas.CreateOnly(res.Type)
			for _, p := range pointers {
				for _, v := range pointerSelect(res.Properties, p) {
					for _, ref := range references(v) {
						if len(causes[ref]) > 0 {
							causes[id] = append(causes[id], cause{p, "refers to " + ref + ", which is replaced (create-only in the resource schema)"})
							grew = true
						}
					}
				}
			}
		}
	}
	for id, list := range causes {
		if len(list) > 0 {
			c.replacedWhy[id] = mergeCauses(list)
		}
	}
	c.Changed, c.Replaced = nil, nil
	for _, id := range both {
		switch {
		case c.replacedWhy[id] != nil:
			c.Replaced = append(c.Replaced, id)
		case textChanged[id]:
			c.Changed = append(c.Changed, id)
		}
	}
}

// cause is one reason for a replacement: a property (a schema pointer, or
// "" for the whole resource) and what says it forces the replacement.
type cause struct{ pointer, detail string }

// mergeCauses puts the reasons about one property together:
// "/properties/BucketName: changes, create-only in the resource schema;
// cdk diff: requires replacement".
func mergeCauses(causes []cause) []string {
	var order []string
	details := map[string][]string{}
	for _, c := range causes {
		if _, seen := details[c.pointer]; !seen {
			order = append(order, c.pointer)
		}
		details[c.pointer] = append(details[c.pointer], c.detail)
	}
	out := make([]string, 0, len(order))
	for _, p := range order {
		text := strings.Join(details[p], "; ")
		if p != "" {
			text = p + ": " + text
		}
		out = append(out, text)
	}
	return out
}

// schemaReplacement gives the causes of a replacement that the resource
// schemas see between two versions of a resource.
func schemaReplacement(schemas *Schemas, old, res *Resource) []cause {
	if old.Type != res.Type {
		return []cause{{"", fmt.Sprintf("its type changes from %s to %s", old.Type, res.Type)}}
	}
	pointers, known := schemas.CreateOnly(res.Type)
	if !known {
		if canonical(old.Properties) != canonical(res.Properties) {
			return []cause{{"", fmt.Sprintf("its properties change and %s is not in the resource schemas, so the guard cannot tell that it is updated in place (regenerate createonly.json: go generate ./internal/dataguard)", res.Type)}}
		}
		return nil
	}
	var changed []string
	for _, p := range pointers {
		if pointerChanged(old.Properties, res.Properties, p) {
			changed = append(changed, p)
		}
	}
	var out []cause
	for _, p := range mostSpecific(changed) {
		out = append(out, cause{p, "changes, and it is create-only in the resource schema"})
	}
	return out
}

// toolkitReplacement gives the causes of a replacement that cdk diff marks.
func toolkitReplacement(t ToolkitResource) []cause {
	var out []cause
	for _, p := range t.Replacing {
		marker := "requires replacement"
		if p.May {
			marker = "may cause replacement"
		}
		out = append(out, cause{"/properties/" + p.Name, marker + " (cdk diff)"})
	}
	if len(out) == 0 && (t.Impact == "replace" || t.Impact == "may be replaced") {
		out = append(out, cause{"", t.Impact + " (cdk diff)"})
	}
	return out
}

// mostSpecific drops a pointer when one inside it is in the list too.
func mostSpecific(pointers []string) []string {
	var out []string
	for _, p := range pointers {
		inner := false
		for _, q := range pointers {
			if q != p && within(q, p) {
				inner = true
				break
			}
		}
		if !inner {
			out = append(out, p)
		}
	}
	return out
}

// findings turns the changes into findings on the resources that hold data,
// and looks for the new resource a removed one may have become.
func (r *Report) findings() {
	for _, c := range r.Stacks {
		if c.Base == nil {
			continue
		}
		before := c.Base.Template.Resources
		ids := append(append([]string{}, c.Replaced...), c.Removed...)
		sort.Strings(ids)
		for _, id := range ids {
			res := before[id]
			holds, ok := HoldsData(res)
			if !ok {
				continue
			}
			f := &Finding{Stack: c.Base, LogicalID: id, Type: res.Type, Holds: holds}
			switch {
			case c.PR == nil:
				f.Kind = StackRemoved
				f.Why = []string{"the stack is no longer in the pull request's assembly"}
				f.Effect = removalEffect(res, "deleting the stack")
			case c.replacedWhy[id] != nil:
				f.Kind = Replaced
				f.Why = c.replacedWhy[id]
				f.Effect = replacementEffect(res)
			default:
				f.Kind = Removed
				f.Why = []string{"the logical ID is no longer in the stack's template"}
				f.Effect = removalEffect(res, "the update")
			}
			if f.Kind != Replaced {
				f.Similar = r.similar(c.Base, id, res)
			}
			r.Findings = append(r.Findings, f)
		}
	}
}

func removalEffect(res *Resource, by string) string {
	switch res.DeletionPolicy {
	case "Retain", "RetainExceptOnCreate":
		return by + " leaves it in the account, outside any stack (DeletionPolicy " + res.DeletionPolicy + "): nothing manages it any more, and a new resource with the same name fails to create"
	case "Snapshot":
		return by + " deletes it after a final snapshot (DeletionPolicy Snapshot)"
	}
	return by + " deletes it and the data in it"
}

func replacementEffect(res *Resource) string {
	switch res.UpdateReplacePolicy {
	case "Retain", "RetainExceptOnCreate":
		return "CloudFormation creates a new, empty one and leaves the old one in the account, outside the stack (UpdateReplacePolicy " + res.UpdateReplacePolicy + ")"
	case "Snapshot":
		return "CloudFormation creates a new, empty one and deletes the old one after a final snapshot (UpdateReplacePolicy Snapshot)"
	}
	return "CloudFormation creates a new, empty one and deletes the old one with its data"
}

// similar finds, among the resources the pull request adds in any stack,
// one of the same type whose properties are mostly the same as res's.
func (r *Report) similar(stack *Stack, id string, res *Resource) *Location {
	var best *Location
	bestScore := 0.0
	for _, c := range r.Stacks {
		if c.PR == nil {
			continue
		}
		candidates := c.Added
		if c.Base == nil {
			candidates = slices.Sorted(maps.Keys(c.PR.Template.Resources))
		}
		for _, cid := range candidates {
			cand := c.PR.Template.Resources[cid]
			if cand.Type != res.Type || (c.PR.Key() == stack.Key() && cid == id) {
				continue
			}
			if score := similarity(res.Properties, cand.Properties); score >= 0.5 && score > bestScore {
				best, bestScore = &Location{Stack: c.PR, LogicalID: cid}, score
			}
		}
	}
	return best
}

// similarity is the share of top-level properties with the same value.
func similarity(a, b map[string]any) float64 {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	if len(keys) == 0 {
		return 1
	}
	same := 0
	for k := range keys {
		va, oka := a[k]
		vb, okb := b[k]
		if oka && okb && canonical(va) == canonical(vb) {
			same++
		}
	}
	return float64(same) / float64(len(keys))
}
