package delivery

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The validator (lambda/validator, a main package that cannot be imported)
// writes the items and words the reasons this package reads. These tests
// read its source, in the manner of the root package's IAM test, so a
// change there that this contract does not follow fails here.

func validatorFile(t *testing.T, name string) *ast.File {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for !fileExists(filepath.Join(dir, "go.mod")) {
		if filepath.Dir(dir) == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = filepath.Dir(dir)
	}
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, "lambda", "validator", name), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// rejectionSentinels returns the text of every error that the validator's
// statusOf maps to StatusRejected.
func rejectionSentinels(t *testing.T) map[string]string {
	t.Helper()
	f := validatorFile(t, "outcome.go")
	texts := map[string]string{}
	var rejected []string
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.ValueSpec:
			for i, name := range n.Names {
				if i >= len(n.Values) {
					break
				}
				if call, ok := n.Values[i].(*ast.CallExpr); ok && len(call.Args) == 1 {
					if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						texts[name.Name], _ = strconv.Unquote(lit.Value)
					}
				}
			}
		case *ast.FuncDecl:
			if n.Name.Name != "statusOf" {
				return false
			}
			ast.Inspect(n.Body, func(m ast.Node) bool {
				clause, ok := m.(*ast.CaseClause)
				if !ok || !returns(clause.Body, "StatusRejected") {
					return true
				}
				for _, e := range clause.List {
					if call, ok := e.(*ast.CallExpr); ok && len(call.Args) == 2 {
						if id, ok := call.Args[1].(*ast.Ident); ok {
							rejected = append(rejected, id.Name)
						}
					}
				}
				return true
			})
			return false
		}
		return true
	})
	if len(rejected) == 0 {
		t.Fatal("lambda/validator/outcome.go: no case of statusOf returns StatusRejected with errors.Is(err, ErrX); " +
			"this test reads the rejection errors there to check that ClassifyRejection knows each")
	}
	out := map[string]string{}
	for _, name := range rejected {
		text, ok := texts[name]
		if !ok {
			t.Errorf("rejection error %s has no errors.New text in outcome.go", name)
			continue
		}
		out[name] = text
	}
	return out
}

func returns(body []ast.Stmt, ident string) bool {
	for _, s := range body {
		if r, ok := s.(*ast.ReturnStmt); ok && len(r.Results) == 1 {
			if id, ok := r.Results[0].(*ast.Ident); ok && id.Name == ident {
				return true
			}
		}
	}
	return false
}

// TestEveryValidatorRejectionHasAClass: a new rejection of the gate must get
// its own class (or a pattern of an existing one) before it ships, or the
// dashboard counts it as "other".
func TestEveryValidatorRejectionHasAClass(t *testing.T) {
	sentinels := rejectionSentinels(t)
	names := make([]string, 0, len(sentinels))
	for n := range sentinels {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("rejection errors in outcome.go: %v", names)
	for _, name := range names {
		reason := sentinels[name] + ": some detail"
		if got := ClassifyRejection(reason); got == ReasonOther {
			t.Errorf("the validator rejects with %s (%q), which ClassifyRejection puts in %q: add its text to rejectionPatterns in internal/delivery",
				name, sentinels[name], got)
		}
	}
}

// validatorItemShape returns the attributes the validator's history.go
// writes: name -> S, N or M.
func validatorItemShape(t *testing.T) (map[string]string, bool) {
	t.Helper()
	f := validatorFile(t, "history.go")
	shape := map[string]string{}
	usesContract := false
	member := func(e ast.Expr) string {
		if u, ok := e.(*ast.UnaryExpr); ok {
			e = u.X
		}
		if c, ok := e.(*ast.CompositeLit); ok {
			if sel, ok := c.Type.(*ast.SelectorExpr); ok {
				return strings.TrimPrefix(sel.Sel.Name, "AttributeValueMember")
			}
		}
		return ""
	}
	key := func(e ast.Expr) string {
		if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			s, _ := strconv.Unquote(lit.Value)
			return s
		}
		return ""
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if id, ok := n.X.(*ast.Ident); ok && id.Name == "delivery" && (n.Sel.Name == "Record" || n.Sel.Name == "Item") {
				usesContract = true
			}
		case *ast.KeyValueExpr:
			if k, m := key(n.Key), member(n.Value); k != "" && m != "" {
				shape[k] = m
			}
		case *ast.AssignStmt:
			if len(n.Lhs) == 1 && len(n.Rhs) == 1 {
				if ix, ok := n.Lhs[0].(*ast.IndexExpr); ok {
					if k, m := key(ix.Index), member(n.Rhs[0]); k != "" && m != "" {
						shape[k] = m
					}
				}
			}
		}
		return true
	})
	return shape, usesContract
}

// TestRecordItemHasTheValidatorsShape: Record.Item, which the history
// command's tests use to fill a table, writes what the validator writes.
// The attributes the validator is gaining (issue 11 and 12's contract) may
// be missing from its source until it does.
func TestRecordItemHasTheValidatorsShape(t *testing.T) {
	validator, usesContract := validatorItemShape(t)
	if usesContract {
		t.Skip("the validator writes its items with delivery.Record: one shape by construction")
	}
	if len(validator) < 5 {
		t.Fatalf("read only %v from lambda/validator/history.go; if it no longer builds items from "+
			"&ddbtypes.AttributeValueMemberX literals, let it write delivery.Record.Item() instead", validator)
	}
	t.Logf("the validator writes %v", validator)
	full := Record{
		DeploymentID: "e", Timestamp: 1, Status: StatusDeployed, Mode: ModeVerify, ImageTag: "t",
		ImageDigest: "sha256:x", Findings: map[string]int32{"HIGH": 1}, JobID: "j", Reason: "r",
		Environment: "prod", Pipeline: "orders", CommitTime: 1, Account: "111111111111", Region: "eu-west-1",
	}
	ours := map[string]string{}
	for name, v := range full.Item() {
		ours[name] = strings.TrimPrefix(strings.TrimPrefix(typeName(v), "*types."), "AttributeValueMember")
	}
	pending := map[string]bool{AttrEnvironment: true, AttrPipeline: true, AttrCommitTime: true, AttrAccount: true, AttrRegion: true}
	for name, typ := range validator {
		if ours[name] != typ {
			t.Errorf("the validator writes %s as %s, Record.Item as %q", name, typ, ours[name])
		}
	}
	for name, typ := range ours {
		if _, ok := validator[name]; !ok && !pending[name] {
			t.Errorf("Record.Item writes %s (%s), which the validator does not", name, typ)
		}
	}
}
