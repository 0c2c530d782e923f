package gobundle

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// probeModule writes a module in a new folder whose package fn is a small
// program (the standard library only, so it builds offline in a moment),
// and returns the folder.
func probeModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write := writer(t, dir)
	write("go.mod", "module probe\n\ngo 1.26.0\n")
	write("go.sum", "")
	write("fn/main.go", "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"probe\") }\n")
	return dir
}

// A cached bootstrap is the very binary a build writes, and a build into a
// fresh output folder gets it from the cache. The validator itself is built
// the same way by the constructs' tests, and .ci/determinism compares its
// builds in two clones.
func TestBundleCacheServesTheBuiltBinary(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go not on PATH")
	}
	dir := probeModule(t)
	cache := Cache{dir: t.TempDir()}
	b := &Bundler{ModuleDir: dir, Pkg: "fn", Cache: cache}

	built := t.TempDir()
	if !b.Bundle(built) {
		t.Fatal("Bundle answered false")
	}
	entries, _ := os.ReadDir(cache.dir)
	if len(entries) != 1 {
		t.Fatalf("%d cache entries after one build, want 1", len(entries))
	}

	cached := t.TempDir()
	start := time.Now()
	b.Bundle(cached)
	t.Logf("bootstrap from the cache in %v", time.Since(start))
	first, err1 := os.ReadFile(filepath.Join(built, "bootstrap"))
	second, err2 := os.ReadFile(filepath.Join(cached, "bootstrap"))
	if err1 != nil || err2 != nil || len(first) == 0 || !bytes.Equal(first, second) {
		t.Fatalf("the cached bootstrap differs from the built one (%v, %v)", err1, err2)
	}
	if fi, err := os.Stat(filepath.Join(cached, "bootstrap")); err != nil || fi.Mode()&0o100 == 0 {
		t.Errorf("the cached bootstrap is not executable: %v", fi.Mode())
	}

	// Without the cache the build writes the same bytes: the key names one
	// binary.
	fresh := t.TempDir()
	(&Bundler{ModuleDir: dir, Pkg: "fn"}).Bundle(fresh)
	if third, err := os.ReadFile(filepath.Join(fresh, "bootstrap")); err != nil || !bytes.Equal(first, third) {
		t.Errorf("a fresh build differs from the cached binary (%v)", err)
	}
}

// A package that does not compile leaves no bootstrap (CDK then fails the
// synthesis for an empty asset) and nothing in the cache.
func TestBundleOfABrokenPackage(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go not on PATH")
	}
	dir := probeModule(t)
	writer(t, dir)("fn/main.go", "package main\n\nfunc main() {\n")
	cache := Cache{dir: t.TempDir()}
	out := t.TempDir()
	if !(&Bundler{ModuleDir: dir, Pkg: "fn", Cache: cache}).Bundle(out) {
		t.Fatal("Bundle answered false with Go installed")
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("the output folder holds %v after a failed build, want nothing", entries)
	}
	if entries, _ := os.ReadDir(cache.dir); len(entries) != 0 {
		t.Errorf("the cache holds %v after a failed build, want nothing", entries)
	}
}

// The key follows the asset hash, and there is none where the build reads
// files the hash does not cover.
func TestBundleCacheKey(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH")
	}
	dir := t.TempDir()
	write := writer(t, dir)
	write("go.mod", "module probe\n\ngo 1.26.0\n")
	write("go.sum", "")
	write("fn/main.go", "package main\n\nfunc main() {}\n")
	b := &Bundler{ModuleDir: dir, Pkg: "fn"}
	env := append(os.Environ(), "GOFLAGS=-mod=readonly", "GOWORK=off")

	key := b.cacheKey(goBin, env)
	if key == "" || key != b.cacheKey(goBin, env) {
		t.Fatalf("key %q is empty or unstable", key)
	}
	write("fn/main_test.go", "package main\n")
	if got := b.cacheKey(goBin, env); got != key {
		t.Error("a test file changed the key")
	}
	write("fn/main.go", "package main\n\nfunc main() { println() }\n")
	if got := b.cacheKey(goBin, env); got == key {
		t.Error("a source change kept the key")
	}
	if got := b.cacheKey(goBin, append(env, "GOEXPERIMENT=jsonv2")); got == "" || got == key {
		t.Error("GOEXPERIMENT kept the key")
	}
	// Another checkout of the same sources builds its own binary.
	clone := t.TempDir()
	for _, name := range []string{"go.mod", "go.sum", "fn/main.go", "fn/main_test.go"} {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		_ = os.MkdirAll(filepath.Join(clone, "fn"), 0o755)
		if err := os.WriteFile(filepath.Join(clone, filepath.FromSlash(name)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	other := &Bundler{ModuleDir: clone, Pkg: "fn"}
	if h1, _ := b.SourceHash(); func() bool { h2, _ := other.SourceHash(); return h1 != h2 }() {
		t.Fatal("the clone's asset hash differs")
	}
	if got := other.cacheKey(goBin, env); got == "" || got == b.cacheKey(goBin, env) {
		t.Error("two checkouts share a key")
	}
	write("go.mod", "module probe\n\ngo 1.26.0\n\nreplace example.com/x => ../x\n")
	if got := b.cacheKey(goBin, env); got != "" {
		t.Error("a local replace still gives a key")
	}
}

func TestBundleCachePrune(t *testing.T) {
	c := Cache{dir: t.TempDir()}
	src := filepath.Join(t.TempDir(), "bootstrap")
	if err := os.WriteFile(src, []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range cacheEntries + 2 {
		key := "k" + strconv.Itoa(i)
		c.put(key, src)
		// Distinct use times, oldest first.
		at := time.Now().Add(time.Duration(i-10) * time.Minute)
		_ = os.Chtimes(filepath.Join(c.dir, key), at, at)
	}
	c.prune()
	entries, _ := os.ReadDir(c.dir)
	if len(entries) != cacheEntries {
		t.Fatalf("%d entries, want %d", len(entries), cacheEntries)
	}
	if _, err := os.Stat(filepath.Join(c.dir, "k0")); !os.IsNotExist(err) {
		t.Error("the least recently used entry was kept")
	}
	if !c.get("k5", filepath.Join(t.TempDir(), "bootstrap")) || c.get("k0", filepath.Join(t.TempDir(), "bootstrap")) {
		t.Error("get answers wrongly after pruning")
	}
}

// The asset hash follows the function's imports into the module: a change to
// a package the function uses is a new asset; one to a package it does not
// use, or to a test, is not.
func TestSourceHashFollowsModuleImports(t *testing.T) {
	dir := t.TempDir()
	write := writer(t, dir)
	write("go.mod", "module probe // the module\n\ngo 1.26.0\n")
	write("go.sum", "")
	write("fn/main.go", "package main\n\nimport (\n\t\"fmt\"\n\n\t\"probe/shared/metrics\"\n)\n\nfunc main() { fmt.Println(metrics.Name) }\n")
	write("shared/metrics/metrics.go", "package metrics\n\nimport \"probe/shared/names\"\n\nconst Name = names.Prefix + \"x\"\n")
	write("shared/names/names.go", "package names\n\nconst Prefix = \"a\"\n")
	write("unused/unused.go", "package unused\n")
	b := &Bundler{ModuleDir: dir, Pkg: "fn"}
	hash := func() string {
		t.Helper()
		h, err := b.SourceHash()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	base := hash()
	for _, tc := range []struct {
		name, file, text string
		changes          bool
	}{
		{"an imported package", "shared/metrics/metrics.go", "package metrics\n\nimport \"probe/shared/names\"\n\nconst Name = names.Prefix + \"y\"\n", true},
		{"a package imported by an imported one", "shared/names/names.go", "package names\n\nconst Prefix = \"b\"\n", true},
		{"a package not imported", "unused/unused.go", "package unused\n\nconst X = 1\n", false},
		{"a test of an imported package", "shared/names/names_test.go", "package names\n", false},
	} {
		before := hash()
		write(tc.file, tc.text)
		if changed := hash() != before; changed != tc.changes {
			t.Errorf("%s: hash changed %v, want %v", tc.name, changed, tc.changes)
		}
	}
	if hash() == base {
		t.Error("the hash never changed")
	}
}

// writer writes files of a scratch module in dir, by slash-separated name.
func writer(t *testing.T, dir string) func(name, text string) {
	return func(name, text string) {
		t.Helper()
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The Docker fallback runs the build that Bundle runs: the same arguments
// to go, in the same environment.
func TestScriptIsTheLocalBuild(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	fake := "#!/bin/sh\nfor a; do printf '%s\\n' \"$a\"; done >\"$FAKE_GO_LOG\"\nenv | grep -E '^(CGO_ENABLED|GOOS|GOARCH|GOFLAGS)=' | sort >>\"$FAKE_GO_LOG\"\n"
	if err := os.WriteFile(filepath.Join(dir, "go"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) []string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"), "FAKE_GO_LOG="+log)
		for k, v := range Env() {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		data, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSpace(string(data)), "\n")
	}
	script := run("sh", "-c", Script("fn", "/asset-output/bootstrap"))
	want := append(append([]string{"build"}, buildFlags...), "-o", "/asset-output/bootstrap", "./fn",
		"CGO_ENABLED=0", "GOARCH=arm64", "GOFLAGS=-mod=readonly", "GOOS=linux")
	if !slices.Equal(script, want) {
		t.Errorf("the script runs go with:\n%q\nwant:\n%q", script, want)
	}
}
