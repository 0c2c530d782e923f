package dataguard

import (
	"regexp"
	"sort"
	"strings"
)

// subVariable is a ${Name} or ${Name.Attribute} of Fn::Sub (not ${!Literal}).
var subVariable = regexp.MustCompile(`\$\{([^!}][^}]*)\}`)

// references returns the logical IDs that a template value refers to with
// Ref, Fn::GetAtt or Fn::Sub, sorted. Pseudo parameters (AWS::Region) are
// left out.
func references(v any) []string {
	found := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch node := v.(type) {
		case []any:
			for _, child := range node {
				walk(child)
			}
		case map[string]any:
			if len(node) == 1 {
				for fn, arg := range node {
					switch fn {
					case "Ref":
						if s, ok := arg.(string); ok {
							found[s] = true
						}
					case "Fn::GetAtt":
						switch a := arg.(type) {
						case []any:
							if len(a) > 0 {
								if s, ok := a[0].(string); ok {
									found[s] = true
								}
							}
						case string:
							id, _, _ := strings.Cut(a, ".")
							found[id] = true
						}
					case "Fn::Sub":
						text := arg
						vars := map[string]any{}
						if a, ok := arg.([]any); ok && len(a) > 0 {
							text = a[0]
							if len(a) > 1 {
								vars, _ = a[1].(map[string]any)
							}
						}
						if s, ok := text.(string); ok {
							for _, m := range subVariable.FindAllStringSubmatch(s, -1) {
								name, _, _ := strings.Cut(m[1], ".")
								if _, local := vars[name]; !local {
									found[name] = true
								}
							}
						}
					}
				}
			}
			for _, child := range node {
				walk(child)
			}
		}
	}
	walk(v)
	out := make([]string, 0, len(found))
	for id := range found {
		if !strings.HasPrefix(id, "AWS::") {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}
