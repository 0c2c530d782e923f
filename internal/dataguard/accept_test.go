package dataguard

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadAcceptFile(t *testing.T) {
	entry := `{"stack":"app","logicalId":"Table","reason":"moved","by":"alice"}`
	cases := []struct {
		name, content, want string
	}{
		{"one entry", `{"accept":[` + entry + `]}`, ""},
		{"an empty list", `{"accept":[]}`, ""},
		{"with an environment", `{"accept":[{"stack":"app","environment":"aws://111111111111/eu-west-1","logicalId":"Table","reason":"moved","by":"alice"}]}`, ""},
		{"no list", `{}`, `no "accept" list`},
		{"a global switch", `{"accept":[],"acceptAll":true}`, `unknown field "acceptAll"`},
		{"a switch inside an entry", `{"accept":[{"stack":"app","logicalId":"Table","reason":"r","by":"a","all":true}]}`, `unknown field "all"`},
		{"no stack", `{"accept":[{"logicalId":"Table","reason":"r","by":"a"}]}`, "entry 1 has no stack"},
		{"no logical ID", `{"accept":[{"stack":"app","reason":"r","by":"a"}]}`, "entry 1 has no logicalId"},
		{"no reason", `{"accept":[{"stack":"app","logicalId":"Table","reason":" ","by":"a"}]}`, "entry 1 has no reason"},
		{"no one", `{"accept":[` + entry + `,{"stack":"app","logicalId":"Other","reason":"r"}]}`, "entry 2 has no by"},
		{"a pattern", `{"accept":[{"stack":"app-*","logicalId":"Table","reason":"r","by":"a"}]}`, "exact names, not patterns"},
		{"a bad environment", `{"accept":[{"stack":"app","environment":"eu-west-1","logicalId":"Table","reason":"r","by":"a"}]}`, "is not aws://ACCOUNT/REGION"},
		{"twice", `{"accept":[` + entry + `,` + entry + `]}`, "app Table is listed twice"},
		{"two documents", `{"accept":[]} {"accept":[]}`, "more than one JSON value"},
		{"not JSON", `accept: all`, "want {\"accept\""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "accept.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := ReadAcceptFile(path)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("error %v", err)
			case tc.want == "" && f.Path != path:
				t.Errorf("path %q", f.Path)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), path)):
				t.Errorf("error %v, want one naming %s with %q", err, path, tc.want)
			}
		})
	}
}

// Stacks of one name in two environments: an entry without an environment
// cannot say which, and accepts neither.
func TestAcceptAmbiguousEnvironment(t *testing.T) {
	base := assemblyOf(t, stackDef{"app", "aws://111111111111/eu-west-1", obj(table)}, stackDef{"app-prod", "aws://222222222222/eu-west-1", obj(table)})
	// The manifest keys stacks by artifact ID; give the second the same
	// stack name by hand.
	base.Stacks[1].Name = "app"
	pr := assemblyOf(t, stackDef{"app", "aws://111111111111/eu-west-1", `{}`}, stackDef{"app-prod", "aws://222222222222/eu-west-1", `{}`})
	pr.Stacks[1].Name = "app"
	r := Compare(context.Background(), base, pr, "", Options{})
	if len(r.Findings) != 2 {
		t.Fatalf("findings %q, want the table of each stack", findingsOf(r))
	}
	r.Accept(&AcceptFile{Path: "accept.json", Entries: []AcceptEntry{{Stack: "app", LogicalID: "Table", Reason: "r", By: "a"}}}, "")
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0], `add "environment" to say which`) {
		t.Errorf("errors %q, want the ambiguous entry", r.Errors)
	}
	for _, f := range r.Findings {
		if f.Accepted != nil {
			t.Errorf("%s in %s accepted by an ambiguous entry", f.LogicalID, f.Stack.Env)
		}
	}
}
