// Package gomod finds the root of the Go module: the folder of go.mod, where
// the validator's asset is built from and where the tests find cdk.json and
// the module's sources. It imports nothing of the module, so any package,
// the CDK constructs and their test helpers alike, can use it.
package gomod

import (
	"fmt"
	"os"
	"path/filepath"
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
