package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// maxParametersLen bounds UserParameters (CodePipeline allows 1000
// characters); longer text is refused before it is parsed.
const maxParametersLen = 8 * 1024

// userParameters is the action's UserParameters JSON.
type userParameters struct {
	Mode        Mode
	ImageTag    string
	ExecutionID string
}

// parameterKeys are the keys UserParameters may hold, spelled exactly so.
// Other keys are ignored, so a newer pipeline can add some.
var parameterKeys = []string{"mode", "imageTag", "executionId"}

var (
	// validJobID: CodePipeline job ids are UUIDs; this also keeps logs clean.
	validJobID = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)
	// validTag is Docker's tag grammar (ECR accepts these).
	validTag = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	// validExecutionID: execution ids are UUIDs; this keeps the table key sane.
	validExecutionID = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)
)

// parseUserParameters reads and checks UserParameters, strictly: one JSON
// object, no key twice (not even in another case), known keys spelled
// exactly, nothing after it. Each field is read on its own, so a bad field
// leaves the others readable (the execution id keys the ERROR item). Fields
// that do not pass their check are left empty, so messages never repeat
// malformed input.
func parseUserParameters(s string) (userParameters, error) {
	const want = `expected {"mode":"gate"|"verify","imageTag":"<tag>","executionId":"<id>"}`
	var out userParameters
	switch {
	case strings.TrimSpace(s) == "":
		return out, fmt.Errorf("%w: empty; %s", ErrBadParameters, want)
	case len(s) > maxParametersLen:
		return out, fmt.Errorf("%w: longer than %d bytes", ErrBadParameters, maxParametersLen)
	}
	fields, err := objectFields(s)
	if err != nil {
		return out, fmt.Errorf("%w: %v; %s", ErrBadParameters, err, want)
	}
	var problems []string
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, known := range parameterKeys {
			if k != known && strings.EqualFold(k, known) {
				problems = append(problems, fmt.Sprintf("key %q is spelled %q", clip(k), known))
			}
		}
	}
	// str reads a string member; ok is false when it is there but not a string.
	str := func(name string) (v string, ok bool) {
		raw, given := fields[name]
		if !given {
			return "", true
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			problems = append(problems, name+" is not a string")
			return "", false
		}
		return v, true
	}
	check := func(name string, re *regexp.Regexp, dst *string) {
		v, ok := str(name)
		switch {
		case !ok:
		case v == "":
			problems = append(problems, name+" is missing")
		case strings.Contains(v, "#{"):
			problems = append(problems, fmt.Sprintf("%s is the unresolved pipeline variable %q", name, clip(v)))
		case !re.MatchString(v):
			problems = append(problems, fmt.Sprintf("%s %q is not valid", name, clip(v)))
		default:
			*dst = v
		}
	}

	// The execution id first: it keys the item that records every other problem.
	check("executionId", validExecutionID, &out.ExecutionID)
	if mode, ok := str("mode"); ok {
		switch Mode(mode) {
		case ModeGate, ModeVerify:
			out.Mode = Mode(mode)
		case "":
			problems = append(problems, "mode is missing")
		default:
			problems = append(problems, fmt.Sprintf("mode %q is not gate or verify", clip(mode)))
		}
	}
	check("imageTag", validTag, &out.ImageTag)
	if len(problems) > 0 {
		return out, fmt.Errorf("%w: %s", ErrBadParameters, strings.Join(problems, "; "))
	}
	return out, nil
}

// objectFields reads s as exactly one JSON object and returns its members.
// A key that appears twice, or two keys that differ only in case (which
// encoding/json would both match to one field), and anything after the
// object, are errors.
func objectFields(s string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	notObject := func(err error) error {
		if err == nil || err == io.EOF {
			return errors.New("not a JSON object")
		}
		return fmt.Errorf("not a JSON object (%v)", err)
	}
	tok, err := dec.Token()
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '{' {
		return nil, notObject(err)
	}
	fields := map[string]json.RawMessage{}
	folded := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		key, ok := tok.(string)
		if err != nil || !ok {
			return nil, notObject(err)
		}
		if first, dup := folded[strings.ToLower(key)]; dup {
			if first == key {
				return nil, fmt.Errorf("key %q appears twice", clip(key))
			}
			return nil, fmt.Errorf("key %q appears twice (also as %q)", clip(key), clip(first))
		}
		folded[strings.ToLower(key)] = key
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, notObject(err)
		}
		fields[key] = raw
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, notObject(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("text after the JSON object")
	}
	return fields, nil
}

// clip keeps echoed input short and printable.
func clip(s string) string { return asciiLine(s, 64) }
