package changelog

import (
	"os"
	"strings"
	"testing"
)

const sample = "# Changelog\n\nIntro.\n\n" +
	"## [Unreleased]\n\n### Configuration\n\n- a new key\n\n" +
	"## [0.2.0] - 2026-12-24\n\n### Resources\n\n- the table is replaced\n\n```md\n## [9.9.9] - 2026-01-01\n```\n\n" +
	"## [0.2.0-rc.1] - 2026-12-20\n\n- a candidate\n\n" +
	"## [0.1.0] - 2026-12-02\n\nThe first release.\r\n\n" +
	"[Unreleased]: https://example.com/compare/v0.2.0...HEAD\n[0.1.0]: https://example.com/tag/v0.1.0\n"

// The repository's own changelog keeps the rules the release workflow
// relies on.
func TestRepositoryChangelog(t *testing.T) {
	data, err := os.ReadFile("../../CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range Check(string(data)) {
		t.Error("CHANGELOG.md: " + p)
	}
	sections := Parse(string(data))
	if len(sections) < 2 {
		t.Fatalf("CHANGELOG.md has %d sections, want [Unreleased] and at least one release", len(sections))
	}
	if _, err := Entry(string(data), "v"+sections[1].Name); err != nil {
		t.Error(err)
	}
}

func TestVersion(t *testing.T) {
	for _, tag := range []string{"v0.1.0", "v0.10.2", "v1.0.0", "v0.2.0-rc.1", "v0.2.0-alpha.beta.1", "v0.2.0+build.5"} {
		if v, err := Version(tag); err != nil || "v"+v != tag {
			t.Errorf("Version(%q) = %q, %v", tag, v, err)
		}
	}
	for _, tag := range []string{"0.1.0", "v0.1", "v0.1.0.1", "v01.1.0", "v0.1.0-", "v0.1.0-rc..1", "v0.1.0-01", "release-1", "vX.Y.Z", "", "refs/tags/v0.1.0", "v0.1.0 "} {
		_, err := Version(tag)
		if err == nil || !strings.Contains(err.Error(), "is not a semantic version") {
			t.Errorf("Version(%q): error %v, want not a semantic version", tag, err)
		}
	}
}

func TestEntry(t *testing.T) {
	tests := []struct {
		tag, want, wantErr string
	}{
		{"v0.2.0", "### Resources\n\n- the table is replaced\n\n```md\n## [9.9.9] - 2026-01-01\n```\n", ""},
		{"v0.2.0-rc.1", "- a candidate\n", ""},
		// The last entry ends before the link definitions that close the file.
		{"v0.1.0", "The first release.\n", ""},
		{"v0.3.0", "", `CHANGELOG.md has no entry for v0.3.0: move what is under [Unreleased] into a section headed "## [0.3.0] - YYYY-MM-DD"`},
		{"v9.9.9", "", "no entry for v9.9.9"}, // a heading inside a code block is text
		{"0.2.0", "", `tag "0.2.0" is not a semantic version`},
		{"Unreleased", "", "is not a semantic version"},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			got, err := Entry(sample, tt.tag)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Errorf("error %v, want one line containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := Entry("## [Unreleased]\n\n## [0.1.0] - 2026-12-02\n\n", "v0.1.0"); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("an empty entry: error %v", err)
	}
}

func TestCheck(t *testing.T) {
	if p := Check(sample); len(p) != 0 {
		t.Errorf("the sample has problems: %q", p)
	}
	tests := []struct {
		name, text, want string
	}{
		{"no Unreleased", "## [0.1.0] - 2026-12-02\n\nx\n", `the first section must be "## [Unreleased]"`},
		{"Unreleased below a release", "## [Unreleased]\n\n## [0.1.0] - 2026-12-02\n\nx\n## [Unreleased]\n", "line 6: [Unreleased] must be the first section"},
		{"no date", "## [Unreleased]\n\n## [0.1.0]\n\nx\n", "line 3: the heading of 0.1.0 needs its release date"},
		{"not a version", "## [Unreleased]\n\n## [next] - 2026-12-02\n\nx\n", "line 3: [next] is not a semantic version"},
		{"empty", "## [Unreleased]\n\n## [0.1.0] - 2026-12-02\n\n", "line 3: the entry for 0.1.0 is empty"},
		{"oldest first", "## [Unreleased]\n\n## [0.1.0] - 2026-12-02\n\nx\n\n## [0.2.0] - 2026-12-24\n\ny\n", "line 7: 0.2.0 is newer than 0.1.0 above it"},
		{"twice", "## [Unreleased]\n\n## [0.1.0] - 2026-12-02\n\nx\n\n## [0.1.0] - 2026-12-02\n\ny\n", "line 7: 0.1.0 has a second entry (first at line 3)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := Check(tt.text)
			if !strings.Contains(strings.Join(problems, "\n"), tt.want) {
				t.Errorf("problems %q, want one containing %q", problems, tt.want)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	// Each version is older than the next: semver.org's precedence example.
	ordered := []string{"0.9.9", "0.10.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
		"1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0", "10.0.0"}
	for i := range ordered {
		for j := range ordered {
			got := Compare(ordered[i], ordered[j])
			if (i < j && got >= 0) || (i > j && got <= 0) || (i == j && got != 0) {
				t.Errorf("Compare(%s, %s) = %d", ordered[i], ordered[j], got)
			}
		}
	}
	if Compare("1.0.0+build.1", "1.0.0") != 0 {
		t.Error("build metadata changed the precedence")
	}
}
