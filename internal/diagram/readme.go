package diagram

import (
	"fmt"
	"strings"
)

// The README block between these lines is generated; Command regenerates it.
const (
	Begin   = "<!-- diagram:begin -->"
	End     = "<!-- diagram:end -->"
	Command = "go run ./internal/diagram/cmd/diagram"
	// ExampleContext holds the configuration the README's diagram is drawn
	// from, and ExampleStack the stack of it that is drawn.
	ExampleContext = "examples/pipelines.json"
	ExampleStack   = "cicd-orders"
)

// Block is the Markdown that goes between Begin and End: a note that the
// block is generated and the chart in a mermaid code fence.
func Block(chart string) string {
	return "<!-- generated from the synthesized stack by `" + Command + "`; do not edit by hand -->\n" +
		"```mermaid\n" + chart + "```\n"
}

// Extract returns what doc holds between the Begin and End lines.
func Extract(doc string) (string, error) {
	start, end, err := bounds(doc)
	if err != nil {
		return "", err
	}
	return doc[start:end], nil
}

// Replace returns doc with block between the Begin and End lines.
func Replace(doc, block string) (string, error) {
	start, end, err := bounds(doc)
	if err != nil {
		return "", err
	}
	return doc[:start] + block + doc[end:], nil
}

// bounds finds the text between the marker lines: from just after the Begin
// line to the start of the End line.
func bounds(doc string) (start, end int, err error) {
	b := strings.Index(doc, Begin+"\n")
	e := strings.Index(doc, "\n"+End)
	if b < 0 || e < 0 || e < b {
		return 0, 0, fmt.Errorf("no diagram block: put the lines %s and %s, in that order, where the diagram goes", Begin, End)
	}
	if strings.Count(doc, Begin) > 1 || strings.Count(doc, End) > 1 {
		return 0, 0, fmt.Errorf("more than one diagram block: keep one pair of %s and %s", Begin, End)
	}
	return b + len(Begin) + 1, e + 1, nil
}
