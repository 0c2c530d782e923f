package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"cicd/constructs/build"
)

// The example service must pass the build's own check for a test stage: the
// same pattern the buildspec hands to grep, read from the buildspec itself.
func TestExampleDockerfileHasTestStage(t *testing.T) {
	var pattern string
	for _, cmd := range build.Spec().Build {
		if _, rest, ok := strings.Cut(cmd, "grep -Eiq '"); ok {
			pattern, _, _ = strings.Cut(rest, "'")
		}
	}
	if pattern == "" {
		t.Fatal("the buildspec no longer checks the Dockerfile with grep -Eiq: update this test to its new check")
	}
	// grep -i matches line by line, case-insensitively.
	stage := regexp.MustCompile("(?im)" + pattern)
	dockerfile, err := os.ReadFile("examples/hello/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !stage.Match(dockerfile) {
		t.Errorf("examples/hello/Dockerfile has no line matching %s: the build would reject it", pattern)
	}
	if stage.MatchString("FROM golang:1.26 AS build\n") {
		t.Errorf("%s matches a Dockerfile without a test stage", pattern)
	}
}
