package main

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"cicd/constructs/validator"
	"cicd/internal/cdktest"
	"cicd/internal/gomod"
)

// validatorOperations reads the validator's ports (one interface per AWS
// operation, each method with the SDK's signature) and returns the IAM
// actions they stand for: "<sdk package>:<method>".
func validatorOperations(t *testing.T) []string {
	t.Helper()
	root, err := gomod.Root(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, validator.PackagePath)
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, filepath.Join(dir, "ports.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	ast.Inspect(file, func(n ast.Node) bool {
		spec, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		iface, ok := spec.Type.(*ast.InterfaceType)
		if !ok {
			return false
		}
		if len(iface.Methods.List) != 1 {
			t.Errorf("port %s has %d methods; each port is one AWS operation", spec.Name.Name, len(iface.Methods.List))
			return false
		}
		method := iface.Methods.List[0]
		params := method.Type.(*ast.FuncType).Params.List
		// The second parameter is *<sdkpkg>.<Op>Input.
		var pkg, input string
		if len(params) >= 2 {
			if star, ok := params[1].Type.(*ast.StarExpr); ok {
				if sel, ok := star.X.(*ast.SelectorExpr); ok {
					if id, ok := sel.X.(*ast.Ident); ok {
						pkg, input = id.Name, sel.Sel.Name
					}
				}
			}
		}
		name := method.Names[0].Name
		if input != name+"Input" {
			t.Errorf("port %s: method %s does not take *<sdk>.%sInput, so its IAM action cannot be read", spec.Name.Name, name, name)
			return false
		}
		ops = append(ops, pkg+":"+name)
		return false
	})
	if len(ops) == 0 {
		t.Fatal("no ports found in ports.go")
	}

	// Every call goes through a port: SDK clients are made only in main.go,
	// which hands them to the handler as ports.
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || filepath.Base(f) == "main.go" {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(src), "NewFromConfig") {
			t.Errorf("%s makes an SDK client; only main.go may, and it must hand it over as a port", filepath.Base(f))
		}
	}
	sort.Strings(ops)
	return ops
}

// validatorRoleActions returns the actions the synthesized stack grants the
// validator's role, and the managed policies attached to it.
func validatorRoleActions(t *testing.T) (actions []string, managed string) {
	t.Helper()
	_, tpl := devVariant.Template(t)
	var role string
	for _, fn := range cdktest.Resources(tpl, "AWS::Lambda::Function") {
		props := fn["Properties"].(map[string]any)
		if props["FunctionName"] == "cicd-pipeline-validator-dev" {
			role = props["Role"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
		}
	}
	if role == "" {
		t.Fatal("no validator function in the template")
	}
	seen := map[string]bool{}
	for _, policy := range cdktest.Resources(tpl, "AWS::IAM::Policy") {
		props := policy["Properties"].(map[string]any)
		roles, _ := json.Marshal(props["Roles"])
		if string(roles) != `[{"Ref":"`+role+`"}]` {
			continue
		}
		for _, s := range props["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := s.(map[string]any)
			if st["Effect"] != "Allow" {
				continue
			}
			switch a := st["Action"].(type) {
			case string:
				seen[a] = true
			case []any:
				for _, x := range a {
					seen[x.(string)] = true
				}
			}
		}
	}
	for a := range seen {
		actions = append(actions, a)
	}
	sort.Strings(actions)
	m, _ := json.Marshal(cdktest.Resources(tpl, "AWS::IAM::Role")[role]["Properties"].(map[string]any)["ManagedPolicyArns"])
	return actions, string(m)
}

// grants reports whether the IAM action pattern covers action.
func grants(pattern, action string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(action, prefix)
	}
	return pattern == action
}

// TestValidatorRoleGrantsExactlyWhatTheCodeCalls compares the operations in
// lambda/validator/ports.go with the validator role's policy.
func TestValidatorRoleGrantsExactlyWhatTheCodeCalls(t *testing.T) {
	ops := validatorOperations(t)
	actions, managed := validatorRoleActions(t)
	t.Logf("operations in ports.go: %v", ops)
	t.Logf("actions granted to the role: %v", actions)

	// Granted beyond the operations, each for a reason the code cannot show.
	explained := map[string]string{
		// The table and the topic are encrypted with the stack's key: DynamoDB
		// and SNS use the caller's permissions on the key for PutItem, GetItem
		// and Publish.
		"kms:Decrypt":          "the table and topic are encrypted with the stack's key",
		"kms:GenerateDataKey*": "the table and topic are encrypted with the stack's key",
		// The Lambda service writes the function's own log group with the role.
		"logs:CreateLogStream": "Lambda writes the function's logs",
		"logs:PutLogEvents":    "Lambda writes the function's logs",
	}
	// Called only for what some stacks have, and granted exactly then: the
	// validator construct's tests show each grant where its stack has it.
	conditional := map[string]string{
		// constructs/validator TestGrantsAreScoped: sts:AssumeRole on each
		// target's role, and on nothing when no target has one.
		"sts:AssumeRole": "verifying an environment in another account, through the role of its target",
	}
	for _, op := range ops {
		if !slices.ContainsFunc(actions, func(a string) bool { return grants(a, op) }) {
			if why, ok := conditional[op]; ok {
				t.Logf("%s is not granted: this stack has no use for it (%s)", op, why)
				continue
			}
			t.Errorf("the validator calls %s but its role is not granted it; granted: %v", op, actions)
		}
	}
	for op := range conditional {
		if !slices.Contains(ops, op) {
			t.Errorf("conditional %s is no longer called (ports.go: %v); drop it from the list", op, ops)
		}
	}
	for _, a := range actions {
		if _, ok := explained[a]; ok {
			continue
		}
		if !slices.ContainsFunc(ops, func(op string) bool { return grants(a, op) }) {
			t.Errorf("the validator role is granted %s, which the code never calls (ports.go: %v)", a, ops)
		}
	}
	for a, why := range explained {
		if !slices.Contains(actions, a) {
			t.Errorf("explained extra %s (%s) is no longer granted; drop it from the list", a, why)
		}
	}
	if managed != "null" {
		t.Errorf("managed policies %s on the validator role, want none: its own policy names every action", managed)
	}
}
