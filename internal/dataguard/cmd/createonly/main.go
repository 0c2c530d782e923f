// Command createonly writes createonly.json, the data guard's table of the
// properties that force CloudFormation to replace a resource: the
// createOnlyProperties of every resource provider schema that cfn-lint ships
// (us-east-1). `go generate ./internal/dataguard` runs it:
//
//	go run ./cmd/createonly -o createonly.json                 # finds cfn-lint with python3
//	go run ./cmd/createonly -cfnlint /path/to/site-packages/cfnlint -o createonly.json
//
// It reads both layouts cfn-lint has used: one JSON schema per type under
// data/schemas/providers/us_east_1/, and (1.x) data/schemas/providers/us_east_1.py
// mapping each type to a content-addressed schema in data/schemas/resources/.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
)

func main() {
	dir := flag.String("cfnlint", "", "cfn-lint's package folder (default: asked of python3)")
	out := flag.String("o", "createonly.json", "file to write")
	flag.Parse()
	if err := run(*dir, *out); err != nil {
		fmt.Fprintln(os.Stderr, "error: "+err.Error())
		os.Exit(1)
	}
}

func run(dir, out string) error {
	version := ""
	if dir == "" {
		var err error
		if dir, version, err = locate(); err != nil {
			return err
		}
	}
	types, err := Read(dir)
	if err != nil {
		return err
	}
	source := "cfn-lint"
	if version != "" {
		source += " " + version
	}
	data, err := Encode(source, types)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d resource types from %s\n", out, len(types), source)
	return nil
}

// locate asks python3 where cfn-lint is installed and which version it is.
func locate() (dir, version string, err error) {
	cmd := exec.Command("python3", "-c",
		"import cfnlint, os; from cfnlint.version import __version__ as v; print(os.path.dirname(cfnlint.__file__)); print(v)")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("python3 cannot import cfnlint (%v): install it with pip install cfn-lint, or pass -cfnlint DIR", strings.TrimSpace(lastLine(stderr.String(), err.Error())))
	}
	lines := strings.Split(strings.TrimSpace(string(outb)), "\n")
	if len(lines) != 2 {
		return "", "", fmt.Errorf("python3 printed %q, want cfn-lint's folder and version", outb)
	}
	return strings.TrimSpace(lines[0]), strings.TrimSpace(lines[1]), nil
}

func lastLine(s, fallback string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if l := lines[len(lines)-1]; l != "" {
		return l
	}
	return fallback
}

// typeName is a CloudFormation resource type (the 1.x index also lists
// "Module", which is not one).
var typeName = regexp.MustCompile(`^[A-Za-z0-9]+::[A-Za-z0-9]+::[A-Za-z0-9]+$`)

// indexEntry is one `"AWS::S3::Bucket": "0123456789abcdef",` line of
// providers/us_east_1.py.
var indexEntry = regexp.MustCompile(`"([^"]+)":\s*"([0-9a-f]+)"`)

// Read returns the createOnlyProperties of every resource type in cfn-lint's
// us-east-1 schemas (an empty list when a type has none).
func Read(cfnlintDir string) (map[string][]string, error) {
	providers := filepath.Join(cfnlintDir, "data", "schemas", "providers")
	var schemas []string
	if entries, err := os.ReadDir(filepath.Join(providers, "us_east_1")); err == nil {
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".json") {
				schemas = append(schemas, filepath.Join(providers, "us_east_1", e.Name()))
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	} else {
		index, err := os.ReadFile(filepath.Join(providers, "us_east_1.py"))
		if err != nil {
			return nil, fmt.Errorf("no us-east-1 schemas in %s (neither us_east_1/ nor us_east_1.py): is it cfn-lint's package folder?", cfnlintDir)
		}
		for _, m := range indexEntry.FindAllStringSubmatch(string(index), -1) {
			if typeName.MatchString(m[1]) {
				schemas = append(schemas, filepath.Join(cfnlintDir, "data", "schemas", "resources", m[2]+".json"))
			}
		}
	}
	types := map[string][]string{}
	for _, path := range schemas {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var schema struct {
			TypeName             string   `json:"typeName"`
			CreateOnlyProperties []string `json:"createOnlyProperties"`
		}
		if err := json.Unmarshal(data, &schema); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if !typeName.MatchString(schema.TypeName) {
			continue
		}
		for _, p := range schema.CreateOnlyProperties {
			if !strings.HasPrefix(p, "/properties/") {
				return nil, fmt.Errorf("%s: createOnlyProperties entry %q is not a /properties/ pointer", schema.TypeName, p)
			}
		}
		list := append([]string{}, schema.CreateOnlyProperties...)
		sort.Strings(list)
		types[schema.TypeName] = list
	}
	if len(types) == 0 {
		return nil, fmt.Errorf("no resource schemas found under %s", providers)
	}
	return types, nil
}

// Encode writes the table as JSON with one type per line, so that a new
// cfn-lint shows as a readable diff.
func Encode(source string, types map[string][]string) ([]byte, error) {
	names := slices.Sorted(maps.Keys(types))
	var b bytes.Buffer
	header, err := json.Marshal(map[string]string{
		"generated": "by go generate ./internal/dataguard (cmd/createonly) from the us-east-1 resource provider schemas; do not edit",
		"source":    source,
	})
	if err != nil {
		return nil, err
	}
	// The header object, opened up to take the types.
	b.Write(header[:len(header)-1])
	b.WriteString(",\n\"types\":{\n")
	for i, t := range names {
		key, _ := json.Marshal(t)
		value, err := json.Marshal(types[t])
		if err != nil {
			return nil, err
		}
		b.Write(key)
		b.WriteByte(':')
		b.Write(value)
		if i < len(names)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}}\n")
	return b.Bytes(), nil
}
