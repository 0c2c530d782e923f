package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cicd/constructs/build"
	"cicd/constructs/pipeline"
	"cicd/constructs/servicepipeline"
	"cicd/constructs/validator"
)

// Context keys, as users write them in cdk.json or with -c key=value.
const (
	keySuffix          = "environmentSuffix"
	keySourceProvider  = "sourceProvider"
	keyRepositoryName  = "repositoryName"
	keyConnectionArn   = "connectionArn"
	keyGitHubRepo      = "githubRepo"
	keyBranch          = "branch"
	keyGitHubToken     = "githubTokenParameter"
	keyCluster         = "ecsClusterName"
	keyService         = "ecsServiceName"
	keyContainer       = "containerName"
	keyScanSeverity    = "scanFailSeverity"
	keyEmail           = "notificationEmail"
	keyRequireApproval = "requireApproval"
	keyTags            = "tags"
	keyPlatform        = "platform"
	keyUnscanned       = "unscannedImages"
	keyAlarms          = "alarms"

	keyPipelines       = "pipelines"
	keyPipelineAccount = "pipelineAccount"
	keyPipelineRegion  = "pipelineRegion"
)

// ConfigKeys lists the flat keys of the single-environment stack, in the
// README's order.
var ConfigKeys = []string{
	keySuffix, keySourceProvider, keyRepositoryName, keyConnectionArn, keyGitHubRepo,
	keyBranch, keyGitHubToken, keyCluster, keyService, keyContainer, keyScanSeverity,
	keyEmail, keyRequireApproval, keyTags, keyPlatform, keyUnscanned, keyAlarms,
}

// TopLevelKeys are the keys of the multi-pipeline configuration.
var TopLevelKeys = []string{keyPipelines, keyPipelineAccount, keyPipelineRegion, keyTags}

// Keys of one entry of pipelines, of its source and of one environment.
var (
	PipelineKeys    = []string{"service", "source", "scanFailSeverity", "notificationEmail", "githubTokenParameter", "platform", "unscannedImages", "alarms", "tags", "environments"}
	AlarmKeys       = []string{"failedDeployments", "validatorErrors", "validatorErrorMinutes"}
	SourceKeys      = []string{"provider", "repositoryName", "connectionArn", "repository", "branch"}
	EnvironmentKeys = []string{"name", "cluster", "service", "container", "account", "region", "requireApproval", "taskRoles"}
)

// cdkOwnKeys are context keys the CDK CLI itself writes into cdk.json or
// cdk.context.json; keys with a colon (aws:cdk:..., lookups) and feature
// flags (@aws-cdk/...) are the CDK's too.
var cdkOwnKeys = []string{"acknowledged-issue-numbers", "cli-telemetry"}

// Rules: what a kind of value takes. Every error about a value ends with the
// rule of its kind, whichever key or path it came from.
const (
	ruleName       = "use 1-20 lowercase letters, digits and hyphens, starting and ending with a letter or digit (e.g. dev, staging, prod)"
	ruleProvider   = "use codecommit or connection"
	ruleCodeCommit = "use 1-100 letters, digits, '.', '_' and '-', not ending in .git"
	ruleConnection = "use a connection ARN: arn:aws:codeconnections:REGION:ACCOUNT:connection/UUID, e.g. arn:aws:codeconnections:eu-west-1:111111111111:connection/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b (or the legacy codestar-connections service)"
	ruleRepository = "use owner/repo, e.g. octo-org/service"
	ruleBranch     = "use a git branch name such as main or release/1.x (no spaces, no '..', not starting with '-' or '/')"
	ruleParameter  = "use an SSM parameter name such as /cicd-pipeline/dev/github-token (letters, digits, '.', '_', '-', '/'; not starting with aws or ssm)"
	ruleECSName    = "use 1-255 letters, digits, hyphens and underscores"
	ruleEmail      = "use a plain e-mail address such as team@example.com"
	ruleBool       = "use true or false"
	ruleTags       = `use a JSON object of string values, e.g. {"CostCenter":"1234","Owner":"platform"}`
	ruleAccount    = "use a 12-digit AWS account ID as a string, e.g. \"111111111111\""
	ruleService    = "use 1-20 lowercase letters, digits and hyphens, starting and ending with a letter or digit (e.g. orders); pipeline and pipeline-* are kept for the single-environment stacks"
	rulePlatform   = "use linux/amd64 or linux/arm64 (the architecture of the ECS tasks: arm64 for Graviton)"
	ruleUnscanned  = "use reject or allow (allow passes an image ECR cannot scan, such as FROM scratch, and says so in the history and a message)"
	ruleAlarms     = `use a JSON object of whole numbers, e.g. {"failedDeployments":2,"validatorErrors":1,"validatorErrorMinutes":5}: failed deployments in a row and validator errors (at least 1) that raise an alarm, within 1 to 1440 minutes for the errors`
	ruleRoles      = `use a JSON array of the task definition's IAM roles, by name or ARN, e.g. ["orders-task","orders-execution"]`
	rulePipelines  = `use a JSON array of pipelines, e.g. [{"service":"orders","environments":[{"name":"dev","cluster":"apps-dev","service":"orders"}]}] (README, Environments)`
)

func ruleSeverity() string {
	names := make([]string, len(validator.Severities))
	for i, s := range validator.Severities {
		names[i] = string(s)
	}
	return "use one of " + strings.Join(names, ", ") + " (NONE disables the check)"
}

func ruleRegion() string {
	return "use an AWS region code such as eu-west-1 or us-east-1"
}

// allowed says what each flat key takes.
var allowed = map[string]string{
	keySuffix:          ruleName,
	keySourceProvider:  ruleProvider,
	keyRepositoryName:  ruleCodeCommit,
	keyConnectionArn:   ruleConnection,
	keyGitHubRepo:      ruleRepository,
	keyBranch:          ruleBranch,
	keyGitHubToken:     ruleParameter,
	keyCluster:         ruleECSName,
	keyService:         ruleECSName,
	keyContainer:       ruleECSName,
	keyScanSeverity:    ruleSeverity(),
	keyEmail:           ruleEmail,
	keyRequireApproval: ruleBool,
	keyTags:            ruleTags,
	keyPlatform:        rulePlatform,
	keyUnscanned:       ruleUnscanned,
	keyAlarms:          ruleAlarms,
	keyPipelines:       rulePipelines,
	keyPipelineAccount: ruleAccount,
	keyPipelineRegion:  ruleRegion(),
}

// nestedRules say what the keys of a pipelines entry take.
var nestedRules = map[string]string{
	"service":              ruleService,
	"provider":             ruleProvider,
	"repositoryName":       ruleCodeCommit,
	"connectionArn":        ruleConnection,
	"repository":           ruleRepository,
	"branch":               ruleBranch,
	"scanFailSeverity":     ruleSeverity(),
	"notificationEmail":    ruleEmail,
	"githubTokenParameter": ruleParameter,
	"name":                 ruleName,
	"cluster":              ruleECSName,
	"container":            ruleECSName,
	"account":              ruleAccount,
	"region":               ruleRegion(),
	"requireApproval":      ruleBool,
	"taskRoles":            ruleRoles,
	"platform":             rulePlatform,
	"unscannedImages":      ruleUnscanned,
	"alarms":               ruleAlarms,
}

// ruleFor is the rule of a flat key or of a path into pipelines.
func ruleFor(key string) string {
	if rule, ok := allowed[key]; ok {
		return rule
	}
	i := strings.LastIndexByte(key, '.')
	if i < 0 {
		return ""
	}
	if last := key[i+1:]; last == "service" && strings.Contains(key, ".environments[") {
		return ruleECSName // an environment's service is an ECS service
	}
	return nestedRules[key[i+1:]]
}

// movedKeys says where each flat key's setting lives in a pipelines entry.
var movedKeys = map[string]string{
	keySuffix:          "environments[].name",
	keySourceProvider:  "source.provider",
	keyRepositoryName:  "source.repositoryName",
	keyConnectionArn:   "source.connectionArn",
	keyGitHubRepo:      "source.repository",
	keyBranch:          "source.branch",
	keyGitHubToken:     "githubTokenParameter of the pipeline",
	keyCluster:         "environments[].cluster",
	keyService:         "environments[].service",
	keyContainer:       "environments[].container",
	keyScanSeverity:    "scanFailSeverity of the pipeline",
	keyEmail:           "notificationEmail of the pipeline",
	keyRequireApproval: "environments[].requireApproval",
	keyPlatform:        "platform of the pipeline",
	keyUnscanned:       "unscannedImages of the pipeline",
	keyAlarms:          "alarms of the pipeline",
}

// Tags every resource carries; configured tags may not replace them.
var standardTagKeys = []string{"Environment", "Project", "ManagedBy", "Service"}

// Defaults of the flat keys. They live here, not in cdk.json, because a
// cdk.json that sets pipelines may not set the flat keys.
const (
	defaultSuffix    = "dev"
	defaultBranch    = "main"
	defaultContainer = "app"
)

// Limits of the multi-pipeline configuration.
const maxEnvironments = 10

// Config is the app's validated configuration: where the pipelines live and
// what each one delivers.
type Config struct {
	// PipelineAccount and PipelineRegion are where the pipelines live; empty:
	// environment-agnostic stacks, deployed wherever the CLI's credentials point.
	PipelineAccount string
	PipelineRegion  string
	// Tags are added to every resource of the app.
	Tags map[string]string
	// Pipelines, one per service; exactly one in single-environment mode.
	Pipelines []PipelineConfig
	// SingleEnvironment is true when the flat keys configured the app: its one
	// stack keeps the names and logical IDs of the single-environment stack.
	SingleEnvironment bool
}

// PipelineConfig is one service's pipeline.
type PipelineConfig struct {
	// Service names the pipeline and every resource it owns.
	Service              string
	Source               pipeline.Source
	ScanFailSeverity     validator.Severity
	NotificationEmail    string
	GitHubTokenParameter string
	// Platform of the image.
	Platform build.Platform
	// UnscannedImages is what the gate does with an image ECR cannot scan.
	UnscannedImages validator.UnscannedImages
	// Alarms are the thresholds of the delivery alarms; zero: the defaults.
	Alarms servicepipeline.Alarms
	// Tags of this pipeline's resources, on top of the app's.
	Tags map[string]string
	// Environments in promotion order.
	Environments []EnvironmentConfig
}

// EnvironmentConfig is one stage of the promotion: an existing ECS service.
type EnvironmentConfig struct {
	Name      string
	Cluster   string
	Service   string
	Container string
	// Account and Region of the service; empty: the pipeline's.
	Account string
	Region  string
	// RequireApproval adds a manual approval before the deploy.
	RequireApproval bool
	// TaskRoles name the roles of the service's task definition, which the
	// deploy passes to ECS (an environment in another account).
	TaskRoles []string
}

// ConfigError names the key, the value given and what is allowed.
type ConfigError struct {
	Key     string
	Value   any
	Allowed string
	// Missing is true when the key has no value at all.
	Missing bool
}

func (e *ConfigError) Error() string {
	if e.Missing {
		return fmt.Sprintf("missing context value %s: %s", e.Key, e.Allowed)
	}
	return fmt.Sprintf("invalid context value %s=%s: %s", e.Key, quote(e.Value), e.Allowed)
}

var (
	namePattern       = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$`)
	codeCommitPattern = limited{regexp.MustCompile(`^[A-Za-z0-9_.-]+$`), 100}
	connectionPattern = regexp.MustCompile(`^arn:aws(-[a-z]+)*:(codeconnections|codestar-connections):[a-z]{2}(-[a-z]+)+-\d:\d{12}:connection/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	repoPattern       = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	parameterPattern  = regexp.MustCompile(`^/?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`)
	ecsNamePattern    = limited{regexp.MustCompile(`^[A-Za-z0-9_-]+$`), 255}
	accountPattern    = regexp.MustCompile(`^\d{12}$`)
	roleNamePattern   = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	roleArnPattern    = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$`)
	tagKeyPattern     = limited{regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$`), 128}
	tagValuePattern   = limited{regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`), 256}
)

// limited is a pattern with a limit on the characters of the value: what a
// counted repetition such as {1,128} says. Go's regexp compiles a counted
// repetition into as many copies of its operand; written with counts, the
// tag patterns (Unicode classes) allocated 15 MB in 17,000 allocations and
// took about 36 ms of every synth's start, before the jsii kernel starts.
type limited struct {
	re  *regexp.Regexp
	max int // in characters (runes), as the counted repetition counts them
}

func (l limited) MatchString(s string) bool {
	return utf8.RuneCountInString(s) <= l.max && l.re.MatchString(s)
}

// LoadConfig validates the whole context: every key the app reads, and no
// key it does not know.
func LoadConfig(context map[string]any) (Config, error) {
	r := &reader{}
	var c Config
	r.unknownKeys("", context, append(slices.Clone(ConfigKeys), keyPipelines, keyPipelineAccount, keyPipelineRegion), true)
	c.PipelineAccount = r.optional(keyPipelineAccount, context[keyPipelineAccount], accountPattern.MatchString, ruleAccount)
	c.PipelineRegion = r.region(keyPipelineRegion, context[keyPipelineRegion])
	c.Tags = r.tags(keyTags, context[keyTags])

	if raw, ok := context[keyPipelines]; ok && raw != nil {
		for _, k := range ConfigKeys {
			if _, set := context[k]; set && k != keyTags && r.err == nil {
				r.err = fmt.Errorf("context key %s cannot be set together with pipelines: set %s instead (README, Environments)", k, movedKeys[k])
			}
		}
		c.Pipelines = r.pipelines(raw)
		r.placement(&c)
	} else {
		c.SingleEnvironment = true
		c.Pipelines = []PipelineConfig{r.flat(context)}
	}
	if r.err != nil {
		return Config{}, r.err
	}
	return c, nil
}

// flat reads the single-environment keys into one pipeline of one
// environment named by the suffix.
func (r *reader) flat(context map[string]any) PipelineConfig {
	get := func(key string) any { return context[key] }
	suffix := r.str(keySuffix, get(keySuffix), defaultSuffix)
	r.match(keySuffix, suffix, namePattern, ruleName)
	p := PipelineConfig{Service: suffix}

	p.Source = r.source(sourceFields{
		provider:   field{keySourceProvider, get(keySourceProvider)},
		repository: field{keyRepositoryName, get(keyRepositoryName)},
		connection: field{keyConnectionArn, get(keyConnectionArn)},
		ownerRepo:  field{keyGitHubRepo, get(keyGitHubRepo)},
		branch:     field{keyBranch, get(keyBranch)},
	}, "cicd-pipeline-"+suffix)
	p.GitHubTokenParameter = r.tokenParameter(keyGitHubToken, get(keyGitHubToken))

	env := EnvironmentConfig{Name: suffix}
	// The environment's own cluster by default: a dev stack must not touch a
	// production cluster unless told to.
	env.Cluster = r.str(keyCluster, get(keyCluster), suffix)
	r.match(keyCluster, env.Cluster, ecsNamePattern, ruleECSName)
	env.Service = r.str(keyService, get(keyService), "cicd-pipeline-"+suffix)
	r.match(keyService, env.Service, ecsNamePattern, ruleECSName)
	env.Container = r.str(keyContainer, get(keyContainer), defaultContainer)
	r.match(keyContainer, env.Container, ecsNamePattern, ruleECSName)
	env.RequireApproval = r.boolean(keyRequireApproval, get(keyRequireApproval), suffix == "prod")
	p.Environments = []EnvironmentConfig{env}

	p.ScanFailSeverity = r.severity(keyScanSeverity, get(keyScanSeverity))
	p.NotificationEmail = r.email(keyEmail, get(keyEmail))
	p.Platform = r.platform(keyPlatform, get(keyPlatform))
	p.UnscannedImages = r.unscanned(keyUnscanned, get(keyUnscanned))
	p.Alarms = r.alarms(keyAlarms, get(keyAlarms))
	p.Tags = map[string]string{}
	return p
}

// pipelines reads the pipelines key: a JSON array in cdk.json, or the same
// array as a JSON string from -c pipelines='[...]'.
func (r *reader) pipelines(raw any) []PipelineConfig {
	if s, ok := raw.(string); ok {
		var decoded any
		if err := json.Unmarshal([]byte(s), &decoded); err != nil {
			r.fail(keyPipelines, s, "not JSON ("+err.Error()+"; -c takes the JSON on one line); "+rulePipelines)
			return nil
		}
		raw = decoded
	}
	list, ok := raw.([]any)
	if !ok || len(list) == 0 {
		r.fail(keyPipelines, raw, rulePipelines)
		return nil
	}
	out := make([]PipelineConfig, 0, len(list))
	seen := map[string]string{}
	for i, item := range list {
		path := fmt.Sprintf("%s[%d]", keyPipelines, i)
		p := r.pipeline(path, item)
		if prev, dup := seen[p.Service]; dup && p.Service != "" {
			r.fail(path+".service", p.Service, "each pipeline needs its own service; "+prev+" already uses it")
		}
		seen[p.Service] = path
		out = append(out, p)
	}
	return out
}

func (r *reader) pipeline(path string, raw any) PipelineConfig {
	obj := r.object(path, raw, `use an object such as {"service":"orders","environments":[...]}`)
	var p PipelineConfig
	if obj == nil {
		return p
	}
	r.unknownKeys(path+".", obj, PipelineKeys, false)
	p.Service = r.requiredStr(path+".service", obj["service"], ruleService)
	if p.Service != "" && (!namePattern.MatchString(p.Service) || p.Service == "pipeline" || strings.HasPrefix(p.Service, "pipeline-")) {
		r.fail(path+".service", p.Service, ruleService)
	}

	srcPath := path + ".source"
	var src map[string]any
	if raw, ok := obj["source"]; ok {
		src = r.object(srcPath, raw, `use an object such as {"provider":"codecommit","branch":"main"}`)
		r.unknownKeys(srcPath+".", src, SourceKeys, false)
	}
	p.Source = r.source(sourceFields{
		provider:   field{srcPath + ".provider", src["provider"]},
		repository: field{srcPath + ".repositoryName", src["repositoryName"]},
		connection: field{srcPath + ".connectionArn", src["connectionArn"]},
		ownerRepo:  field{srcPath + ".repository", src["repository"]},
		branch:     field{srcPath + ".branch", src["branch"]},
	}, p.Service)

	p.ScanFailSeverity = r.severity(path+".scanFailSeverity", obj["scanFailSeverity"])
	p.NotificationEmail = r.email(path+".notificationEmail", obj["notificationEmail"])
	p.GitHubTokenParameter = r.tokenParameter(path+".githubTokenParameter", obj["githubTokenParameter"])
	p.Platform = r.platform(path+".platform", obj["platform"])
	p.UnscannedImages = r.unscanned(path+".unscannedImages", obj["unscannedImages"])
	p.Alarms = r.alarms(path+".alarms", obj["alarms"])
	p.Tags = r.tags(path+".tags", obj["tags"])

	envPath := path + ".environments"
	list, ok := obj["environments"].([]any)
	switch {
	case obj["environments"] == nil:
		r.missing(envPath, "list the environments in promotion order, e.g. [{\"name\":\"dev\",\"cluster\":\"apps-dev\",\"service\":\""+p.Service+"\"}]")
		return p
	case !ok || len(list) == 0 || len(list) > maxEnvironments:
		r.fail(envPath, obj["environments"], fmt.Sprintf("use a JSON array of 1 to %d environments in promotion order", maxEnvironments))
		return p
	}
	names := map[string]bool{}
	for i, item := range list {
		e := r.environment(fmt.Sprintf("%s[%d]", envPath, i), item, i, len(list))
		if names[e.Name] && e.Name != "" {
			r.fail(fmt.Sprintf("%s[%d].name", envPath, i), e.Name, "environment names must be unique within a pipeline; "+e.Name+" appears twice")
		}
		names[e.Name] = true
		p.Environments = append(p.Environments, e)
	}
	return p
}

func (r *reader) environment(path string, raw any, index, count int) EnvironmentConfig {
	obj := r.object(path, raw, `use an object such as {"name":"dev","cluster":"apps-dev","service":"orders"}`)
	var e EnvironmentConfig
	if obj == nil {
		return e
	}
	r.unknownKeys(path+".", obj, EnvironmentKeys, false)
	e.Name = r.requiredStr(path+".name", obj["name"], ruleName)
	if e.Name != "" {
		r.match(path+".name", e.Name, namePattern, ruleName)
	}
	e.Cluster = r.requiredStr(path+".cluster", obj["cluster"], "name the existing ECS cluster: "+ruleECSName)
	if e.Cluster != "" {
		r.match(path+".cluster", e.Cluster, ecsNamePattern, ruleECSName)
	}
	e.Service = r.requiredStr(path+".service", obj["service"], "name the existing ECS service: "+ruleECSName)
	if e.Service != "" {
		r.match(path+".service", e.Service, ecsNamePattern, ruleECSName)
	}
	e.Container = r.str(path+".container", obj["container"], defaultContainer)
	r.match(path+".container", e.Container, ecsNamePattern, ruleECSName)
	e.Account = r.optional(path+".account", obj["account"], accountPattern.MatchString, ruleAccount)
	e.Region = r.region(path+".region", obj["region"])
	// The last environment of a promotion, and any named prod or production,
	// waits for a person unless told otherwise.
	def := (count >= 2 && index == count-1) || e.Name == "prod" || e.Name == "production"
	e.RequireApproval = r.boolean(path+".requireApproval", obj["requireApproval"], def)
	e.TaskRoles = r.roles(path+".taskRoles", obj["taskRoles"])
	return e
}

// placement checks where things live: an environment in another account or
// region needs the pipelines' own account and region, and two environments
// never deploy the same service.
func (r *reader) placement(c *Config) {
	for i, p := range c.Pipelines {
		targets := map[string]string{}
		for j, e := range p.Environments {
			path := fmt.Sprintf("%s[%d].environments[%d]", keyPipelines, i, j)
			if placed := cmp.Or(e.Account, e.Region); placed != "" {
				what := "account " + e.Account
				if e.Account == "" {
					what = "region " + e.Region
				}
				switch {
				case c.PipelineAccount == "":
					r.missingWhy(keyPipelineAccount, fmt.Sprintf("%s names %s, so the pipelines need an account and a region of their own: set pipelineAccount and pipelineRegion (%s)", path, what, ruleAccount))
				case c.PipelineRegion == "":
					r.missingWhy(keyPipelineRegion, fmt.Sprintf("%s names %s, so the pipelines need an account and a region of their own: set pipelineRegion (e.g. eu-west-1)", path, what))
				}
			}
			where := strings.Join([]string{cmp.Or(e.Account, c.PipelineAccount), cmp.Or(e.Region, c.PipelineRegion), e.Cluster, e.Service}, "/")
			if prev, dup := targets[where]; dup {
				r.fail(path+".service", e.Service, fmt.Sprintf("environment %s deploys the same ECS service (cluster %s, same account and region) as environment %s; each environment needs its own service", e.Name, e.Cluster, prev))
			}
			targets[where] = e.Name
		}
	}
}

// sourceFields are the source's keys: flat keys, or the paths of a
// pipeline's source object.
type sourceFields struct {
	provider, repository, connection, ownerRepo, branch field
}

type field struct {
	key   string
	value any
}

func (r *reader) source(f sourceFields, defaultRepository string) pipeline.Source {
	var s pipeline.Source
	s.Provider = pipeline.SourceProvider(r.str(f.provider.key, f.provider.value, string(pipeline.SourceCodeCommit)))
	s.Branch = r.str(f.branch.key, f.branch.value, defaultBranch)
	r.check(f.branch.key, s.Branch, validBranch(s.Branch), ruleBranch)
	switch s.Provider {
	case pipeline.SourceCodeCommit:
		s.RepositoryName = r.str(f.repository.key, f.repository.value, defaultRepository)
		r.check(f.repository.key, s.RepositoryName,
			codeCommitPattern.MatchString(s.RepositoryName) && !strings.HasSuffix(s.RepositoryName, ".git"), ruleCodeCommit)
	case pipeline.SourceConnection:
		s.ConnectionArn = r.requiredStr(f.connection.key, f.connection.value, "a connection source needs the ARN of an AWS CodeConnections connection: "+ruleConnection)
		if s.ConnectionArn != "" {
			r.match(f.connection.key, s.ConnectionArn, connectionPattern, ruleConnection)
		}
		repo := r.requiredStr(f.ownerRepo.key, f.ownerRepo.value, "a connection source needs the repository: "+ruleRepository)
		if repo != "" && r.match(f.ownerRepo.key, repo, repoPattern, ruleRepository) {
			s.Owner, s.Repo, _ = strings.Cut(repo, "/")
		}
	default:
		r.fail(f.provider.key, string(s.Provider), ruleProvider)
	}
	return s
}

func (r *reader) tokenParameter(key string, raw any) string {
	name := r.str(key, raw, "")
	if name != "" {
		lower := strings.ToLower(strings.TrimPrefix(name, "/"))
		r.check(key, name, parameterPattern.MatchString(name) && len(name) <= 2048 &&
			!strings.HasPrefix(lower, "aws") && !strings.HasPrefix(lower, "ssm"), ruleParameter)
	}
	return name
}

func (r *reader) severity(key string, raw any) validator.Severity {
	s := validator.Severity(r.str(key, raw, string(validator.SeverityCritical)))
	r.check(key, string(s), slices.Contains(validator.Severities, s), ruleSeverity())
	return s
}

func (r *reader) platform(key string, raw any) build.Platform {
	p := build.Platform(r.str(key, raw, string(build.PlatformAMD64)))
	r.check(key, string(p), p == build.PlatformAMD64 || p == build.PlatformARM64, rulePlatform)
	return p
}

func (r *reader) unscanned(key string, raw any) validator.UnscannedImages {
	u := validator.UnscannedImages(r.str(key, raw, string(validator.UnscannedReject)))
	r.check(key, string(u), u == validator.UnscannedReject || u == validator.UnscannedAllow, ruleUnscanned)
	return u
}

// alarms reads the alarm thresholds: a JSON object, or the same object as a
// string from -c alarms='{...}'.
func (r *reader) alarms(key string, raw any) servicepipeline.Alarms {
	var a servicepipeline.Alarms
	obj, ok := raw.(map[string]any)
	switch v := raw.(type) {
	case nil:
		return a
	case string:
		if json.Unmarshal([]byte(v), &obj) != nil || obj == nil {
			r.fail(key, v, ruleAlarms)
			return a
		}
	default:
		if !ok {
			r.fail(key, v, ruleAlarms)
			return a
		}
	}
	r.unknownKeys(key+".", obj, AlarmKeys, false)
	whole := func(name string, max float64) int {
		v, set := obj[name]
		if !set {
			return 0
		}
		n, ok := v.(float64)
		if !ok || n != float64(int(n)) || n < 1 || n > max {
			r.fail(key+"."+name, v, ruleAlarms)
			return 0
		}
		return int(n)
	}
	a.FailedDeployments = whole("failedDeployments", 100)
	a.ValidatorErrors = whole("validatorErrors", 1000)
	a.ValidatorErrorPeriod = time.Duration(whole("validatorErrorMinutes", 1440)) * time.Minute
	return a
}

func (r *reader) email(key string, raw any) string {
	addr := r.str(key, raw, "")
	if addr != "" {
		parsed, err := mail.ParseAddress(addr)
		r.check(key, addr, err == nil && parsed.Address == addr &&
			strings.Contains(addr[strings.LastIndex(addr, "@"):], "."), ruleEmail)
	}
	return addr
}

// validBranch accepts what git check-ref-format accepts for a branch, minus
// the rare forms nobody configures a pipeline with.
func validBranch(b string) bool {
	if b == "" || len(b) > 255 || strings.HasPrefix(b, "-") || strings.HasPrefix(b, "/") ||
		strings.HasSuffix(b, "/") || strings.HasSuffix(b, ".") || strings.HasSuffix(b, ".lock") ||
		strings.Contains(b, "..") || strings.Contains(b, "//") || strings.Contains(b, "@{") {
		return false
	}
	for _, r := range b {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`~^:?*[\`, r) {
			return false
		}
	}
	return true
}

// reader keeps the first error, so the user sees one line.
type reader struct {
	err error
}

func (r *reader) fail(key string, value any, hint string) {
	if r.err == nil {
		r.err = &ConfigError{Key: key, Value: value, Allowed: hint}
	}
}

func (r *reader) missing(key, hint string) {
	if r.err == nil {
		r.err = &ConfigError{Key: key, Allowed: hint, Missing: true}
	}
}

func (r *reader) missingWhy(key, why string) {
	if r.err == nil {
		r.err = fmt.Errorf("missing context value %s: %s", key, why)
	}
}

// check records the key's error, with the rule of its kind, unless ok.
func (r *reader) check(key string, value any, ok bool, rule string) bool {
	if !ok {
		r.fail(key, value, rule)
	}
	return ok
}

func (r *reader) match(key, value string, re interface{ MatchString(string) bool }, rule string) bool {
	return r.check(key, value, re.MatchString(value), rule)
}

// str returns the value as text, def when unset. Values from cdk.json may be
// JSON numbers or booleans; they are read as their text.
func (r *reader) str(key string, v any, def string) string {
	switch v := v.(type) {
	case nil:
		return def
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case int:
		return strconv.Itoa(v)
	default:
		r.fail(key, v, "a text value is needed: "+ruleFor(key))
		return def
	}
}

// requiredStr is str for a key without a default: unset or empty fails with
// hint.
func (r *reader) requiredStr(key string, v any, hint string) string {
	s := r.str(key, v, "")
	if s == "" {
		r.missing(key, hint)
	}
	return s
}

// optional reads a text value that must pass ok when set; numbers are
// refused, since an account ID as a number loses its leading zeros.
func (r *reader) optional(key string, v any, ok func(string) bool, rule string) string {
	if v == nil {
		return ""
	}
	s, isText := v.(string)
	if !isText || !ok(s) {
		r.fail(key, v, rule)
		return ""
	}
	return s
}

// roles reads a list of IAM role names or ARNs.
func (r *reader) roles(key string, v any) []string {
	if v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		r.fail(key, v, ruleRoles)
		return nil
	}
	out := make([]string, 0, len(list))
	for _, item := range list {
		s, ok := item.(string)
		if !ok || !(roleNamePattern.MatchString(s) || roleArnPattern.MatchString(s)) {
			r.fail(key, v, ruleRoles)
			return nil
		}
		out = append(out, s)
	}
	return out
}

// region reads an optional region code, suggesting the nearest known one.
func (r *reader) region(key string, v any) string {
	if s, ok := v.(string); ok && !isRegion(s) {
		rule := ruleRegion()
		if near := nearest(s, awsRegions); near != "" {
			rule = "did you mean " + near + "? " + rule
		}
		r.fail(key, s, rule)
		return ""
	}
	return r.optional(key, v, isRegion, ruleRegion())
}

func (r *reader) boolean(key string, v any, def bool) bool {
	switch v := v.(type) {
	case nil:
		return def
	case bool:
		return v
	case string:
		if v == "true" || v == "false" {
			return v == "true"
		}
	}
	r.fail(key, v, ruleBool)
	return def
}

func (r *reader) object(key string, v any, rule string) map[string]any {
	obj, ok := v.(map[string]any)
	if !ok {
		r.fail(key, v, rule)
		return nil
	}
	return obj
}

// unknownKeys refuses a key the app does not read, with the nearest known
// key when one is close. At the top level the CDK's own keys pass.
func (r *reader) unknownKeys(prefix string, obj map[string]any, known []string, top bool) {
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if slices.Contains(known, k) {
			continue
		}
		if top && (strings.HasPrefix(k, "@") || strings.Contains(k, ":") || slices.Contains(cdkOwnKeys, k)) {
			continue
		}
		if r.err != nil {
			return
		}
		msg := fmt.Sprintf("unknown context key %s%s", prefix, k)
		if near := nearest(k, known); near != "" {
			msg += fmt.Sprintf(" (did you mean %s%s?)", prefix, near)
		}
		r.err = fmt.Errorf("%s: the keys here are %s", msg, strings.Join(known, ", "))
	}
}

// nearest returns the known key closest to k: the same but for case, or at
// most two edits away (a third for long keys).
func nearest(k string, known []string) string {
	best, bestDist := "", 0
	for _, c := range known {
		if strings.EqualFold(c, k) {
			return c
		}
		d := editDistance(strings.ToLower(k), strings.ToLower(c))
		limit := 2
		if len(c) >= 12 {
			limit = 3
		}
		if d <= limit && (best == "" || d < bestDist) {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of neighbours each cost one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range rb {
		d[0][j+1] = j + 1
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// tags accepts a JSON object of strings, from cdk.json (an object) or from
// -c tags='{"CostCenter":"1234"}' (a string).
func (r *reader) tags(key string, raw any) map[string]string {
	var obj map[string]any
	switch v := raw.(type) {
	case nil:
		return map[string]string{}
	case string:
		if strings.TrimSpace(v) == "" {
			return map[string]string{}
		}
		if err := json.Unmarshal([]byte(v), &obj); err != nil || obj == nil {
			r.fail(key, v, ruleTags)
			return map[string]string{}
		}
	case map[string]any:
		obj = v
	default:
		r.fail(key, v, ruleTags)
		return map[string]string{}
	}
	out := make(map[string]string, len(obj))
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		s, ok := obj[k].(string)
		if !ok {
			r.fail(key, raw, ruleTags+"; the value of "+strconv.Quote(k)+" is not a string")
			return map[string]string{}
		}
		if !tagKeyPattern.MatchString(k) || strings.HasPrefix(strings.ToLower(k), "aws:") || !tagValuePattern.MatchString(s) {
			r.fail(key, raw, "tag keys are 1-128 and values 0-256 letters, digits, spaces and _.:/=+-@; keys may not start with aws:")
			return map[string]string{}
		}
		if slices.Contains(standardTagKeys, k) {
			r.fail(key, raw, "the tags "+strings.Join(standardTagKeys, ", ")+" are set by the stack and cannot be replaced")
			return map[string]string{}
		}
		out[k] = s
	}
	return out
}

// quote shows a value as the user wrote it, cut short when long (a whole
// pipelines array would drown the message).
func quote(v any) string {
	var s string
	switch v := v.(type) {
	case string:
		s = strconv.Quote(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte(fmt.Sprint(v))
		}
		s = string(b)
	}
	const limit = 100
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit-3]) + "..."
	}
	return s
}
