package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"
)

// maxParametersLen bounds UserParameters (CodePipeline allows 1000
// characters); longer text is refused before it is parsed.
const maxParametersLen = 8 * 1024

// userParameters is the action's UserParameters JSON. Mode, ImageTag and
// ExecutionID are required; the rest serve pipelines with several
// environments and may be absent.
type userParameters struct {
	Mode        Mode
	ImageTag    string
	ExecutionID string
	ImageDigest string    // gate: the tag must resolve to it; verify: the service must run it
	CommitTime  time.Time // zero when not given
	Environment string    // the environment checked; "" is the function's ENVIRONMENT
	Target      *targetParams
}

// targetParams is where verify looks, when not where the function's
// environment says: absent fields fall back to it.
type targetParams struct {
	Cluster, Service, Container, Account, Region, RoleARN string
}

// parameterKeys and targetKeys are the keys UserParameters may hold, spelled
// exactly so. Other keys are ignored, so a newer pipeline can add some.
var (
	parameterKeys = []string{"mode", "imageTag", "executionId", "imageDigest", "commitTime", "environment", "target"}
	targetKeys    = []string{"cluster", "service", "container", "account", "region", "roleArn"}
)

var (
	// validJobID: CodePipeline job ids are UUIDs; this also keeps logs clean.
	validJobID = bounded{re: regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`), max: 128}
	// validTag is Docker's tag grammar (ECR accepts these).
	validTag = bounded{re: regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`), max: 128}
	// validExecutionID: execution ids are UUIDs; this keeps the table key sane.
	validExecutionID = bounded{re: regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`), max: 128}
	validDigest      = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	// validEnvironment: the stack's environment names (lowercase, digits,
	// hyphens); they also go into image tags.
	validEnvironment = bounded{re: regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`), max: 64}
	// validECSName: a cluster or service name (1-255), or its ARN (a name
	// of 1-512 after cluster/ or service/).
	validECSName = oneOf{
		bounded{re: regexp.MustCompile(`^[A-Za-z0-9_-]+$`), max: 255},
		bounded{re: regexp.MustCompile(`^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:(cluster|service)/([A-Za-z0-9_/-]+)$`), max: 512, group: 2},
	}
	validContainer = bounded{re: regexp.MustCompile(`^[A-Za-z0-9_-]+$`), max: 255}
	validAccount   = regexp.MustCompile(`^\d{12}$`)
	validRegion    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d{1,2}$`)
	// validRoleARN: the account (group 1) and a role path and name of
	// 1-512 (group 2).
	validRoleARN = bounded{re: regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}):role/([A-Za-z0-9+=,.@_/-]+)$`), max: 512, group: 2}
)

// A matcher tells whether a value has the form its field wants.
type matcher interface{ MatchString(s string) bool }

// bounded is a regular expression with a length limit, on the whole value
// or on one capture group: what a counted repetition such as {1,512} says.
// Go's regexp compiles a counted repetition into as many copies of its
// operand; written with counts, the expressions above took 4.5 ms and
// 13,000 allocations of every cold start (the package's init).
type bounded struct {
	re    *regexp.Regexp
	max   int // the longest the value, or the group, may be (in bytes)
	group int // the capture group max limits; 0 for the whole value
}

// FindStringSubmatch is the regular expression's, nil beyond the limit.
func (b bounded) FindStringSubmatch(s string) []string {
	if b.group == 0 && len(s) > b.max {
		return nil
	}
	m := b.re.FindStringSubmatch(s)
	if m == nil || len(m[b.group]) > b.max {
		return nil
	}
	return m
}

func (b bounded) MatchString(s string) bool { return b.FindStringSubmatch(s) != nil }

// oneOf matches what any of its matchers matches.
type oneOf []matcher

func (o oneOf) MatchString(s string) bool {
	for _, m := range o {
		if m.MatchString(s) {
			return true
		}
	}
	return false
}

// commitTimeLayouts are the forms a commit time may take: ISO 8601 as the
// source actions give it, and git's default.
var commitTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05 -0700",
	"Mon Jan 2 15:04:05 2006 -0700",
}

// parseCommitTime reads a commit time; it must lie between 1970 and 2200.
func parseCommitTime(s string) (time.Time, bool) {
	for _, layout := range commitTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Year() < 1970 || t.Year() > 2200 {
				return time.Time{}, false
			}
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// parseUserParameters reads and checks UserParameters, strictly: one JSON
// object, no key twice (not even in another case), known keys spelled
// exactly, nothing after it. Each field is read on its own, so a bad field
// leaves the others readable (the execution id keys the ERROR item). Fields
// that do not pass their check are left empty, so messages never repeat
// malformed input.
func parseUserParameters(s string) (userParameters, error) {
	const want = `expected {"mode":"gate"|"verify","imageTag":"<tag>","executionId":"<id>"} ` +
		`and optionally "imageDigest", "commitTime", "environment", "target"`
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
	r := fieldReader{fields: fields, problems: &problems}
	r.spelling(parameterKeys)

	// The execution id first: it keys the item that records every other problem.
	r.check("executionId", validExecutionID, true, &out.ExecutionID)
	if mode, ok := r.str("mode"); ok {
		switch Mode(mode) {
		case ModeGate, ModeVerify:
			out.Mode = Mode(mode)
		case "":
			problems = append(problems, "mode is missing")
		default:
			problems = append(problems, fmt.Sprintf("mode %q is not gate or verify", clip(mode)))
		}
	}
	r.check("imageTag", validTag, true, &out.ImageTag)
	r.check("imageDigest", validDigest, false, &out.ImageDigest)
	r.check("environment", validEnvironment, false, &out.Environment)
	var commitTime string
	if r.check("commitTime", nil, false, &commitTime); commitTime != "" {
		t, ok := parseCommitTime(commitTime)
		if !ok {
			problems = append(problems, fmt.Sprintf("commitTime %q is not an ISO 8601 time", clip(commitTime)))
		}
		out.CommitTime = t
	}
	if raw, given := fields["target"]; given {
		out.Target = readTarget(raw, &problems)
	}
	if len(problems) > 0 {
		return out, fmt.Errorf("%w: %s", ErrBadParameters, strings.Join(problems, "; "))
	}
	return out, nil
}

// readTarget reads the target object as strictly as the parameters.
func readTarget(raw json.RawMessage, problems *[]string) *targetParams {
	fields, err := objectFields(string(raw))
	if err != nil {
		*problems = append(*problems, "target: "+err.Error())
		return nil
	}
	var t targetParams
	r := fieldReader{prefix: "target.", fields: fields, problems: problems}
	r.spelling(targetKeys)
	r.check("cluster", validECSName, false, &t.Cluster)
	r.check("service", validECSName, false, &t.Service)
	r.check("container", validContainer, false, &t.Container)
	r.check("account", validAccount, false, &t.Account)
	r.check("region", validRegion, false, &t.Region)
	r.check("roleArn", validRoleARN, false, &t.RoleARN)
	return &t
}

// fieldReader reads the members of one object, adding what is wrong with
// them to problems.
type fieldReader struct {
	prefix   string // names the object in problems, e.g. "target."
	fields   map[string]json.RawMessage
	problems *[]string
}

// spelling refuses keys that are a known key in another case.
func (r fieldReader) spelling(known []string) {
	keys := make([]string, 0, len(r.fields))
	for k := range r.fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, want := range known {
			if k != want && strings.EqualFold(k, want) {
				*r.problems = append(*r.problems, fmt.Sprintf("key %q is spelled %q", clip(r.prefix+k), r.prefix+want))
			}
		}
	}
}

// str reads a string member; ok is false when it is there but not a string.
func (r fieldReader) str(name string) (v string, ok bool) {
	raw, given := r.fields[name]
	if !given {
		return "", true
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		*r.problems = append(*r.problems, r.prefix+name+" is not a string")
		return "", false
	}
	return v, true
}

// check reads a string member into dst when it passes re (nil: any text).
func (r fieldReader) check(name string, re matcher, required bool, dst *string) {
	v, ok := r.str(name)
	name = r.prefix + name
	switch {
	case !ok:
	case v == "" && required:
		*r.problems = append(*r.problems, name+" is missing")
	case v == "":
	case strings.Contains(v, "#{"):
		*r.problems = append(*r.problems, fmt.Sprintf("%s is the unresolved pipeline variable %q", name, clip(v)))
	case re != nil && !re.MatchString(v):
		*r.problems = append(*r.problems, fmt.Sprintf("%s %q is not valid", name, clip(v)))
	default:
		*dst = v
	}
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
