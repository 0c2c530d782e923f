package dataguard

import (
	"encoding/json"
	"reflect"
	"testing"
)

func props(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return m
}

func TestPointerChanged(t *testing.T) {
	tags := func(pairs string) string { return `{"Tags":` + pairs + `}` }
	cases := []struct {
		name, pointer, before, after string
		want                         bool
	}{
		{"same value", "/properties/TableName", `{"TableName":"a"}`, `{"TableName":"a"}`, false},
		{"new value", "/properties/TableName", `{"TableName":"a"}`, `{"TableName":"b"}`, true},
		{"set", "/properties/TableName", `{}`, `{"TableName":"a"}`, true},
		{"unset", "/properties/TableName", `{"TableName":"a"}`, `{}`, true},
		{"absent on both sides", "/properties/TableName", `{"BillingMode":"A"}`, `{"BillingMode":"B"}`, false},
		{"a whole array", "/properties/KeySchema",
			`{"KeySchema":[{"AttributeName":"id","KeyType":"HASH"}]}`,
			`{"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}]}`, true},
		{"an object's keys in another order", "/properties/EncryptionConfiguration",
			`{"EncryptionConfiguration":{"EncryptionType":"KMS","KmsKey":"k"}}`,
			`{"EncryptionConfiguration":{"KmsKey":"k","EncryptionType":"KMS"}}`, false},
		{"nested value", "/properties/EncryptionConfiguration/KmsKey",
			`{"EncryptionConfiguration":{"KmsKey":"a","EncryptionType":"KMS"}}`,
			`{"EncryptionConfiguration":{"KmsKey":"b","EncryptionType":"KMS"}}`, true},
		{"a sibling of the nested value", "/properties/EncryptionConfiguration/KmsKey",
			`{"EncryptionConfiguration":{"KmsKey":"a","EncryptionType":"KMS"}}`,
			`{"EncryptionConfiguration":{"KmsKey":"a","EncryptionType":"AES256"}}`, false},
		{"an intrinsic that refers elsewhere", "/properties/KmsKey",
			`{"KmsKey":{"Fn::GetAtt":["KeyA","Arn"]}}`, `{"KmsKey":{"Fn::GetAtt":["KeyB","Arn"]}}`, true},
		{"wildcard: a key changes", "/properties/Tags/*/Key",
			tags(`[{"Key":"a","Value":"1"}]`), tags(`[{"Key":"b","Value":"1"}]`), true},
		{"wildcard: only a value changes", "/properties/Tags/*/Key",
			tags(`[{"Key":"a","Value":"1"}]`), tags(`[{"Key":"a","Value":"2"}]`), false},
		{"wildcard: the same keys in another order", "/properties/Tags/*/Key",
			tags(`[{"Key":"a"},{"Key":"b"}]`), tags(`[{"Key":"b"},{"Key":"a"}]`), false},
		{"wildcard: one more element", "/properties/Tags/*/Key",
			tags(`[{"Key":"a"}]`), tags(`[{"Key":"a"},{"Key":"b"}]`), true},
		{"wildcard over an object's values", "/properties/Map/*/Name",
			`{"Map":{"x":{"Name":"a"}}}`, `{"Map":{"x":{"Name":"b"}}}`, true},
		{"an index", "/properties/List/1",
			`{"List":["a","b"]}`, `{"List":["z","b"]}`, false},
		{"an index that changes", "/properties/List/1",
			`{"List":["a","b"]}`, `{"List":["a","c"]}`, true},
		{"an escaped slash", "/properties/a~1b", `{"a/b":1}`, `{"a/b":2}`, true},
		{"a path through a scalar", "/properties/A/B", `{"A":"x"}`, `{"A":"y"}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := pointerChanged(props(t, tc.before), props(t, tc.after), tc.pointer); got != tc.want {
				t.Errorf("pointerChanged(%s) = %v, want %v", tc.pointer, got, tc.want)
			}
		})
	}
}

func TestMostSpecific(t *testing.T) {
	got := mostSpecific([]string{"/properties/EncryptionConfiguration", "/properties/EncryptionConfiguration/KmsKey", "/properties/Name", "/properties/NameSuffix"})
	want := []string{"/properties/EncryptionConfiguration/KmsKey", "/properties/Name", "/properties/NameSuffix"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mostSpecific = %v, want %v", got, want)
	}
}

func TestReferences(t *testing.T) {
	cases := []struct {
		name, value string
		want        []string
	}{
		{"plain", `"text"`, []string{}},
		{"Ref", `{"Ref":"Bucket"}`, []string{"Bucket"}},
		{"pseudo parameter", `{"Ref":"AWS::Region"}`, []string{}},
		{"GetAtt list", `{"Fn::GetAtt":["Key","Arn"]}`, []string{"Key"}},
		{"GetAtt string", `{"Fn::GetAtt":"Key.Arn"}`, []string{"Key"}},
		{"Sub", `{"Fn::Sub":"arn:${AWS::Partition}:s3:::${Bucket}/${Key.Arn}/${!Literal}"}`, []string{"Bucket", "Key"}},
		{"Sub with its own variables", `{"Fn::Sub":["${Name}-${Bucket}",{"Name":"x"}]}`, []string{"Bucket"}},
		{"deep", `{"Fn::Join":["",[{"Ref":"A"},{"Fn::Select":[0,{"Fn::GetAtt":["B","List"]}]}]]}`, []string{"A", "B"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(tc.value), &v); err != nil {
				t.Fatal(err)
			}
			if got := references(v); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("references(%s) = %v, want %v", tc.value, got, tc.want)
			}
		})
	}
}
