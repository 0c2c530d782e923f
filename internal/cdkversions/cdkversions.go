// Package cdkversions reads the three CDK pieces this repository pins and
// says when they have drifted apart: the aws-cdk-go library (go.mod), the CDK
// CLI (package.json, installed by npm ci) and cdk.json's feature flags.
//
// The CLI refuses a cloud assembly whose schema is newer than the one it
// bundles ("Cloud assembly schema version mismatch" at synth), and a library
// upgrade may recommend feature flags that cdk.json does not set yet. Both are
// read from files, without starting the jsii kernel: the library's aws-cdk-lib
// and cloud-assembly-schema tarballs in the Go module cache, and the CLI's
// bundle in node_modules.
package cdkversions

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// LibraryModule is the Go module of the CDK library.
const LibraryModule = "github.com/aws/aws-cdk-go/awscdk/v2"

// Library is what the pinned aws-cdk-go module writes and recommends.
type Library struct {
	Version string // of LibraryModule in the build list, e.g. v2.276.0
	// Schema is the cloud assembly schema revision (the major version) the
	// library writes into every manifest.json.
	Schema int
	// MinimumCLI is the CLI version the manifests name as able to read them
	// (manifest.json's minimumCliVersion); empty if the schema names none.
	MinimumCLI string
	// Flags are the feature flags recommended for new apps
	// (aws-cdk-lib's recommended-feature-flags.json, what cdk init writes).
	Flags map[string]json.RawMessage
}

// CLI is the pinned CDK CLI.
type CLI struct {
	Pinned    string // package.json's aws-cdk version
	Installed string // node_modules/aws-cdk's version
	// Schema is the newest cloud assembly schema revision the CLI reads
	// (the cloud-assembly-schema it bundles).
	Schema int
}

// ReadLibrary finds the library that go.mod in root resolves to, in the Go
// module cache, and reads its schema revision and recommended flags.
func ReadLibrary(root string) (Library, error) {
	lib := Library{}
	dir, version, err := moduleDir(root, LibraryModule)
	if err != nil {
		return lib, err
	}
	lib.Version = version
	tgz, err := tarball(dir)
	if err != nil {
		return lib, err
	}
	files, err := readTarball(tgz, "package/recommended-feature-flags.json")
	if err != nil {
		return lib, err
	}
	if err := json.Unmarshal(files["package/recommended-feature-flags.json"], &lib.Flags); err != nil {
		return lib, fmt.Errorf("%s: recommended-feature-flags.json: %w", tgz, err)
	}

	// The schema is a module of its own, which the library's jsii package
	// loads; go.mod's build list decides its version.
	schemaModule, err := schemaImport(filepath.Join(dir, "jsii", "jsii.go"))
	if err != nil {
		return lib, err
	}
	schemaDir, _, err := moduleDir(root, schemaModule)
	if err != nil {
		return lib, err
	}
	if tgz, err = tarball(schemaDir); err != nil {
		return lib, err
	}
	if files, err = readTarball(tgz, "package/schema/version.json", "package/cli-version.json"); err != nil {
		return lib, err
	}
	var schema struct {
		Revision int `json:"revision"`
	}
	if err := json.Unmarshal(files["package/schema/version.json"], &schema); err != nil || schema.Revision == 0 {
		return lib, fmt.Errorf("%s: schema/version.json has no revision", tgz)
	}
	lib.Schema = schema.Revision
	// Older schemas name no minimum CLI: then only the revision counts.
	if data, ok := files["package/cli-version.json"]; ok {
		var cli struct {
			Version string `json:"version"`
		}
		if err := json.Unmarshal(data, &cli); err != nil {
			return lib, fmt.Errorf("%s: cli-version.json: %w", tgz, err)
		}
		lib.MinimumCLI = cli.Version
	}
	return lib, nil
}

// ReadCLI reads the CLI version package.json in root pins, the one npm ci
// installed, and the newest schema revision the installed CLI reads.
func ReadCLI(root string) (CLI, error) {
	cli := CLI{}
	var pkg struct {
		Dependencies    map[string]string `json:"dependencies"`
		DevDependencies map[string]string `json:"devDependencies"`
	}
	data, err := os.ReadFile(filepath.Join(root, "package.json"))
	if err != nil {
		return cli, err
	}
	if err := json.Unmarshal(data, &pkg); err != nil {
		return cli, fmt.Errorf("package.json: %w", err)
	}
	cli.Pinned = cmp.Or(pkg.DevDependencies["aws-cdk"], pkg.Dependencies["aws-cdk"])
	if cli.Pinned == "" {
		return cli, errors.New("package.json does not pin aws-cdk: add it to devDependencies at an exact version")
	}
	if _, err := parseVersion(cli.Pinned); err != nil {
		return cli, fmt.Errorf("package.json pins aws-cdk to %q: pin an exact version (x.y.z), so that every machine synthesizes with the same CLI", cli.Pinned)
	}

	dir := filepath.Join(root, "node_modules", "aws-cdk")
	data, err = os.ReadFile(filepath.Join(dir, "package.json"))
	if errors.Is(err, os.ErrNotExist) {
		return cli, errors.New("node_modules/aws-cdk is missing: run npm ci")
	}
	if err != nil {
		return cli, err
	}
	var installed struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(data, &installed); err != nil {
		return cli, fmt.Errorf("node_modules/aws-cdk/package.json: %w", err)
	}
	cli.Installed = installed.Version
	if cli.Installed != cli.Pinned {
		return cli, fmt.Errorf("node_modules has aws-cdk %s but package.json pins %s: run npm ci", cli.Installed, cli.Pinned)
	}
	bundle, err := os.ReadFile(filepath.Join(dir, "lib", "index.js"))
	if err != nil {
		return cli, fmt.Errorf("read the CLI's bundle: %w (run npm ci)", err)
	}
	if cli.Schema, err = BundledSchema(bundle); err != nil {
		return cli, fmt.Errorf("node_modules/aws-cdk/lib/index.js: %w", err)
	}
	return cli, nil
}

// bundledSchema finds, in the CLI's single-file bundle, the module that
// inlines cloud-assembly-schema's schema/version.json, and its revision.
var bundledSchema = regexp.MustCompile(`cloud-assembly-schema/schema/version\.json"[^{]*\{[^}]*?\brevision:\s*(\d+)`)

// BundledSchema returns the cloud assembly schema revision that a CLI bundle
// (node_modules/aws-cdk/lib/index.js) carries. Were there several copies, the
// oldest decides what the CLI can read.
func BundledSchema(bundle []byte) (int, error) {
	oldest := 0
	for _, m := range bundledSchema.FindAllSubmatch(bundle, -1) {
		n, err := strconv.Atoi(string(m[1]))
		if err == nil && (oldest == 0 || n < oldest) {
			oldest = n
		}
	}
	if oldest == 0 {
		return 0, errors.New("no bundled cloud-assembly-schema/schema/version.json with a revision: the CLI's layout changed, update internal/cdkversions")
	}
	return oldest, nil
}

// CheckSchema fails when the CLI cannot read what the library writes: a newer
// schema revision than the CLI bundles, or a CLI older than the one the
// library's manifests ask for.
func CheckSchema(lib Library, cli CLI) error {
	if lib.Schema > cli.Schema {
		return fmt.Errorf("aws-cdk %s reads cloud assembly schema up to %d.x.x, but %s %s writes %d.0.0: raise aws-cdk in package.json%s and run npm ci",
			cli.Installed, cli.Schema, LibraryModule, lib.Version, lib.Schema, atLeast(lib.MinimumCLI))
	}
	if lib.MinimumCLI == "" {
		return nil
	}
	older, err := olderThan(cli.Installed, lib.MinimumCLI)
	if err != nil {
		return err
	}
	if older {
		return fmt.Errorf("aws-cdk %s is older than %s, the CLI that %s %s's cloud assemblies ask for: raise aws-cdk in package.json%s and run npm ci",
			cli.Installed, lib.MinimumCLI, LibraryModule, lib.Version, atLeast(lib.MinimumCLI))
	}
	return nil
}

func atLeast(version string) string {
	if version == "" {
		return ""
	}
	return " to at least " + version
}

// MissingFlags returns, sorted, the recommended flags that the context does
// not set. A flag set to another value than the recommended one is a choice
// made on purpose, and is not missing.
func MissingFlags(recommended map[string]json.RawMessage, context map[string]json.RawMessage) []string {
	var missing []string
	for flag := range recommended {
		if _, ok := context[flag]; !ok {
			missing = append(missing, flag)
		}
	}
	slices.Sort(missing)
	return missing
}

// CheckFlags fails when cdk.json (its bytes) lacks a feature flag that the
// library recommends for new apps.
func CheckFlags(lib Library, cdkJSON []byte) error {
	var file struct {
		Context map[string]json.RawMessage `json:"context"`
	}
	if err := json.Unmarshal(cdkJSON, &file); err != nil {
		return fmt.Errorf("cdk.json: %w", err)
	}
	missing := MissingFlags(lib.Flags, file.Context)
	if len(missing) == 0 {
		return nil
	}
	values := make([]string, len(missing))
	for i, flag := range missing {
		// Compact: a list or object value in the library's own layout
		// would break the error's one line.
		var value bytes.Buffer
		if json.Compact(&value, lib.Flags[flag]) != nil {
			value.Reset()
			value.Write(lib.Flags[flag])
		}
		values[i] = fmt.Sprintf("%q: %s", flag, value.String())
	}
	return fmt.Errorf("cdk.json lacks %d feature flag(s) that %s %s recommends for new apps: add %s to its context, after checking with cdk diff what each changes (README, Upgrading)",
		len(missing), LibraryModule, lib.Version, strings.Join(values, ", "))
}

// moduleDir resolves module through go.mod's build list in root and returns
// its folder in the module cache and its version.
func moduleDir(root, module string) (dir, version string, err error) {
	cmd := exec.Command("go", "list", "-m", "-json", module)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("go list -m %s: %s", module, firstLine(stderr.String(), err))
	}
	var m struct {
		Version string
		Dir     string
		Replace *struct {
			Version string
			Dir     string
		}
	}
	if err := json.Unmarshal(out, &m); err != nil {
		return "", "", fmt.Errorf("go list -m %s: %w", module, err)
	}
	if m.Replace != nil {
		m.Version, m.Dir = m.Replace.Version, m.Replace.Dir
	}
	if m.Dir == "" {
		return "", "", fmt.Errorf("%s@%s is not in the module cache: run go mod download", module, m.Version)
	}
	return m.Dir, m.Version, nil
}

func firstLine(s string, fallback error) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if s == "" {
		return fallback.Error()
	}
	return s
}

// tarball returns the one npm tarball a jsii Go module embeds.
func tarball(moduleDir string) (string, error) {
	found, _ := filepath.Glob(filepath.Join(moduleDir, "jsii", "*.tgz"))
	if len(found) != 1 {
		return "", fmt.Errorf("%s: want one jsii/*.tgz, found %d", moduleDir, len(found))
	}
	return found[0], nil
}

var schemaImportPath = regexp.MustCompile(`"(github\.com/cdklabs/cloud-assembly-schema-go/awscdkcloudassemblyschema/v\d+)/jsii"`)

// schemaImport returns the cloud-assembly-schema module that the library's
// jsii package (jsii/jsii.go) imports; its path names the schema's major
// version.
func schemaImport(jsiiGo string) (string, error) {
	src, err := os.ReadFile(jsiiGo)
	if err != nil {
		return "", err
	}
	m := schemaImportPath.FindSubmatch(src)
	if m == nil {
		return "", fmt.Errorf("%s imports no cloud-assembly-schema-go module: the library's layout changed, update internal/cdkversions", jsiiGo)
	}
	return string(m[1]), nil
}

// readTarball returns the named files of a .tgz, reading only as far as the
// last of them. The first name is required; a later one that is not there is
// absent from the result.
func readTarball(path string, names ...string) (map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(gz)
	for len(files) < len(names) {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if slices.Contains(names, h.Name) {
			if files[h.Name], err = io.ReadAll(tr); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", path, h.Name, err)
			}
		}
	}
	if _, ok := files[names[0]]; !ok {
		return nil, fmt.Errorf("%s has no %s", path, names[0])
	}
	return files, nil
}

// parseVersion reads x.y.z (a pre-release or build suffix is ignored).
func parseVersion(v string) ([3]int, error) {
	var n [3]int
	core, _, _ := strings.Cut(strings.TrimPrefix(v, "v"), "-")
	core, _, _ = strings.Cut(core, "+")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return n, fmt.Errorf("%q is not a version x.y.z", v)
	}
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 {
			return n, fmt.Errorf("%q is not a version x.y.z", v)
		}
		n[i] = x
	}
	return n, nil
}

// olderThan reports whether version a is older than b.
func olderThan(a, b string) (bool, error) {
	va, err := parseVersion(a)
	if err != nil {
		return false, err
	}
	vb, err := parseVersion(b)
	if err != nil {
		return false, err
	}
	return slices.Compare(va[:], vb[:]) < 0, nil
}
