package dataguard

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Assembly is a cloud assembly (a cdk.out folder): its stacks, those of
// nested assemblies (CDK stages) included.
type Assembly struct {
	// Dir is the folder of the top-level manifest.json.
	Dir    string
	Stacks []*Stack
}

// Stack is one CloudFormation stack of an assembly.
type Stack struct {
	// Name is the CloudFormation stack name.
	Name string
	// Env is the manifest's environment, aws://ACCOUNT/REGION
	// (aws://unknown-account/unknown-region for an environment-agnostic stack).
	Env string
	// HierarchicalID is the stack's ID in the app, as `cdk diff` selects it:
	// Stage/Stack for a stack of a nested assembly.
	HierarchicalID string
	// TemplatePath is the template file.
	TemplatePath string
	Template     *Template
}

// Key identifies a stack across two assemblies: the same name in the same
// account and region is the same CloudFormation stack.
func (s *Stack) Key() string { return s.Env + " " + s.Name }

// Label names the stack for people: its name, its ID in the app when that
// differs, and its account and region when it has them.
func (s *Stack) Label() string {
	var extra []string
	if s.HierarchicalID != "" && s.HierarchicalID != s.Name {
		extra = append(extra, s.HierarchicalID)
	}
	if env := s.EnvLabel(); env != "" {
		extra = append(extra, env)
	}
	if len(extra) == 0 {
		return s.Name
	}
	return s.Name + " (" + strings.Join(extra, ", ") + ")"
}

// EnvLabel is the stack's environment (aws://ACCOUNT/REGION), or "" when
// it is environment-agnostic.
func (s *Stack) EnvLabel() string {
	if s.Env == "aws://unknown-account/unknown-region" {
		return ""
	}
	return s.Env
}

// Template is the part of a CloudFormation template the guard reads; the
// whole of it is kept to tell whether a stack changed at all.
type Template struct {
	Resources map[string]*Resource
	raw       map[string]any
}

// Resource is one entry of a template's Resources.
type Resource struct {
	Type                string
	Properties          map[string]any
	DeletionPolicy      string
	UpdateReplacePolicy string
	raw                 map[string]any
}

type manifest struct {
	Artifacts map[string]struct {
		Type        string `json:"type"`
		Environment string `json:"environment"`
		DisplayName string `json:"displayName"`
		Properties  struct {
			TemplateFile  string `json:"templateFile"`
			StackName     string `json:"stackName"`
			DirectoryName string `json:"directoryName"`
		} `json:"properties"`
	} `json:"artifacts"`
}

// LoadAssembly reads the cloud assembly in dir and every nested assembly it
// names, with their templates.
func LoadAssembly(dir string) (*Assembly, error) {
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s has no manifest.json: it is not a cloud assembly (a cdk.out folder)", dir)
		}
		return nil, err
	}
	a := &Assembly{Dir: dir}
	if err := a.load(dir, 0); err != nil {
		return nil, err
	}
	sort.Slice(a.Stacks, func(i, j int) bool { return a.Stacks[i].Key() < a.Stacks[j].Key() })
	seen := map[string]*Stack{}
	for _, s := range a.Stacks {
		if other := seen[s.Key()]; other != nil {
			return nil, fmt.Errorf("%s: stacks %s and %s are both %s", dir, other.HierarchicalID, s.HierarchicalID, s.Label())
		}
		seen[s.Key()] = s
	}
	return a, nil
}

func (a *Assembly) load(dir string, depth int) error {
	if depth > 10 {
		return fmt.Errorf("%s: nested assemblies more than 10 deep", dir)
	}
	path := filepath.Join(dir, "manifest.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, id := range slices.Sorted(maps.Keys(m.Artifacts)) {
		art := m.Artifacts[id]
		switch art.Type {
		case "cdk:cloud-assembly":
			sub := art.Properties.DirectoryName
			if sub == "" || filepath.IsAbs(sub) || strings.Contains(filepath.ToSlash(sub), "..") {
				return fmt.Errorf("%s: nested assembly %s has directoryName %q", path, id, sub)
			}
			if err := a.load(filepath.Join(dir, sub), depth+1); err != nil {
				return err
			}
		case "aws:cloudformation:stack":
			file := art.Properties.TemplateFile
			if file == "" || filepath.IsAbs(file) || strings.Contains(filepath.ToSlash(file), "..") {
				return fmt.Errorf("%s: stack %s has templateFile %q", path, id, file)
			}
			s := &Stack{
				Name:           cmp.Or(art.Properties.StackName, id),
				Env:            cmp.Or(art.Environment, "aws://unknown-account/unknown-region"),
				HierarchicalID: cmp.Or(art.DisplayName, id),
				TemplatePath:   filepath.Join(dir, file),
			}
			if s.Template, err = ReadTemplate(s.TemplatePath); err != nil {
				return err
			}
			a.Stacks = append(a.Stacks, s)
		}
	}
	return nil
}

// ReadTemplate reads a JSON CloudFormation template.
func ReadTemplate(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s is not a JSON template: %w", path, err)
	}
	if raw == nil {
		raw = map[string]any{}
	}
	t := &Template{Resources: map[string]*Resource{}, raw: raw}
	resources, ok := raw["Resources"].(map[string]any)
	if !ok && raw["Resources"] != nil {
		return nil, fmt.Errorf("%s: Resources is not an object", path)
	}
	for id, v := range resources {
		r, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: resource %s is not an object", path, id)
		}
		res := &Resource{raw: r}
		res.Type, _ = r["Type"].(string)
		if res.Type == "" {
			return nil, fmt.Errorf("%s: resource %s has no Type", path, id)
		}
		res.Properties, _ = r["Properties"].(map[string]any)
		res.DeletionPolicy, _ = r["DeletionPolicy"].(string)
		res.UpdateReplacePolicy, _ = r["UpdateReplacePolicy"].(string)
		t.Resources[id] = res
	}
	return t, nil
}
