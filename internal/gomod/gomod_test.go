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

func TestModulePath(t *testing.T) {
	for gomod, want := range map[string]string{
		"module cicd\n\ngo 1.26\n":                          "cicd",
		"// comment\nmodule \"example.com/x\" // the app\n": "example.com/x",
		"go 1.26\n": "",
	} {
		if got := ModulePath([]byte(gomod)); got != want {
			t.Errorf("ModulePath(%q) = %q, want %q", gomod, got, want)
		}
	}
}

// An app that imports the constructs finds this module where its own build
// does: here through a replace directive; its own module is found at home.
func TestDir(t *testing.T) {
	root, err := Root(".")
	if err != nil {
		t.Fatal(err)
	}
	own, err := Path(root)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Dir(".", own); err != nil || got != root {
		t.Errorf("Dir(., %s) = %q, %v, want this module's root %s", own, got, err, root)
	}

	consumer := t.TempDir()
	write := func(gomod string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(consumer, "go.mod"), []byte(gomod), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("module example.com/platform\n\ngo 1.26\n\nrequire " + own + " v0.0.0\n\nreplace " + own + " => " + root + "\n")
	if got, err := Dir(consumer, own); err != nil || got != root {
		t.Errorf("Dir in an app that replaces %s by %s = %q, %v", own, root, got, err)
	}

	write("module example.com/platform\n\ngo 1.26\n")
	if _, err := Dir(consumer, own); err == nil || !strings.Contains(err.Error(), "module "+own+" is not in the build of "+consumer) {
		t.Errorf("Dir in an app that does not require %s: %v, want an error that says so", own, err)
	}
}
