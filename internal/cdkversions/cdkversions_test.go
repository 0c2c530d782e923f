package cdkversions

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// root is the repository: go.mod, package.json, cdk.json and node_modules.
const root = "../.."

// library is read once: it opens a 40 MB tarball.
var library = sync.OnceValues(func() (Library, error) { return ReadLibrary(root) })

// The repository's three CDK pieces agree: the pinned CLI reads the cloud
// assembly the pinned library writes, and cdk.json sets every feature flag
// the library recommends for new apps.
func TestLockstep(t *testing.T) {
	lib, err := library()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("CLI reads the library's cloud assembly", func(t *testing.T) {
		cli, err := ReadCLI(root)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s %s writes schema %d.0.0 for CLI %s or later; aws-cdk %s reads up to %d.x.x",
			LibraryModule, lib.Version, lib.Schema, lib.MinimumCLI, cli.Installed, cli.Schema)
		if err := CheckSchema(lib, cli); err != nil {
			t.Error(err)
		}
	})
	t.Run("cdk.json sets the recommended feature flags", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(root, "cdk.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckFlags(lib, data); err != nil {
			t.Error(err)
		}
	})
}

// Both checks fail on the repository's real library when the other side
// drifts: a CLI one schema behind, and cdk.json without one of its flags.
func TestLockstepCatchesDrift(t *testing.T) {
	lib, err := library()
	if err != nil {
		t.Fatal(err)
	}
	if lib.Schema < 2 || len(lib.Flags) == 0 {
		t.Fatalf("library %s read as schema %d with %d flags: the reader is broken", lib.Version, lib.Schema, len(lib.Flags))
	}

	old := CLI{Pinned: "2.1000.0", Installed: "2.1000.0", Schema: lib.Schema - 1}
	err = CheckSchema(lib, old)
	if err == nil || !strings.Contains(err.Error(), "reads cloud assembly schema up to") {
		t.Errorf("a CLI that reads schema %d passed against a library writing %d (error %v)", old.Schema, lib.Schema, err)
	}

	data, err := os.ReadFile(filepath.Join(root, "cdk.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]any
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	context, _ := file["context"].(map[string]any)
	// Every flag, those with a list or object value among them: each
	// missing one is named in one line.
	for _, removed := range slices.Sorted(maps.Keys(lib.Flags)) {
		value := context[removed]
		delete(context, removed)
		data, _ = json.Marshal(file)
		err = CheckFlags(lib, data)
		if err == nil || !strings.Contains(err.Error(), removed) || strings.Contains(err.Error(), "\n") {
			t.Errorf("cdk.json without %s: error %v, want one line naming it", removed, err)
		}
		context[removed] = value
	}
}

func TestCheckSchema(t *testing.T) {
	lib := Library{Version: "v2.276.0", Schema: 55, MinimumCLI: "2.1147.0"}
	tests := []struct {
		name string
		lib  Library
		cli  CLI
		want string // substring of the error; "" for none
	}{
		{"same schema, newer CLI", lib, CLI{Installed: "2.1148.1", Schema: 55}, ""},
		{"the minimum CLI itself", lib, CLI{Installed: "2.1147.0", Schema: 55}, ""},
		{"CLI reads a newer schema", lib, CLI{Installed: "2.1200.0", Schema: 58}, ""},
		{"CLI bundles an older schema", lib, CLI{Installed: "3.0.0", Schema: 41},
			"aws-cdk 3.0.0 reads cloud assembly schema up to 41.x.x, but github.com/aws/aws-cdk-go/awscdk/v2 v2.276.0 writes 55.0.0: raise aws-cdk in package.json to at least 2.1147.0 and run npm ci"},
		{"CLI older than the manifests ask for", lib, CLI{Installed: "2.1100.0", Schema: 55},
			"aws-cdk 2.1100.0 is older than 2.1147.0"},
		{"a schema naming no minimum CLI", Library{Version: "v2.100.0", Schema: 36}, CLI{Installed: "2.100.0", Schema: 36}, ""},
		{"an unreadable CLI version", lib, CLI{Installed: "latest", Schema: 55}, `"latest" is not a version`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSchema(tt.lib, tt.cli)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestCheckFlags(t *testing.T) {
	lib := Library{Version: "v2.276.0", Flags: map[string]json.RawMessage{
		"@aws-cdk/core:a":          json.RawMessage(`true`),
		"@aws-cdk/core:b":          json.RawMessage(`false`),
		"@aws-cdk/core:partitions": json.RawMessage(`["aws","aws-cn"]`),
	}}
	tests := []struct {
		name    string
		cdkJSON string
		want    string
	}{
		{"every flag", `{"context":{"@aws-cdk/core:a":true,"@aws-cdk/core:b":false,"@aws-cdk/core:partitions":["aws"],"environmentSuffix":"dev"}}`, ""},
		{"a flag set the other way on purpose", `{"context":{"@aws-cdk/core:a":false,"@aws-cdk/core:b":false,"@aws-cdk/core:partitions":[]}}`, ""},
		{"a missing flag", `{"context":{"@aws-cdk/core:a":true,"@aws-cdk/core:partitions":["aws"]}}`,
			`cdk.json lacks 1 feature flag(s) that github.com/aws/aws-cdk-go/awscdk/v2 v2.276.0 recommends for new apps: add "@aws-cdk/core:b": false to its context`},
		{"no context", `{"app":"go run ."}`, `lacks 3 feature flag(s)`},
		{"not JSON", `{"context":`, "cdk.json: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckFlags(lib, []byte(tt.cdkJSON))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// The shape esbuild gives the CLI's bundle (aws-cdk 2.1148.1's lib/index.js).
const bundleSchema55 = `
// ../@aws-cdk/cloud-assembly-schema/schema/version.json
var require_version = __commonJS({
  "../@aws-cdk/cloud-assembly-schema/schema/version.json"(exports2, module2) {
    module2.exports = {
      schemaHash: "b006b5c8829cee1f2287b98829ca0ed8abfbdbb2948fecc185e56398afb11a7b",
      $comment: "Do not hold back the version on additions: jsonschema validation of the manifest by the consumer will trigger errors on unexpected fields.",
      revision: 55
    };
  }
});
`

func TestBundledSchema(t *testing.T) {
	tests := []struct {
		name   string
		bundle string
		want   int // 0: an error
	}{
		{"one copy", "var a = 1;\n" + bundleSchema55 + "var b = { revision: 99 };\n", 55},
		{"two copies: the older decides", bundleSchema55 + strings.ReplaceAll(bundleSchema55, "revision: 55", "revision: 48"), 48},
		{"only the comment", "// ../@aws-cdk/cloud-assembly-schema/schema/version.json\nvar x = { revision: 55 };\n", 0},
		{"no schema at all", "module.exports = {};\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BundledSchema([]byte(tt.bundle))
			if tt.want == 0 {
				if err == nil {
					t.Errorf("revision %d, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("revision %d, error %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestReadCLI(t *testing.T) {
	const pinned = `{"devDependencies":{"aws-cdk":"2.1148.1"}}`
	tests := []struct {
		name  string
		files map[string]string
		want  string // substring of the error; "" for none
	}{
		{"installed as pinned", map[string]string{
			"package.json":                      pinned,
			"node_modules/aws-cdk/package.json": `{"version":"2.1148.1"}`,
			"node_modules/aws-cdk/lib/index.js": bundleSchema55,
		}, ""},
		{"no node_modules", map[string]string{"package.json": pinned}, "node_modules/aws-cdk is missing: run npm ci"},
		{"node_modules from another pin", map[string]string{
			"package.json":                      pinned,
			"node_modules/aws-cdk/package.json": `{"version":"2.1140.0"}`,
			"node_modules/aws-cdk/lib/index.js": bundleSchema55,
		}, "node_modules has aws-cdk 2.1140.0 but package.json pins 2.1148.1: run npm ci"},
		{"a range instead of a pin", map[string]string{"package.json": `{"devDependencies":{"aws-cdk":"^2.1148.1"}}`}, "pin an exact version"},
		{"no aws-cdk", map[string]string{"package.json": `{"devDependencies":{"node":"24.21.0"}}`}, "package.json does not pin aws-cdk"},
		{"a bundle without the schema", map[string]string{
			"package.json":                      pinned,
			"node_modules/aws-cdk/package.json": `{"version":"2.1148.1"}`,
			"node_modules/aws-cdk/lib/index.js": "module.exports = {};",
		}, "the CLI's layout changed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				path := filepath.Join(dir, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cli, err := ReadCLI(dir)
			if tt.want == "" {
				if err != nil || cli != (CLI{Pinned: "2.1148.1", Installed: "2.1148.1", Schema: 55}) {
					t.Errorf("got %+v, error %v", cli, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestReadTarball(t *testing.T) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, content := range map[string]string{"package/a.json": "a", "package/b.json": "b"} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content))}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(content))
	}
	tw.Close()
	gz.Close()
	path := filepath.Join(t.TempDir(), "p.tgz")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	files, err := readTarball(path, "package/b.json", "package/missing.json")
	if err != nil || string(files["package/b.json"]) != "b" || len(files) != 1 {
		t.Errorf("got %q, error %v; want b.json only", files, err)
	}
	if _, err := readTarball(path, "package/missing.json"); err == nil || !strings.Contains(err.Error(), "has no package/missing.json") {
		t.Errorf("a required file that is absent: error %v", err)
	}
}

func TestOlderThan(t *testing.T) {
	tests := []struct {
		a, b  string
		older bool
	}{
		{"2.1148.1", "2.1147.0", false},
		{"2.1147.0", "2.1147.0", false},
		{"2.999.0", "2.1147.0", true},
		{"2.1147.0-rc.1", "2.1147.1", true},
		{"v2.276.0", "2.276.1", true},
		{"10.0.0", "9.9.9", false},
	}
	for _, tt := range tests {
		got, err := olderThan(tt.a, tt.b)
		if err != nil || got != tt.older {
			t.Errorf("olderThan(%s, %s) = %v, %v; want %v", tt.a, tt.b, got, err, tt.older)
		}
	}
	for _, bad := range []string{"2.1", "latest", "2.x.0", ""} {
		if _, err := olderThan(bad, "1.0.0"); err == nil {
			t.Errorf("olderThan(%q) read it as a version", bad)
		}
	}
}

func TestModuleNotInBuildList(t *testing.T) {
	_, _, err := moduleDir(root, "example.com/not/a/dependency")
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %v, want one line", err)
	}
}
