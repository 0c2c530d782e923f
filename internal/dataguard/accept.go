package dataguard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
)

// Label is the pull-request label that accepts every finding of the pull
// request; the workflow passes whoever added it.
const Label = "allow-data-replacement"

// DefaultAcceptFile is where the accepted changes are committed.
const DefaultAcceptFile = ".github/data-guard-accept.json"

// Acceptance says who let a change through and how.
type Acceptance struct {
	By string
	// Reason is the accept file's reason ("" for the label).
	Reason string
	// Source is the accept file's path, or the label.
	Source string
}

// AcceptEntry accepts the replacement or removal of one resource.
type AcceptEntry struct {
	// Stack is the CloudFormation stack name.
	Stack string `json:"stack"`
	// Environment is aws://ACCOUNT/REGION, needed only when stacks of the
	// same name live in more than one environment.
	Environment string `json:"environment,omitempty"`
	LogicalID   string `json:"logicalId"`
	// Reason says why losing (or moving) the data is fine.
	Reason string `json:"reason"`
	// By is who decided (a GitHub login).
	By string `json:"by"`
}

func (e AcceptEntry) String() string {
	s := e.Stack + " " + e.LogicalID
	if e.Environment != "" {
		s += " (" + e.Environment + ")"
	}
	return s
}

// AcceptFile is the committed list of accepted changes.
type AcceptFile struct {
	Path    string
	Entries []AcceptEntry
}

var (
	environmentPattern = regexp.MustCompile(`^aws://[^/\s]+/[^/\s]+$`)
	patternChars       = "*?[]"
)

// ReadAcceptFile reads and checks an accept file: {"accept": [entries]},
// each naming one exact resource with a reason and who accepted it. Nothing
// else is allowed in it, so no entry can accept more than one resource.
func ReadAcceptFile(path string) (*AcceptFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var file struct {
		Accept *[]AcceptEntry `json:"accept"`
	}
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("%s: %v (want {\"accept\": [{\"stack\", \"logicalId\", \"reason\", \"by\"}, ...]})", path, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: more than one JSON value", path)
	}
	if file.Accept == nil {
		return nil, fmt.Errorf("%s: no \"accept\" list (want {\"accept\": [{\"stack\", \"logicalId\", \"reason\", \"by\"}, ...]})", path)
	}
	seen := map[AcceptEntry]bool{}
	for i, e := range *file.Accept {
		where := fmt.Sprintf("%s: entry %d", path, i+1)
		for _, f := range []struct{ name, value string }{{"stack", e.Stack}, {"logicalId", e.LogicalID}, {"reason", e.Reason}, {"by", e.By}} {
			if strings.TrimSpace(f.value) == "" {
				return nil, fmt.Errorf("%s has no %s: every entry names the stack, the logical ID, the reason and who accepted it", where, f.name)
			}
		}
		if strings.ContainsAny(e.Stack+e.LogicalID, patternChars) {
			return nil, fmt.Errorf("%s: stack %q and logicalId %q must be exact names, not patterns", where, e.Stack, e.LogicalID)
		}
		if e.Environment != "" && !environmentPattern.MatchString(e.Environment) {
			return nil, fmt.Errorf("%s: environment %q is not aws://ACCOUNT/REGION", where, e.Environment)
		}
		key := AcceptEntry{Stack: e.Stack, Environment: e.Environment, LogicalID: e.LogicalID}
		if seen[key] {
			return nil, fmt.Errorf("%s: %s is listed twice", where, e)
		}
		seen[key] = true
	}
	return &AcceptFile{Path: path, Entries: *file.Accept}, nil
}

// Accept marks the findings that the accept file names, then, when labelBy
// is set (the pull request carries the label, added by labelBy), every other
// finding. An entry that matches no finding fails the check: left in place,
// it would let a later pull request replace the same resource unnoticed.
func (r *Report) Accept(file *AcceptFile, labelBy string) {
	if file != nil {
		for _, e := range file.Entries {
			var matched []*Finding
			envs := map[string]bool{}
			for _, f := range r.Findings {
				if f.Stack == nil || f.Stack.Name != e.Stack || f.LogicalID != e.LogicalID {
					continue
				}
				if e.Environment != "" && f.Stack.Env != e.Environment {
					continue
				}
				matched = append(matched, f)
				envs[f.Stack.Env] = true
			}
			switch {
			case len(matched) == 0:
				r.Errors = append(r.Errors, fmt.Sprintf("%s accepts %s, which this pull request neither replaces nor removes: delete the entry (left in place, it would let a later change to that resource through)", file.Path, e))
			case len(envs) > 1:
				r.Errors = append(r.Errors, fmt.Sprintf("%s accepts %s, which is in stacks of that name in %s: add \"environment\" to say which", file.Path, e,
					strings.Join(slices.Sorted(maps.Keys(envs)), " and ")))
			default:
				for _, f := range matched {
					f.Accepted = &Acceptance{By: e.By, Reason: e.Reason, Source: file.Path}
				}
			}
		}
	}
	if labelBy != "" {
		for _, f := range r.Findings {
			if f.Accepted == nil {
				f.Accepted = &Acceptance{By: labelBy, Source: "pull-request label " + Label}
			}
		}
	}
}
