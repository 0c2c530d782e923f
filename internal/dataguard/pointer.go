package dataguard

import (
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// pointerSelect returns the values that a schema pointer (/properties/A/B,
// /properties/Tags/*/Key) selects in a resource's Properties. A * segment
// matches every element of an array (or value of an object); a path that is
// absent selects nothing.
func pointerSelect(properties map[string]any, pointer string) []any {
	segments := strings.Split(strings.TrimPrefix(pointer, "/properties"), "/")[1:]
	for i, s := range segments {
		segments[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	var out []any
	var walk func(v any, rest []string)
	walk = func(v any, rest []string) {
		if v == nil {
			return
		}
		if len(rest) == 0 {
			out = append(out, v)
			return
		}
		seg := rest[0]
		switch node := v.(type) {
		case map[string]any:
			if seg == "*" {
				for _, k := range slices.Sorted(maps.Keys(node)) {
					walk(node[k], rest[1:])
				}
			} else if child, ok := node[seg]; ok {
				walk(child, rest[1:])
			}
		case []any:
			if seg == "*" {
				for _, child := range node {
					walk(child, rest[1:])
				}
			} else if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(node) {
				walk(node[i], rest[1:])
			}
		}
	}
	if properties != nil {
		walk(properties, segments)
	}
	return out
}

// pointerChanged tells whether the values a pointer selects differ. Under
// a * the order of the elements does not count: reordering tags is no
// change of their keys.
func pointerChanged(before, after map[string]any, pointer string) bool {
	a, b := canonicalSet(pointerSelect(before, pointer)), canonicalSet(pointerSelect(after, pointer))
	if len(a) != len(b) {
		return true
	}
	for i := range a {
		if a[i] != b[i] {
			return true
		}
	}
	return false
}

func canonicalSet(values []any) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = canonical(v)
	}
	sort.Strings(out)
	return out
}

// canonical is v as JSON with sorted keys.
func canonical(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return "<unreadable>"
	}
	return string(data)
}

// within tells whether pointer lies inside (or is) parent.
func within(pointer, parent string) bool {
	return pointer == parent || strings.HasPrefix(pointer, parent+"/")
}
