package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const (
	bucketSchema = `{"typeName":"AWS::S3::Bucket","createOnlyProperties":["/properties/BucketName","/properties/BucketNamePrefix"]}`
	keySchema    = `{"typeName":"AWS::KMS::Key","properties":{}}`
	moduleSchema = `{"typeName":"Module","createOnlyProperties":["/properties/X"]}`
)

var want = map[string][]string{
	"AWS::KMS::Key":   {},
	"AWS::S3::Bucket": {"/properties/BucketName", "/properties/BucketNamePrefix"},
}

func TestRead(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
	}{
		{"one schema per type (providers/us_east_1/*.json)", map[string]string{
			"data/schemas/providers/us_east_1/aws-s3-bucket.json": bucketSchema,
			"data/schemas/providers/us_east_1/aws-kms-key.json":   keySchema,
			"data/schemas/providers/us_east_1/README.md":          "not a schema",
		}},
		{"an index of content-addressed schemas (providers/us_east_1.py)", map[string]string{
			"data/schemas/providers/us_east_1.py": "types: dict[str, str] = {\n" +
				`    "AWS::KMS::Key": "00000000000000aa",` + "\n" +
				`    "AWS::S3::Bucket": "00000000000000bb",` + "\n" +
				`    "Module": "00000000000000cc",` + "\n}\n",
			"data/schemas/resources/00000000000000aa.json": keySchema,
			"data/schemas/resources/00000000000000bb.json": bucketSchema,
			"data/schemas/resources/00000000000000cc.json": moduleSchema,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read(write(t, tc.files))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Read = %v, want %v", got, want)
			}
		})
	}
}

func TestReadRejects(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"not cfn-lint", map[string]string{"README": ""}, "is it cfn-lint's package folder?"},
		{"no schemas", map[string]string{"data/schemas/providers/us_east_1.py": "types = {}\n"}, "no resource schemas found"},
		{"a pointer outside the properties", map[string]string{
			"data/schemas/providers/us_east_1/x.json": `{"typeName":"AWS::X::Y","createOnlyProperties":["/definitions/Z"]}`,
		}, `"/definitions/Z" is not a /properties/ pointer`},
		{"a broken schema", map[string]string{"data/schemas/providers/us_east_1/x.json": `{`}, "x.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(write(t, tc.files))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one with %q", err, tc.want)
			}
		})
	}
}

// The file is JSON that the guard reads back as written, one type a line.
func TestEncode(t *testing.T) {
	data, err := Encode("cfn-lint 9.9.9", want)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Source string              `json:"source"`
		Types  map[string][]string `json:"types"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatalf("%v:\n%s", err, data)
	}
	if file.Source != "cfn-lint 9.9.9" || !reflect.DeepEqual(file.Types, want) {
		t.Errorf("read back %+v", file)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2+len(want)+1 || lines[2] != `"AWS::KMS::Key":[],` || lines[3] != `"AWS::S3::Bucket":["/properties/BucketName","/properties/BucketNamePrefix"]` {
		t.Errorf("layout:\n%s", data)
	}
}
