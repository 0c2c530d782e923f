package gobundle

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// A Cache keeps the bootstrap binaries a Bundler built, and the Bundler
// copies one instead of building again when a synth writes to a fresh output
// folder (cdk synth -o, a removed cdk.out, every test that bundles). CDK
// itself already reuses cdk.out/asset.<hash> across synths on the asset hash
// alone; the cache key adds what the hash leaves out, so a cached binary is
// byte for byte the one a build would write. It also holds the checkout's
// folder: two checkouts never share a binary, so a check that two clones
// synthesize identical assets still compares two builds. Skipping the build
// saves its link, 0.3 to 0.7 s of every such synth (see BENCHMARKS.md).

// cacheEntries is how many binaries a cache keeps: one per version of the
// function's sources, the oldest removed first.
const cacheEntries = 4

// Cache is a folder of <key>/bootstrap files. The zero value (no folder)
// caches nothing.
type Cache struct {
	dir string
}

// UserCache is the cache in cicd/<name> of the user's cache folder
// (~/.cache/cicd/<name> on Linux), or no cache when the user has no cache
// folder.
func UserCache(name string) Cache {
	dir, err := os.UserCacheDir()
	if err != nil {
		return Cache{}
	}
	return Cache{dir: filepath.Join(dir, "cicd", name)}
}

// cacheKey is the asset hash plus what else decides the binary (the Go
// toolchain and the environment variables that change code generation) and
// the module's folder. It is empty, and nothing is cached, where the build
// reads more than the hashed files: a go.work workspace, or a go.mod
// replace by a local folder.
func (b *Bundler) cacheKey(goBin string, env []string) string {
	hash, err := b.SourceHash()
	if err != nil {
		return ""
	}
	if localReplace(filepath.Join(b.ModuleDir, "go.mod")) {
		return ""
	}
	cmd := exec.Command(goBin, "env", "GOVERSION", "GOWORK", "GOEXPERIMENT", "GOARM64", "GOAMD64", "GOFLAGS", "GOROOT")
	cmd.Dir, cmd.Env = b.ModuleDir, env
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	vals := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(vals) != 7 || vals[0] == "" || (vals[1] != "" && vals[1] != "off") {
		return ""
	}
	h := sha256.New()
	dir, err := filepath.Abs(b.ModuleDir)
	if err != nil {
		return ""
	}
	fmt.Fprintf(h, "asset %s\nmodule %s\ngo env %q\n", hash, dir, vals)
	// The toolchain's own identity: two toolchains of one version built
	// differently (a distribution's patches) must not share binaries.
	if id, err := fileDigest(filepath.Join(vals[6], "pkg", "tool")); err == nil {
		fmt.Fprintf(h, "tools %s\n", id)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fileDigest fingerprints a folder by the names, sizes and times of its
// files, which is cheap and changes whenever the toolchain is reinstalled.
func fileDigest(dir string) (string, error) {
	h := sha256.New()
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			fmt.Fprintf(h, "%s %d %d\n", rel, info.Size(), info.ModTime().UnixNano())
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

// localReplace reports whether go.mod replaces a module by a local folder,
// whose files the asset hash does not cover.
func localReplace(goMod string) bool {
	f, err := os.Open(goMod)
	if err != nil {
		return true
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		_, target, ok := strings.Cut(sc.Text(), "=>")
		if !ok {
			continue
		}
		target = strings.TrimSpace(target)
		if strings.HasPrefix(target, ".") || strings.HasPrefix(target, "/") || filepath.IsAbs(target) {
			return true
		}
	}
	return sc.Err() != nil
}

// get copies the cached binary for key to dst and reports whether it did.
func (c Cache) get(key, dst string) bool {
	if c.dir == "" || key == "" {
		return false
	}
	src := filepath.Join(c.dir, key, "bootstrap")
	if err := copyFile(src, dst); err != nil {
		_ = os.Remove(dst)
		return false
	}
	now := time.Now()
	_ = os.Chtimes(filepath.Join(c.dir, key), now, now)
	return true
}

// put stores a built binary under key. A failure only means no cache.
func (c Cache) put(key, src string) {
	if c.dir == "" || key == "" {
		return
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return
	}
	// Written aside and renamed into place, so that a concurrent synth sees
	// a whole entry or none.
	tmp, err := os.MkdirTemp(c.dir, ".tmp-")
	if err != nil {
		return
	}
	defer os.RemoveAll(tmp)
	if copyFile(src, filepath.Join(tmp, "bootstrap")) != nil {
		return
	}
	if os.Rename(tmp, filepath.Join(c.dir, key)) != nil {
		return
	}
	c.prune()
}

// prune keeps the most recently used entries.
func (c Cache) prune() {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	type entry struct {
		name string
		used time.Time
	}
	var keep []entry
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if info, err := e.Info(); err == nil {
			keep = append(keep, entry{e.Name(), info.ModTime()})
		}
	}
	sort.Slice(keep, func(i, j int) bool { return keep[i].used.After(keep[j].used) })
	for i := cacheEntries; i < len(keep); i++ {
		_ = os.RemoveAll(filepath.Join(c.dir, keep[i].name))
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
