// Package patterntest holds a pattern written without counted repetitions
// (which Go's regexp compiles into as many copies of their operand) to the
// counted regular expression it stands for.
package patterntest

import (
	"regexp"
	"testing"
)

// SameAsCounted fails t for every value that m and the counted expression
// judge differently, and when the values do not try both sides: fewer
// than ten accepted, or all of them.
func SameAsCounted(t testing.TB, name string, m interface{ MatchString(string) bool }, counted string, values []string) {
	t.Helper()
	re := regexp.MustCompile(counted)
	accepted := 0
	for _, v := range values {
		got, want := m.MatchString(v), re.MatchString(v)
		if got != want {
			t.Errorf("%s: %q (%d bytes): accepted %v, the counted expression %v", name, v, len(v), got, want)
		}
		if want {
			accepted++
		}
	}
	if accepted < 10 || accepted == len(values) {
		t.Errorf("%s: %d of %d values accepted: the values do not try both sides", name, accepted, len(values))
	}
}
