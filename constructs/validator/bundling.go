package validator

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
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
	for _, k := range sortedKeys(buildEnv) {
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
// the package's non-test Go files, by path relative to the module. It is the
// asset hash, so the same commit gives the same hash on any machine and in
// any folder, and a change to tests or docs does not redeploy the function.
func (b *goBundler) sourceHash() (string, error) {
	h := sha256.New()
	files := []string{"go.mod", "go.sum"}
	root := filepath.Join(b.moduleDir, b.pkg)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (name == "testdata" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			rel, err := filepath.Rel(b.moduleDir, path)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("fingerprint %s: %w", root, err)
	}
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

// ModuleRoot finds the directory holding go.mod, walking up from dir.
func ModuleRoot(dir string) (string, error) {
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

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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
