package validator

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

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"cicd/internal/gomod"
)

// The flags that make the bootstrap binary reproducible and small. The same
// flags are used locally and in the Docker fallback.
var (
	buildEnv   = map[string]string{"CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": "arm64", "GOFLAGS": "-mod=readonly"}
	buildFlags = []string{"-trimpath", "-buildvcs=false", "-tags", "lambda.norpc", "-ldflags", "-s -w"}
)

// dockerImage is the fallback bundling image, used only where Go is absent.
const dockerImage = "public.ecr.aws/docker/library/golang:1.26"

// goBundler builds the Lambda with the local Go toolchain. It implements
// awscdk.ILocalBundling and must be passed as a pointer.
type goBundler struct {
	moduleDir string
	pkg       string
	// cache holds built binaries. Default: the user's cache folder.
	cache *bundleCache
}

// TryBundle builds bootstrap into outputDir, or copies the same binary from
// the bundle cache. It answers false only when Go is not installed, so CDK
// falls back to Docker; a compile error is printed and leaves the output
// empty, which fails synthesis with CDK's own message.
func (b *goBundler) TryBundle(outputDir *string, _ *awscdk.BundlingOptions) *bool {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return jsii.Bool(false)
	}
	env := os.Environ()
	for _, k := range slices.Sorted(maps.Keys(buildEnv)) {
		env = append(env, k+"="+buildEnv[k])
	}
	out := filepath.Join(*outputDir, "bootstrap")
	cache := defaultBundleCache()
	if b.cache != nil {
		cache = *b.cache
	}
	key := b.cacheKey(goBin, env)
	if cache.get(key, out) {
		return jsii.Bool(true)
	}
	args := append([]string{"build"}, buildFlags...)
	args = append(args, "-o", out, "./"+b.pkg)
	cmd := exec.Command(goBin, args...)
	cmd.Dir = b.moduleDir
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "error: building the validator Lambda (go %s) failed: %v\n%s", strings.Join(args, " "), err, out)
		return jsii.Bool(true)
	}
	cache.put(key, out)
	return jsii.Bool(true)
}

func (b *goBundler) options() *awscdk.BundlingOptions {
	env := make(map[string]*string, len(buildEnv)+2)
	for k, v := range buildEnv {
		env[k] = jsii.String(v)
	}
	// The container runs as the host user, which has no writable home.
	env["GOCACHE"] = jsii.String("/tmp/go-cache")
	env["GOPATH"] = jsii.String("/tmp/go")
	script := "go build " + shellJoin(buildFlags) + " -o /asset-output/bootstrap ./" + b.pkg
	return &awscdk.BundlingOptions{
		Image:       awscdk.DockerImage_FromRegistry(jsii.String(dockerImage)),
		Command:     jsii.Strings("bash", "-c", script),
		Environment: &env,
		Local:       b,
	}
}

// sourceHash fingerprints what the binary is built from: go.mod, go.sum and
// the non-test Go files of the package and of the module's packages it
// imports, by path relative to the module. It is the asset hash, so the same
// commit gives the same hash on any machine and in any folder, a change to a
// package the function uses redeploys it, and a change to tests or docs does
// not.
func (b *goBundler) sourceHash() (string, error) {
	h := sha256.New()
	files := []string{"go.mod", "go.sum"}
	sources, err := moduleSources(b.moduleDir, b.pkg)
	if err != nil {
		return "", err
	}
	files = append(files, sources...)
	sort.Strings(files)
	fmt.Fprintf(h, "flags %q env %q\n", buildFlags, buildEnv)
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(b.moduleDir, filepath.FromSlash(f)))
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
