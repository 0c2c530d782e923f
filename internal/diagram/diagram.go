// Package diagram renders the architecture of a synthesized pipeline stack as
// a Mermaid flowchart. Everything it draws comes from the CloudFormation
// template (the stages and actions of the AWS::CodePipeline::Pipeline, the
// resources by type, and the references between them), so the README's
// diagram cannot drift from what the stack deploys.
package diagram

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Template is a synthesized CloudFormation template, as decoded from JSON.
type Template = map[string]any

// kind says how one resource type is drawn.
type kind struct {
	label string // service and resource kind, e.g. "ECR repository"
	name  string // property that holds the resource's name, if any
	open  string // Mermaid shape
	close string
}

// Resource types drawn as nodes of their own. The pipeline, the KMS key and
// the SSM parameters are drawn separately; IAM roles and policies are left out
// on purpose: they are in every arrow.
var kinds = map[string]kind{
	"AWS::CodeCommit::Repository": {"CodeCommit repository", "RepositoryName", "[(", ")]"},
	"AWS::CodeBuild::Project":     {"CodeBuild project", "Name", "[[", "]]"},
	"AWS::ECR::Repository":        {"ECR repository", "RepositoryName", "[(", ")]"},
	"AWS::Lambda::Function":       {"Lambda function", "FunctionName", "[[", "]]"},
	"AWS::DynamoDB::Table":        {"DynamoDB table", "TableName", "[(", ")]"},
	"AWS::SNS::Topic":             {"SNS topic", "TopicName", ">", "]"},
	"AWS::Events::Rule":           {"EventBridge rule", "Name", "{{", "}}"},
	"AWS::S3::Bucket":             {"S3 bucket", "BucketName", "[(", ")]"},
	"AWS::Logs::LogGroup":         {"CloudWatch Logs", "LogGroupName", "[", "]"},
	"AWS::CloudWatch::Dashboard":  {"CloudWatch dashboard", "DashboardName", "[/", "/]"},
}

// verbs label an arrow between two drawn resources that reference each
// other; a pair that is not listed is drawn without a label.
var verbs = map[[2]string]string{
	{"AWS::CodeBuild::Project", "AWS::ECR::Repository"}:  "pushes the tested image",
	{"AWS::CodeBuild::Project", "AWS::Logs::LogGroup"}:   "logs",
	{"AWS::Lambda::Function", "AWS::ECR::Repository"}:    "reads scan findings",
	{"AWS::Lambda::Function", "AWS::DynamoDB::Table"}:    "records every outcome",
	{"AWS::Lambda::Function", "AWS::SNS::Topic"}:         "announces rejections",
	{"AWS::Lambda::Function", "AWS::Logs::LogGroup"}:     "logs",
	{"AWS::CodePipeline::Pipeline", "AWS::S3::Bucket"}:   "artifacts",
	{"AWS::S3::Bucket", "AWS::S3::Bucket"}:               "access logs",
	{"AWS::Events::Rule", "AWS::SNS::Topic"}:             "readable message",
	{"AWS::Events::Rule", "AWS::CodePipeline::Pipeline"}: "starts",
	{"AWS::CodeCommit::Repository", "AWS::Events::Rule"}: "push",
	{"AWS::CodeBuild::Project", "AWS::Events::Rule"}:     "build state",
	{"AWS::CodePipeline::Pipeline", "AWS::Events::Rule"}: "execution state",
}

type resource struct {
	id    string
	typ   string
	props map[string]any
}

type action struct {
	node     string
	stage    string
	name     string
	category string
	provider string
	runOrder int
	config   map[string]any
}

type renderer struct {
	res   map[string]resource
	ids   []string // logical IDs, sorted
	lines []string
	edges map[string]bool
	nodes map[string]bool
	// checks maps a Lambda function's logical ID to the ECS services its
	// Verify actions check, as drawn node IDs.
	checks map[string][]string
}

// Mermaid renders tpl as a Mermaid flowchart (without the ```mermaid fence).
// The output depends only on the template, never on map order, so the same
// template always gives the same text.
func Mermaid(tpl Template) (string, error) {
	raw, _ := tpl["Resources"].(map[string]any)
	if len(raw) == 0 {
		return "", errors.New("the template has no Resources: pass a synthesized CloudFormation template")
	}
	r := &renderer{res: map[string]resource{}, edges: map[string]bool{}, nodes: map[string]bool{}, checks: map[string][]string{}}
	for id, v := range raw {
		m, _ := v.(map[string]any)
		typ, _ := m["Type"].(string)
		props, _ := m["Properties"].(map[string]any)
		r.res[id] = resource{id: id, typ: typ, props: props}
	}
	r.ids = slices.Sorted(maps.Keys(r.res))
	pipelines := r.ofType("AWS::CodePipeline::Pipeline")
	if len(pipelines) == 0 {
		return "", errors.New("the template has no AWS::CodePipeline::Pipeline: is it the pipeline stack's template?")
	}

	r.add("flowchart LR")
	var ecs []string
	for _, p := range pipelines {
		ecs = append(ecs, r.pipeline(p)...)
	}
	r.resources()
	r.links(ecs)
	r.alarms()
	r.shared()
	return strings.Join(r.lines, "\n") + "\n", nil
}

func (r *renderer) add(format string, args ...any) {
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

// node declares a node outside the pipeline once, however many arrows
// lead to it.
func (r *renderer) node(id, open, label, close string) {
	if r.nodes[id] {
		return
	}
	r.nodes[id] = true
	r.add("  %s%s%s%s", id, open, quote(label), close)
}

// edge draws one arrow once; dotted arrows are for things that are not the
// flow of a change.
func (r *renderer) edge(from, to, label string, dotted bool) {
	key := from + "\x00" + to + "\x00" + label
	if r.edges[key] || from == to {
		return
	}
	r.edges[key] = true
	arrow := "-->"
	if dotted {
		arrow = "-.->"
	}
	if label == "" {
		r.add("  %s %s %s", from, arrow, to)
		return
	}
	r.add("  %s %s|%s| %s", from, arrow, quote(label), to)
}

func (r *renderer) ofType(typ string) []resource {
	var out []resource
	for _, id := range r.ids {
		if r.res[id].typ == typ {
			out = append(out, r.res[id])
		}
	}
	return out
}

// pipeline draws the pipeline as a subgraph with one subgraph per stage, in
// the pipeline's order, each holding its actions; it returns the IDs of the
// ECS services the pipeline deploys to.
func (r *renderer) pipeline(p resource) (ecs []string) {
	stages, _ := p.props["Stages"].([]any)
	title := "CodePipeline " + str(p.props["PipelineType"])
	if name := str(p.props["Name"]); name != "" {
		title += " " + name
	}
	r.add("  subgraph %s[%s]", p.id, quote(strings.TrimSpace(title)))
	r.add("    direction LR")
	var byStage [][]action
	for _, s := range stages {
		stage, _ := s.(map[string]any)
		name := str(stage["Name"])
		var acts []action
		raw, _ := stage["Actions"].([]any)
		for _, a := range raw {
			am, _ := a.(map[string]any)
			typeID, _ := am["ActionTypeId"].(map[string]any)
			config, _ := am["Configuration"].(map[string]any)
			order := 1
			if n, ok := am["RunOrder"].(float64); ok {
				order = int(n)
			}
			acts = append(acts, action{
				node:     p.id + "_" + safe(name) + "_" + safe(str(am["Name"])),
				stage:    name,
				name:     str(am["Name"]),
				category: str(typeID["Category"]),
				provider: str(typeID["Provider"]),
				runOrder: order,
				config:   config,
			})
		}
		sort.SliceStable(acts, func(i, j int) bool { return acts[i].runOrder < acts[j].runOrder })
		r.add("    subgraph %s_%s[%s]", p.id, safe(name), quote(name))
		for _, a := range acts {
			r.add("      %s[%s]", a.node, quote(a.name+"<br/>"+a.describe()))
		}
		r.add("    end")
		byStage = append(byStage, acts)
	}
	r.add("  end")
	// Within a stage, actions run by run order; the next stage starts when
	// the last run order of this one is done.
	for i, acts := range byStage {
		for j := 1; j < len(acts); j++ {
			if acts[j].runOrder > acts[j-1].runOrder {
				for _, prev := range acts[:j] {
					if prev.runOrder == acts[j-1].runOrder {
						r.edge(prev.node, acts[j].node, "", false)
					}
				}
			}
		}
		if i+1 < len(byStage) && len(acts) > 0 && len(byStage[i+1]) > 0 {
			last, first := acts[len(acts)-1].runOrder, byStage[i+1][0].runOrder
			for _, a := range acts {
				for _, b := range byStage[i+1] {
					if a.runOrder == last && b.runOrder == first {
						r.edge(a.node, b.node, "", false)
					}
				}
			}
		}
	}

	for _, acts := range byStage {
		for _, a := range acts {
			ecs = append(ecs, r.action(p, a)...)
		}
	}
	r.triggers(p, byStage)
	return ecs
}

// describe says what an action is, in a few words.
func (a action) describe() string {
	switch {
	case a.category == "Approval":
		return "manual approval"
	case a.provider == "Lambda":
		var up struct {
			Mode string `json:"mode"`
		}
		if json.Unmarshal([]byte(str(a.config["UserParameters"])), &up) == nil && up.Mode != "" {
			return "Lambda, mode " + up.Mode
		}
		return "Lambda"
	case a.provider == "CodeStarSourceConnection":
		return "CodeConnections source"
	case a.provider == "ECS":
		return "ECS rolling update"
	}
	return a.provider
}

// action draws the arrows between an action and what it works on.
func (r *renderer) action(p resource, a action) (ecs []string) {
	switch {
	case a.provider == "CodeStarSourceConnection":
		repo := "ext_" + a.node
		r.node(repo, "[(", "Git repository<br/>"+str(a.config["FullRepositoryId"])+"<br/>through CodeConnections", ")]")
		r.pushTo(repo, str(a.config["BranchName"]))
		r.edge(repo, a.node, "checkout", false)
		return nil
	case a.provider == "ECS":
		node := ecsNode(str(a.config["ClusterName"]), str(a.config["ServiceName"]))
		r.node(node, "[", "ECS service<br/>"+str(a.config["ClusterName"])+"/"+str(a.config["ServiceName"]), "]")
		r.edge(a.node, node, "rolling update", false)
		return []string{node + "\x00" + str(a.config["ClusterName"]) + "\x00" + str(a.config["ServiceName"])}
	}
	if target := verifyTarget(a); target != "" {
		for _, fn := range r.refs(a.config["FunctionName"]) {
			r.checks[fn] = append(r.checks[fn], target)
		}
	}
	for _, id := range r.refs(a.config) {
		if !r.drawn(id) {
			continue
		}
		if a.category == "Source" {
			if r.res[id].typ == "AWS::CodeCommit::Repository" {
				r.pushTo(id, str(a.config["BranchName"]))
			}
			r.edge(id, a.node, "checkout", false)
			continue
		}
		label := map[string]string{"Build": "runs", "Invoke": "invokes", "Test": "runs", "Deploy": "deploys"}[a.category]
		r.edge(a.node, id, label, false)
	}
	return nil
}

// verifyTarget is the node of the ECS service a Verify action checks, when
// its UserParameters name one (a pipeline of several environments), or "".
func verifyTarget(a action) string {
	var up struct {
		Mode   string `json:"mode"`
		Target *struct {
			Cluster string `json:"cluster"`
			Service string `json:"service"`
		} `json:"target"`
	}
	if a.provider != "Lambda" || json.Unmarshal([]byte(str(a.config["UserParameters"])), &up) != nil ||
		up.Mode != "verify" || up.Target == nil {
		return ""
	}
	return ecsNode(up.Target.Cluster, up.Target.Service)
}

func ecsNode(cluster, service string) string { return "ext_ecs_" + safe(cluster+"_"+service) }

// pushTo draws the developer's push into a repository.
func (r *renderer) pushTo(repo, branch string) {
	label := "git push"
	if branch != "" {
		label += " to " + branch
	}
	r.node("ext_push", "([", label, "])")
	r.edge("ext_push", repo, "", false)
}

// triggers draws a V2 pipeline's own triggers (connection sources).
func (r *renderer) triggers(p resource, byStage [][]action) {
	triggers, _ := p.props["Triggers"].([]any)
	for _, t := range triggers {
		tm, _ := t.(map[string]any)
		git, _ := tm["GitConfiguration"].(map[string]any)
		source := str(git["SourceActionName"])
		var branches []string
		push, _ := git["Push"].([]any)
		for _, f := range push {
			fm, _ := f.(map[string]any)
			b, _ := fm["Branches"].(map[string]any)
			branches = append(branches, list(b["Includes"])...)
		}
		for _, acts := range byStage {
			for _, a := range acts {
				if a.name == source && a.category == "Source" {
					r.edge("ext_"+a.node, p.id, "pipeline trigger: push to "+strings.Join(branches, ", "), false)
				}
			}
		}
	}
}

// resources draws every resource of a drawn kind.
func (r *renderer) resources() {
	for _, id := range r.ids {
		res := r.res[id]
		k, ok := kinds[res.typ]
		if !ok || !r.drawn(id) {
			continue
		}
		label := k.label + "<br/>" + r.name(res, k)
		r.node(id, k.open, label, k.close)
	}
	for _, sub := range r.ofType("AWS::SNS::Subscription") {
		endpoint := str(sub.props["Endpoint"])
		endpoint = cmp.Or(endpoint, "subscriber")
		node := "ext_sub_" + sub.id
		r.node(node, "([", str(sub.props["Protocol"])+" "+endpoint, "])")
		for _, topic := range r.refs(sub.props["TopicArn"]) {
			r.edge(topic, node, "", false)
		}
	}
}

// name is the resource's own name, or a readable stand-in for the names
// CloudFormation generates.
func (r *renderer) name(res resource, k kind) string {
	if n := str(res.props[k.name]); n != "" {
		return n
	}
	if res.typ == "AWS::Events::Rule" {
		if d := str(res.props["Description"]); d != "" {
			return d
		}
		pattern, _ := res.props["EventPattern"].(map[string]any)
		detail, _ := pattern["detail"].(map[string]any)
		if refs := list(detail["referenceName"]); len(refs) > 0 {
			return "starts the pipeline on a push to " + strings.Join(refs, ", ")
		}
	}
	return stem(res.id)
}

// links draws the references between drawn resources, and the validator's
// look at the deployed service.
func (r *renderer) links(ecs []string) {
	for _, id := range r.ids {
		from := r.res[id]
		if !r.drawn(id) && from.typ != "AWS::CodePipeline::Pipeline" {
			continue
		}
		switch from.typ {
		case "AWS::CloudWatch::Dashboard":
			// A view, not a step: what it shows is the alarms and metrics
			// of what is drawn already.
			continue
		case "AWS::Events::Rule":
			// What the rule matches points at it; the rule points at its targets.
			for _, src := range r.refs(from.props["EventPattern"]) {
				r.edge(src, id, r.verb(src, id)+matched(from.props["EventPattern"]), false)
			}
			for _, dst := range r.refs(from.props["Targets"]) {
				if r.drawn(dst) || r.res[dst].typ == "AWS::CodePipeline::Pipeline" {
					r.edge(id, dst, r.verb(id, dst), false)
				}
			}
			continue
		case "AWS::CodePipeline::Pipeline":
			for _, dst := range r.refs(from.props["ArtifactStore"]) {
				if r.drawn(dst) {
					r.edge(id, dst, r.verb(id, dst), true)
				}
			}
			continue
		}
		for _, dst := range r.refs(from.props) {
			if r.drawn(dst) && r.res[dst].typ != "AWS::CodePipeline::Pipeline" {
				r.edge(id, dst, r.verb(id, dst), r.res[dst].typ == "AWS::Logs::LogGroup" || r.res[dst].typ == "AWS::S3::Bucket")
			}
		}
		if from.typ == "AWS::Lambda::Function" {
			env, _ := from.props["Environment"].(map[string]any)
			values := map[string]bool{}
			vars, _ := env["Variables"].(map[string]any)
			for _, v := range vars {
				values[str(v)] = true
			}
			for _, e := range ecs {
				parts := strings.Split(e, "\x00")
				if values[parts[1]] && values[parts[2]] {
					r.edge(id, parts[0], "checks the rollout", false)
				}
			}
			for _, node := range r.checks[id] {
				if r.nodes[node] {
					r.edge(id, node, "checks the rollout", false)
				}
			}
		}
		if from.typ == "AWS::CodeBuild::Project" {
			r.buildSecrets(from)
		}
	}
}

// buildSecrets draws the SecureString parameters the build reads.
func (r *renderer) buildSecrets(p resource) {
	env, _ := p.props["Environment"].(map[string]any)
	vars, _ := env["EnvironmentVariables"].([]any)
	for _, v := range vars {
		vm, _ := v.(map[string]any)
		if str(vm["Type"]) != "PARAMETER_STORE" {
			continue
		}
		node := "ext_param_" + safe(str(vm["Name"]))
		r.node(node, "[", "SSM SecureString<br/>"+str(vm["Value"]), "]")
		r.edge(node, p.id, str(vm["Name"]), true)
	}
}

// matched names the states an event pattern matches, e.g. " FAILED".
func matched(pattern any) string {
	p, _ := pattern.(map[string]any)
	detail, _ := p["detail"].(map[string]any)
	var states []string
	for _, key := range []string{"build-status", "state"} {
		states = append(states, list(detail[key])...)
	}
	for _, ref := range list(detail["referenceName"]) {
		states = append(states, "to "+ref)
	}
	if len(states) == 0 {
		return ""
	}
	return " " + strings.Join(states, ", ")
}

func (r *renderer) verb(from, to string) string {
	return verbs[[2]string{r.res[from].typ, r.res[to].typ}]
}

// drawn says whether a resource is a node of its own. EventBridge rules
// without targets are left out: they only count events for the dashboard's
// metrics (AWS/Events MatchedEvents), and would crowd the picture.
func (r *renderer) drawn(id string) bool {
	res := r.res[id]
	if _, ok := kinds[res.typ]; !ok {
		return false
	}
	if res.typ == "AWS::Events::Rule" {
		targets, _ := res.props["Targets"].([]any)
		return len(targets) > 0
	}
	return true
}

// alarms draws the stack's CloudWatch alarms as one node, with the topics
// they notify and the dashboard that shows them.
func (r *renderer) alarms() {
	alarms := r.ofType("AWS::CloudWatch::Alarm")
	if len(alarms) == 0 {
		return
	}
	var names []string
	for _, a := range alarms {
		names = append(names, cmp.Or(str(a.props["AlarmName"]), stem(a.id)))
	}
	sort.Strings(names)
	r.node("ext_alarms", "[", "CloudWatch alarms<br/>"+strings.Join(names, "<br/>"), "]")
	for _, a := range alarms {
		for _, topic := range r.refs(a.props["AlarmActions"]) {
			r.edge("ext_alarms", topic, "alarm", false)
		}
	}
	for _, d := range r.ofType("AWS::CloudWatch::Dashboard") {
		r.edge(d.id, "ext_alarms", "shows", true)
	}
}

// shared draws what every part of the stack uses: the KMS key (with what it
// encrypts) and the SSM parameters the stack publishes.
func (r *renderer) shared() {
	for _, key := range r.ofType("AWS::KMS::Key") {
		label := "KMS key"
		for _, alias := range r.ofType("AWS::KMS::Alias") {
			if contains(r.refs(alias.props["TargetKeyId"]), key.id) {
				label += "<br/>" + str(alias.props["AliasName"])
			}
		}
		users := map[string]bool{}
		for _, id := range r.ids {
			res := r.res[id]
			if strings.HasPrefix(res.typ, "AWS::IAM::") || res.typ == "AWS::KMS::Alias" || res.typ == "AWS::SSM::Parameter" {
				continue
			}
			if contains(r.refs(res.props), key.id) {
				users[service(res.typ)] = true
			}
		}
		if len(users) > 0 {
			label += "<br/>encrypts " + strings.Join(slices.Sorted(maps.Keys(users)), ", ")
		}
		r.node(key.id, "{{", label, "}}")
	}
	var names []string
	for _, p := range r.ofType("AWS::SSM::Parameter") {
		if n := str(p.props["Name"]); n != "" {
			names = append(names, n)
		}
	}
	if len(names) > 0 {
		sort.Strings(names)
		r.node("ext_ssm", "[", "SSM parameters<br/>"+strings.Join(names, "<br/>"), "]")
	}
}

// refs returns the logical IDs of the template's resources that v refers to
// (Ref, Fn::GetAtt, Fn::Sub), sorted and without repeats.
func (r *renderer) refs(v any) []string {
	found := map[string]bool{}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if id, ok := v["Ref"].(string); ok {
				found[id] = true
			}
			switch att := v["Fn::GetAtt"].(type) {
			case []any:
				if len(att) > 0 {
					found[str(att[0])] = true
				}
			case string:
				found[strings.SplitN(att, ".", 2)[0]] = true
			}
			if sub, ok := v["Fn::Sub"].(string); ok {
				for _, m := range subVar.FindAllStringSubmatch(sub, -1) {
					found[m[1]] = true
				}
			}
			for _, k := range slices.Sorted(maps.Keys(v)) {
				walk(v[k])
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
	var out []string
	for id := range found {
		if _, ok := r.res[id]; ok {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

var (
	subVar  = regexp.MustCompile(`\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}`)
	hash    = regexp.MustCompile(`[0-9A-F]{8}$`)
	notSafe = regexp.MustCompile(`[^A-Za-z0-9]+`)
)

// stem drops the hash CDK appends to logical IDs.
func stem(id string) string {
	if s := hash.ReplaceAllString(id, ""); s != "" {
		return s
	}
	return id
}

// service is the short service name of a resource type: AWS::S3::Bucket -> S3.
func service(typ string) string {
	parts := strings.Split(typ, "::")
	if len(parts) == 3 {
		return parts[1]
	}
	return typ
}

func safe(s string) string { return notSafe.ReplaceAllString(s, "_") }

// quote makes s a Mermaid label: quoted, with quotes as entities.
func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, "#quot;") + `"` }

func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return fmt.Sprint(v)
	}
	return ""
}

func list(v any) []string {
	var out []string
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if s := str(e); s != "" {
				out = append(out, s)
			}
		}
	case string:
		out = append(out, v)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
