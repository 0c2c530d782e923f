// Command diagram rewrites the architecture diagram in README.md from the
// synthesized stack. Run it from the repository root:
//
//	go run ./internal/diagram/cmd/diagram                  # the README's example pipeline
//	go run ./internal/diagram/cmd/diagram -template cdk.out/cicd-pipeline-dev.template.json
//
// Without -template it synthesizes the app as the CDK CLI does (go run . with
// cdk.json's context and examples/pipelines.json in CDK_CONTEXT_JSON),
// without bundling the Lambda asset, which the diagram does not need, and
// draws the stack cicd-orders. No AWS account is needed either way.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"cicd/internal/diagram"
)

func main() {
	template := flag.String("template", "", "synthesized template to draw (default: synthesize "+diagram.ExampleContext+" and draw "+diagram.ExampleStack+")")
	readme := flag.String("readme", "README.md", "Markdown file whose diagram block is rewritten")
	flag.Parse()
	if err := run(*template, *readme); err != nil {
		fmt.Fprintln(os.Stderr, "error: "+err.Error())
		os.Exit(1)
	}
}

func run(templatePath, readmePath string) error {
	doc, err := os.ReadFile(readmePath)
	if err != nil {
		return fmt.Errorf("%w (run from the repository root, or pass -readme)", err)
	}
	if templatePath == "" {
		fmt.Println("== synthesizing " + diagram.ExampleContext + " with cdk.json's context (go run .)")
		dir, err := os.MkdirTemp("", "cicd-diagram-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if templatePath, err = synth(dir); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(templatePath)
	if err != nil {
		return err
	}
	var tpl diagram.Template
	if err := json.Unmarshal(data, &tpl); err != nil {
		return fmt.Errorf("%s is not a JSON template: %w", templatePath, err)
	}
	chart, err := diagram.Mermaid(tpl)
	if err != nil {
		return fmt.Errorf("%s: %w", templatePath, err)
	}
	updated, err := diagram.Replace(string(doc), diagram.Block(chart))
	if err != nil {
		return fmt.Errorf("%s: %w", readmePath, err)
	}
	if updated == string(doc) {
		fmt.Printf("== %s: diagram already up to date\n", readmePath)
		return nil
	}
	if err := os.WriteFile(readmePath, []byte(updated), 0o644); err != nil {
		return err
	}
	fmt.Printf("== %s: diagram rewritten from %s\n", readmePath, filepath.Base(templatePath))
	return nil
}

// synth runs the app into outdir with cdk.json's context, as cdk synth
// would, and returns the path of the one template it writes.
func synth(outdir string) (string, error) {
	data, err := os.ReadFile("cdk.json")
	if err != nil {
		return "", fmt.Errorf("%w (run from the repository root)", err)
	}
	var file struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return "", fmt.Errorf("cdk.json: %w", err)
	}
	if file.Context == nil {
		file.Context = map[string]any{}
	}
	example, err := os.ReadFile(diagram.ExampleContext)
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(example, &file.Context); err != nil {
		return "", fmt.Errorf("%s: %w", diagram.ExampleContext, err)
	}
	// The diagram does not need the Lambda binary: skip asset bundling.
	file.Context["aws:cdk:bundling-stacks"] = []string{}
	context, err := json.Marshal(file.Context)
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "run", ".")
	cmd.Env = append(os.Environ(), "CDK_CONTEXT_JSON="+string(context), "CDK_OUTDIR="+outdir)
	// The app's jsii kernel runs on the Node that npm ci pinned, if it is there.
	if abs, err := filepath.Abs(filepath.Join("node_modules", ".bin")); err == nil {
		if _, err := os.Stat(filepath.Join(abs, "node")); err == nil {
			cmd.Env = append(cmd.Env, "PATH="+abs+string(os.PathListSeparator)+os.Getenv("PATH"))
		}
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("synthesis failed (%v): run npx cdk synth to see why", err)
	}
	template := filepath.Join(outdir, diagram.ExampleStack+".template.json")
	if _, err := os.Stat(template); err != nil {
		return "", fmt.Errorf("synthesis wrote no stack %s: pass the template to draw with -template", diagram.ExampleStack)
	}
	return template, nil
}
