// Package changelog reads CHANGELOG.md: the entry a release tag publishes,
// and the rules the file keeps so that every release has one.
//
// The file follows Keep a Changelog: a "## [Unreleased]" section first, then
// one section per release, newest first, headed "## [0.2.0] - 2026-12-24".
// Release tags are the version with a leading v (v0.2.0).
package changelog

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Unreleased is the heading of the changes not yet in a release.
const Unreleased = "Unreleased"

// tagPattern is semver.org's regular expression with a leading v.
var tagPattern = regexp.MustCompile(`^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// Version returns the version a release tag names (v0.2.0 gives 0.2.0), or
// an error if the tag is not a semantic version.
func Version(tag string) (string, error) {
	if !tagPattern.MatchString(tag) {
		return "", fmt.Errorf("tag %q is not a semantic version: release tags are vMAJOR.MINOR.PATCH, such as v0.2.0 or v0.2.0-rc.1", tag)
	}
	return strings.TrimPrefix(tag, "v"), nil
}

// Section is one "## [name]" part of the file.
type Section struct {
	Name string // Unreleased or a version
	Date string // YYYY-MM-DD after the name; empty if none
	Line int    // of the heading, from 1
	Body string // the text up to the next section, trimmed
}

var (
	heading = regexp.MustCompile(`^## \[([^\]]+)\](.*)$`)
	dated   = regexp.MustCompile(`^ - (\d{4}-\d{2}-\d{2})$`)
	linkDef = regexp.MustCompile(`^\[[^\]]+\]: \S`)
)

// Parse splits the file into its sections. The link reference definitions
// that close the file ("[0.2.0]: https://...") belong to no section.
func Parse(text string) []Section {
	var sections []Section
	var body []string
	flush := func(last bool) {
		for last && len(body) > 0 {
			line := strings.TrimSpace(body[len(body)-1])
			if line != "" && !linkDef.MatchString(line) {
				break
			}
			body = body[:len(body)-1]
		}
		if len(sections) > 0 {
			sections[len(sections)-1].Body = strings.TrimSpace(strings.Join(body, "\n"))
		}
		body = nil
	}
	fenced := false // a heading inside a code block is text
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
		}
		if m := heading.FindStringSubmatch(line); m != nil && !fenced {
			flush(false)
			s := Section{Name: m[1], Line: i + 1}
			if d := dated.FindStringSubmatch(m[2]); d != nil {
				s.Date = d[1]
			}
			sections = append(sections, s)
			continue
		}
		body = append(body, line)
	}
	flush(true)
	return sections
}

// Entry returns the body of the section a release tag names: what the
// release publishes.
func Entry(text, tag string) (string, error) {
	version, err := Version(tag)
	if err != nil {
		return "", err
	}
	for _, s := range Parse(text) {
		if s.Name != version {
			continue
		}
		if s.Body == "" {
			return "", fmt.Errorf("CHANGELOG.md's entry for %s (line %d) is empty: say what the release changes for a user", version, s.Line)
		}
		return s.Body + "\n", nil
	}
	return "", fmt.Errorf(`CHANGELOG.md has no entry for %s: move what is under [Unreleased] into a section headed "## [%s] - YYYY-MM-DD", commit, and tag that commit`, tag, version)
}

// Check returns the file's problems, one line each: an [Unreleased] section
// first, then released versions, each dated, newest first, none twice.
func Check(text string) []string {
	var problems []string
	sections := Parse(text)
	if len(sections) == 0 || sections[0].Name != Unreleased {
		problems = append(problems, `the first section must be "## [Unreleased]", where changes wait for the next release`)
	}
	var previous *Section
	for i := range sections {
		s := &sections[i]
		if s.Name == Unreleased {
			if i != 0 {
				problems = append(problems, fmt.Sprintf("line %d: [Unreleased] must be the first section", s.Line))
			}
			continue
		}
		if _, err := Version("v" + s.Name); err != nil {
			problems = append(problems, fmt.Sprintf("line %d: [%s] is not a semantic version MAJOR.MINOR.PATCH", s.Line, s.Name))
			continue
		}
		if s.Date == "" {
			problems = append(problems, fmt.Sprintf(`line %d: the heading of %s needs its release date: "## [%s] - YYYY-MM-DD"`, s.Line, s.Name, s.Name))
		}
		if s.Body == "" {
			problems = append(problems, fmt.Sprintf("line %d: the entry for %s is empty", s.Line, s.Name))
		}
		if previous != nil {
			switch c := Compare(s.Name, previous.Name); {
			case c == 0:
				problems = append(problems, fmt.Sprintf("line %d: %s has a second entry (first at line %d)", s.Line, s.Name, previous.Line))
			case c > 0:
				problems = append(problems, fmt.Sprintf("line %d: %s is newer than %s above it: newest first", s.Line, s.Name, previous.Name))
			}
		}
		previous = s
	}
	return problems
}

// Compare orders two semantic versions (without the v) by precedence:
// negative if a is older than b, zero if equal, positive if newer. Build
// metadata is ignored; both must be valid.
func Compare(a, b string) int {
	pa, pb := parts(a), parts(b)
	for i := range 3 {
		if c := compareNumbers(pa.core[i], pb.core[i]); c != 0 {
			return c
		}
	}
	switch {
	case pa.pre == nil && pb.pre == nil:
		return 0
	case pa.pre == nil:
		return 1 // a release is newer than its pre-releases
	case pb.pre == nil:
		return -1
	}
	for i := 0; i < len(pa.pre) && i < len(pb.pre); i++ {
		x, y := pa.pre[i], pb.pre[i]
		_, errX := strconv.ParseUint(x, 10, 64)
		_, errY := strconv.ParseUint(y, 10, 64)
		var c int
		switch {
		case errX == nil && errY == nil:
			c = compareNumbers(x, y)
		case errX == nil:
			c = -1 // numeric identifiers sort before alphanumeric ones
		case errY == nil:
			c = 1
		default:
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	return len(pa.pre) - len(pb.pre)
}

type version struct {
	core [3]string
	pre  []string
}

func parts(v string) version {
	v, _, _ = strings.Cut(v, "+")
	core, pre, hasPre := strings.Cut(v, "-")
	var out version
	copy(out.core[:], strings.SplitN(core, ".", 3))
	if hasPre {
		out.pre = strings.Split(pre, ".")
	}
	return out
}

// compareNumbers compares decimal strings without leading zeros, of any length.
func compareNumbers(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}
