// Package gobundle builds a Go program into a Lambda function's bootstrap
// binary (linux/arm64, reproducible: the same sources give the same bytes on
// any machine and in any folder), fingerprints what the binary is built from
// (the asset hash), and keeps the binaries it built in a cache folder. It
// does not import the CDK: constructs/validator adapts it to CDK's local
// bundling, and its tests link no CDK.
package gobundle

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"cicd/internal/gomod"
)

// The flags that make the bootstrap binary reproducible and small. The same
// flags are used locally and in the Docker fallback.
var (
	buildEnv   = map[string]string{"CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": "arm64", "GOFLAGS": "-mod=readonly"}
	buildFlags = []string{"-trimpath", "-buildvcs=false", "-tags", "lambda.norpc", "-ldflags", "-s -w"}
)

// Env is the build's environment beyond the caller's: the target platform,
// no cgo, and go.mod and go.sum as they are. A new map on each call.
func Env() map[string]string {
	return maps.Clone(buildEnv)
}

// Args are go's arguments that build package pkg (a folder relative to the
// module) into out with the build's flags, in the module's folder and with
// Env in the environment.
func Args(pkg, out string) []string {
	return slices.Concat([]string{"build"}, buildFlags, []string{"-o", out, "./" + pkg})
}

// Script is Args as a shell command, for a container with Go and the module
// as its working folder (the Docker fallback), where Env is the environment.
func Script(pkg, out string) string {
	return "go " + shellJoin(Args(pkg, out))
}

// Bundler builds package Pkg (a folder relative to ModuleDir, such as
// "lambda/validator") of the Go module in ModuleDir.
type Bundler struct {
	ModuleDir string
	Pkg       string
	// Cache holds the binaries built before. The zero value keeps none.
	Cache Cache
}

// Bundle writes bootstrap into outputDir: built with the local Go toolchain,
// or copied from the cache when the same binary was built before. It
// answers false only when Go is not installed (the caller then builds
// another way); a compile error is printed on stderr and leaves outputDir
// without a bootstrap, which the caller reports.
func (b *Bundler) Bundle(outputDir string) bool {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return false
	}
	env := os.Environ()
	for _, k := range slices.Sorted(maps.Keys(buildEnv)) {
		env = append(env, k+"="+buildEnv[k])
	}
	out := filepath.Join(outputDir, "bootstrap")
	key := b.cacheKey(goBin, env)
	if b.Cache.get(key, out) {
		return true
	}
	args := Args(b.Pkg, out)
	cmd := exec.Command(goBin, args...)
	cmd.Dir = b.ModuleDir
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "error: building the Lambda function %s (go %s) failed: %v\n%s", b.Pkg, shellJoin(args), err, out)
		return true
	}
	b.Cache.put(key, out)
	return true
}

// SourceHash fingerprints what the binary is built from: go.mod, go.sum and
// the non-test Go files of the package and of the module's packages it
// imports, by path relative to the module. It is the asset hash, so the same
// commit gives the same hash on any machine and in any folder, a change to a
// package the function uses redeploys it, and a change to tests or docs does
// not.
func (b *Bundler) SourceHash() (string, error) {
	h := sha256.New()
	files := []string{"go.mod", "go.sum"}
	sources, err := moduleSources(b.ModuleDir, b.Pkg)
	if err != nil {
		return "", err
	}
	files = append(files, sources...)
	sort.Strings(files)
	fmt.Fprintf(h, "flags %q env %q\n", buildFlags, buildEnv)
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(b.ModuleDir, filepath.FromSlash(f)))
		if err != nil {
			return "", fmt.Errorf("fingerprint: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", f, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// moduleSources lists the non-test Go files, relative to moduleDir, of pkg
// and of every package of the same module that it imports, directly or not:
// the sources the binary is built from, besides the modules go.sum pins.
func moduleSources(moduleDir, pkg string) ([]string, error) {
	mod, err := os.ReadFile(filepath.Join(moduleDir, "go.mod"))
	if err != nil {
		return nil, fmt.Errorf("fingerprint: %w", err)
	}
	module := gomod.ModulePath(mod)
	if module == "" {
		return nil, fmt.Errorf("fingerprint: no module line in %s", filepath.Join(moduleDir, "go.mod"))
	}
	var files []string
	seen := map[string]bool{}
	queue := []string{pkg}
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		if seen[dir] {
			continue
		}
		seen[dir] = true
		entries, err := os.ReadDir(filepath.Join(moduleDir, filepath.FromSlash(dir)))
		if err != nil {
			return nil, fmt.Errorf("fingerprint %s: %w", dir, err)
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			rel := dir + "/" + name
			files = append(files, rel)
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(moduleDir, filepath.FromSlash(rel)), nil, parser.ImportsOnly)
			if err != nil {
				return nil, fmt.Errorf("fingerprint: %w", err)
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if local, ok := strings.CutPrefix(path, module+"/"); ok {
					queue = append(queue, local)
				}
			}
		}
	}
	return files, nil
}

func shellJoin(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t'\"") {
			a = "'" + a + "'"
		}
		quoted[i] = a
	}
	return strings.Join(quoted, " ")
}
