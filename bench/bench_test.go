package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and a parenthesis, as /proc allows.
	line := "4242 (node (v20) x) S 1 4240 4240 0 -1 4194304 100 0 0 0 5 1 0 0 20 0 11 0 123 1000000 2560 18446744073709551615"
	pgrp, rss, ok := parseStat(line)
	if !ok || pgrp != 4240 || rss != 2560 {
		t.Errorf("parseStat = %d %d %v, want 4240 2560 true", pgrp, rss, ok)
	}
	if _, _, ok := parseStat("garbage"); ok {
		t.Error("parseStat accepted garbage")
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// The size is measured on the binary the stack deploys: the flags come from
// the bundler's source.
func TestBundlingFlags(t *testing.T) {
	env, flags, err := bundlingFlags("..")
	if err != nil {
		t.Fatal(err)
	}
	if env["GOARCH"] != "arm64" || env["CGO_ENABLED"] != "0" || env["GOOS"] != "linux" {
		t.Errorf("env %v", env)
	}
	if got := strings.Join(flags, " "); !strings.Contains(got, "-trimpath") || !strings.Contains(got, "lambda.norpc") {
		t.Errorf("flags %q", got)
	}
}

func TestWriteReportKeepsTheRest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "B.md")
	if err := writeReport(path, "one\n"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	text := strings.Replace(string(data), "# Benchmarks\n", "# Benchmarks\n\nintro\n", 1) + "\n## Notes\nkept\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(path, "two\n"); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(path)
	got := string(data)
	if strings.Contains(got, "one") || !strings.Contains(got, "two") || !strings.Contains(got, "intro") || !strings.Contains(got, "kept") {
		t.Errorf("report:\n%s", got)
	}
}

func TestReadSynthLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	log := ".\tcicd-pipeline-dev\taa\n.\tcicd-pipeline-prod\tbb\n.\tcicd-pipeline-dev\taa\nconstructs/x\tTest\tcc\n"
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readSynthLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if got["."] != (pkgSynths{Calls: 3, Distinct: 2}) || got["constructs/x"] != (pkgSynths{Calls: 1, Distinct: 1}) {
		t.Errorf("readSynthLog = %v", got)
	}
}
