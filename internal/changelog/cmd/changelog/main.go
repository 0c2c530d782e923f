// Command changelog prints the CHANGELOG.md entry of a release tag, the
// notes the release workflow publishes. Run it from the repository root:
//
//	go run ./internal/changelog/cmd/changelog v0.2.0
//	go run ./internal/changelog/cmd/changelog -file CHANGELOG.md v0.2.0 > notes.md
//
// A tag that is not a semantic version, or that the file has no entry for,
// fails with one line on stderr and exit status 1.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"cicd/internal/changelog"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("changelog", flag.ContinueOnError)
	flags.SetOutput(stderr)
	file := flags.String("file", "CHANGELOG.md", "the changelog to read")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: changelog [-file CHANGELOG.md] TAG   (prints the entry of release TAG, such as v0.2.0)")
	}
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() != 1 {
		flags.Usage()
		return 2
	}
	text, err := os.ReadFile(*file)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v (run from the repository root, or pass -file)\n", err)
		return 1
	}
	entry, err := changelog.Entry(string(text), flags.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "error: "+err.Error())
		return 1
	}
	fmt.Fprint(stdout, entry)
	return 0
}
