package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	file := filepath.Join(t.TempDir(), "CHANGELOG.md")
	text := "# Changelog\n\n## [Unreleased]\n\n## [0.1.0] - 2026-12-02\n\n### Configuration\n\n- a key\n"
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		code       int
		out, error string
	}{
		{"an entry", []string{"-file", file, "v0.1.0"}, 0, "### Configuration\n\n- a key\n", ""},
		{"no entry", []string{"-file", file, "v0.2.0"}, 1, "", "error: CHANGELOG.md has no entry for v0.2.0"},
		{"not semver", []string{"-file", file, "latest"}, 1, "", `error: tag "latest" is not a semantic version`},
		{"no file", []string{"-file", filepath.Join(t.TempDir(), "missing.md"), "v0.1.0"}, 1, "", "run from the repository root, or pass -file"},
		{"no tag", []string{"-file", file}, 2, "", "usage: changelog"},
		{"two tags", []string{"v0.1.0", "v0.2.0"}, 2, "", "usage: changelog"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.code || stdout.String() != tt.out || !strings.Contains(stderr.String(), tt.error) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, one containing %q", code, stdout.String(), stderr.String(), tt.code, tt.out, tt.error)
			}
			if tt.code == 1 && strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("stderr %q, want one line", stderr.String())
			}
		})
	}
}
