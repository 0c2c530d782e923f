// Package gomod finds the root of the Go module: the folder of go.mod, where
// the validator's asset is built from and where the tests find cdk.json and
// the module's sources; and the folder of this module in another module's
// build, for an app that imports the constructs. It imports nothing of the module, so any package,
// the CDK constructs and their test helpers alike, can use it.
package gomod

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Root finds the folder holding go.mod, walking up from dir.
func Root(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod in %s or any parent folder", dir)
		}
	}
}

// Path is the module path that the go.mod in root declares.
func Path(root string) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", err
	}
	if path := ModulePath(data); path != "" {
		return path, nil
	}
	return "", fmt.Errorf("%s: no module line", filepath.Join(root, "go.mod"))
}

// ModulePath is the path on a go.mod's module line, or "".
func ModulePath(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			path, _, _ := strings.Cut(strings.TrimSpace(rest), "//")
			return strings.Trim(strings.TrimSpace(path), `"`)
		}
	}
	return ""
}

// Dir is the folder of module path as the Go module in dir builds it: dir's
// own module root when that is the module, otherwise the folder `go list -m`
// names (a replace directive's folder, or the module cache).
func Dir(dir, path string) (string, error) {
	root, err := Root(dir)
	if err != nil {
		return "", err
	}
	if own, err := Path(root); err == nil && own == path {
		return root, nil
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", path)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	found := strings.TrimSpace(string(out))
	if err != nil || found == "" {
		return "", fmt.Errorf("module %s is not in the build of %s (go list -m: %s): require it in that go.mod, or set ModuleDir",
			path, root, cmp.Or(strings.TrimSpace(stderr.String()), "no folder; run go mod download"))
	}
	return found, nil
}
