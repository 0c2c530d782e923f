package policy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// LintBinary finds cfn-lint on PATH or, where pyenv installed it, in
// ~/.pyenv/shims.
func LintBinary() (string, error) {
	if p, err := exec.LookPath("cfn-lint"); err == nil {
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		shim := filepath.Join(home, ".pyenv", "shims", "cfn-lint")
		if _, err := os.Stat(shim); err == nil {
			return shim, nil
		}
	}
	return "", errors.New("cfn-lint is not installed: pip install cfn-lint, or put ~/.pyenv/shims on PATH")
}

// Lint runs cfn-lint on the template files and returns its findings
// (errors and warnings), one line each: file:line:column:...:rule:message.
func Lint(templates ...string) ([]string, error) {
	bin, err := LintBinary()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{"--format", "parseable", "--"}, templates...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	// cfn-lint's exit status is a bit mask: 2 errors, 4 warnings, 8
	// informational findings; 1 means it could not run.
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode()&1 == 0) {
		return nil, fmt.Errorf("cfn-lint: %v: %s", err, firstLine(stderr.String()+stdout.String()))
	}
	var findings []string
	for _, line := range strings.Split(stdout.String(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			findings = append(findings, line)
		}
	}
	if err != nil && len(findings) == 0 {
		return nil, fmt.Errorf("cfn-lint: %v without findings: %s", err, firstLine(stderr.String()))
	}
	return findings, nil
}
