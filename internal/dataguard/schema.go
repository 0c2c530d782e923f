package dataguard

import (
	_ "embed"
	"encoding/json"
	"strings"
)

//go:generate go run ./cmd/createonly -o createonly.json

//go:embed createonly.json
var createOnlyJSON []byte

// Schemas holds, for each resource type, the properties that CloudFormation
// cannot update in place (the createOnlyProperties of its provider schema,
// as JSON pointers such as /properties/TableName or /properties/Tags/*/Key).
type Schemas struct {
	// Source says where the table comes from (the cfn-lint version).
	Source string
	types  map[string][]string
}

// EmbeddedSchemas is the table generated from cfn-lint's schemas
// (createonly.json, `go generate ./internal/dataguard`).
func EmbeddedSchemas() *Schemas {
	var file struct {
		Source string              `json:"source"`
		Types  map[string][]string `json:"types"`
	}
	if err := json.Unmarshal(createOnlyJSON, &file); err != nil {
		panic("dataguard: createonly.json is not valid: " + err.Error())
	}
	return &Schemas{Source: file.Source, types: file.Types}
}

// NewSchemas is a table of the given types, for tests.
func NewSchemas(source string, types map[string][]string) *Schemas {
	return &Schemas{Source: source, types: types}
}

// CreateOnly returns the create-only property pointers of typ and whether the
// type is known at all. Custom resources (Custom::*) follow
// AWS::CloudFormation::CustomResource.
func (s *Schemas) CreateOnly(typ string) ([]string, bool) {
	if strings.HasPrefix(typ, "Custom::") {
		typ = "AWS::CloudFormation::CustomResource"
	}
	props, ok := s.types[typ]
	return props, ok
}
