package gomod

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoot(t *testing.T) {
	dir := t.TempDir()
	nested := filepath.Join(dir, "a", "b")
	if err := os.MkdirAll(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Root(nested); err == nil || !strings.Contains(err.Error(), "no go.mod in "+nested) {
		t.Errorf("Root without go.mod: %v, want an error that names %s", err, nested)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := Root(nested); err != nil || got != filepath.Join(dir, "a") {
		t.Errorf("Root(%s) = %q, %v, want %s", nested, got, err, filepath.Join(dir, "a"))
	}
	// This package's own module: the repository, which holds cdk.json.
	root, err := Root(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cdk.json")); err != nil {
		t.Errorf("Root(.) = %s, which has no cdk.json: %v", root, err)
	}
}
