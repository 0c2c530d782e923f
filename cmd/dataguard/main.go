// Command dataguard fails when a change to the CDK app would replace or
// remove a resource that holds data. It compares two cloud assemblies, the
// base branch's and the pull request's:
//
//	go run ./cmd/dataguard BASE_CDK_OUT PR_CDK_OUT
//
// It prints what it finds and exits 1 when a finding is not accepted (or it
// could not judge), 0 otherwise, and 2 on bad usage or unreadable input. A
// change is accepted by an entry of .github/data-guard-accept.json that names
// the exact resource, or for the whole pull request by the label
// allow-data-replacement (the workflow passes -accept-all-by with whoever
// added it). The pull-request workflow runs the same command; see README.md,
// "Pull requests and the data guard".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"cicd/internal/dataguard"
)

// readmeRef is where a finding points by default.
const readmeRef = `README.md, Operations, "When a pull request replaces or removes data"`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, nil))
}

// run is the command; toolkit, when not nil, stands in for the CDK CLI.
func run(args []string, stdout, stderr io.Writer, toolkit dataguard.Toolkit) int {
	fs := flag.NewFlagSet("dataguard", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	acceptPath := fs.String("accept", "", "file of accepted changes (default "+dataguard.DefaultAcceptFile+", when it exists)")
	acceptAllBy := fs.String("accept-all-by", "", "the pull request carries the label "+dataguard.Label+", added by this login: every finding is accepted")
	cdk := fs.String("cdk", "", "CDK CLI whose cdk diff is the second source of replacements; none: the resource schemas only (default node_modules/.bin/cdk, else cdk on PATH)")
	markdown := fs.String("markdown", "", "also write the report as Markdown (the pull request's comment) to this file")
	readme := fs.String("readme", readmeRef, "where a finding points for what to do")
	noBase := fs.String("no-base", "", "there is no base assembly, for this reason (the only argument is then PR_CDK_OUT): the guard cannot judge, and only the label lets the change through")
	usage := "usage: dataguard [flags] BASE_CDK_OUT PR_CDK_OUT"
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, usage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(stderr, "error: %v (%s; -h lists the flags)\n", err, usage)
		return 2
	}
	want := 2
	if *noBase != "" {
		want = 1
		usage = "usage: dataguard -no-base REASON [flags] PR_CDK_OUT"
	}
	if fs.NArg() != want {
		fmt.Fprintf(stderr, "error: %s (got %d %s)\n", usage, fs.NArg(), plural(fs.NArg(), "argument", "arguments"))
		return 2
	}
	if by := *acceptAllBy; by != "" && strings.ContainsAny(by, " \t\n") {
		fmt.Fprintf(stderr, "error: -accept-all-by %q is not a login\n", by)
		return 2
	}

	var base *dataguard.Assembly
	if *noBase == "" {
		var err error
		if base, err = dataguard.LoadAssembly(fs.Arg(0)); err != nil {
			fmt.Fprintf(stderr, "error: base assembly: %v\n", err)
			return 2
		}
	}
	pr, err := dataguard.LoadAssembly(fs.Arg(want - 1))
	if err != nil {
		fmt.Fprintf(stderr, "error: pull request's assembly: %v\n", err)
		return 2
	}
	accept, err := readAccept(*acceptPath)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 2
	}
	var note string
	if toolkit == nil {
		if toolkit, note, err = findCLI(*cdk); err != nil {
			fmt.Fprintf(stderr, "error: %v\n", err)
			return 2
		}
	}

	report := dataguard.Compare(context.Background(), base, pr, *noBase, dataguard.Options{Toolkit: toolkit})
	if note != "" {
		report.Notes = append(report.Notes, note)
	}
	report.Accept(accept, *acceptAllBy)
	report.WriteText(stdout, *readme)
	if *markdown != "" {
		f, err := os.Create(*markdown)
		if err == nil {
			report.WriteMarkdown(f, *readme)
			err = f.Close()
		}
		if err != nil {
			fmt.Fprintf(stderr, "error: -markdown: %v\n", err)
			return 2
		}
	}
	if report.Failed() {
		return 1
	}
	return 0
}

// readAccept reads the accept file: the one given, or the default one when
// it exists.
func readAccept(path string) (*dataguard.AcceptFile, error) {
	if path == "" {
		if _, err := os.Stat(dataguard.DefaultAcceptFile); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		path = dataguard.DefaultAcceptFile
	}
	return dataguard.ReadAcceptFile(path)
}

// findCLI picks the CDK CLI, or says why there is none: then the resource
// schemas alone decide, and a few rules that only the toolkit knows (a
// DynamoDB table's KeySchema) go unseen.
func findCLI(flagValue string) (dataguard.Toolkit, string, error) {
	switch flagValue {
	case "none":
		return nil, "cdk diff was not used (-cdk=none).", nil
	case "":
		local := filepath.Join("node_modules", ".bin", "cdk")
		if _, err := os.Stat(local); err == nil {
			flagValue = local
		} else if found, err := exec.LookPath("cdk"); err == nil {
			flagValue = found
		} else {
			return nil, "cdk diff was not used: there is no node_modules/.bin/cdk here and no cdk on PATH (npm ci installs it), and the schemas miss a few replacements that only the toolkit knows, such as a DynamoDB table's KeySchema.", nil
		}
	}
	path, err := exec.LookPath(flagValue)
	if err != nil {
		return nil, "", fmt.Errorf("-cdk %s: %v", flagValue, err)
	}
	if path, err = filepath.Abs(path); err != nil {
		return nil, "", err
	}
	return dataguard.CLI{Path: path}, "", nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
