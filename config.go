package main

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"cicd/constructs/pipeline"
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
)

// ConfigKeys lists every key the app reads, in the README's order.
var ConfigKeys = []string{
	keySuffix, keySourceProvider, keyRepositoryName, keyConnectionArn, keyGitHubRepo,
	keyBranch, keyGitHubToken, keyCluster, keyService, keyContainer, keyScanSeverity,
	keyEmail, keyRequireApproval, keyTags,
}

// allowed says what each key takes; every error about the key ends with it.
var allowed = map[string]string{
	keySuffix:          "use 1-20 lowercase letters, digits and hyphens, starting and ending with a letter or digit (e.g. dev, staging, prod)",
	keySourceProvider:  "use codecommit or connection",
	keyRepositoryName:  "use 1-100 letters, digits, '.', '_' and '-', not ending in .git",
	keyConnectionArn:   "use a connection ARN: arn:aws:codeconnections:REGION:ACCOUNT:connection/UUID (or the legacy codestar-connections service)",
	keyGitHubRepo:      "use owner/repo, e.g. octo-org/service",
	keyBranch:          "use a git branch name such as main or release/1.x (no spaces, no '..', not starting with '-' or '/')",
	keyGitHubToken:     "use an SSM parameter name such as /cicd-pipeline/dev/github-token (letters, digits, '.', '_', '-', '/'; not starting with aws or ssm)",
	keyCluster:         "use 1-255 letters, digits, hyphens and underscores",
	keyService:         "use 1-255 letters, digits, hyphens and underscores",
	keyContainer:       "use 1-255 letters, digits, hyphens and underscores",
	keyScanSeverity:    "use one of " + severityNames() + " (NONE disables the check)",
	keyEmail:           "use a plain e-mail address such as team@example.com",
	keyRequireApproval: "use true or false",
	keyTags:            `use a JSON object of string values, e.g. {"CostCenter":"1234","Owner":"platform"}`,
}

func severityNames() string {
	names := make([]string, len(validator.Severities))
	for i, s := range validator.Severities {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// Tags every resource carries; configured tags may not replace them.
var standardTagKeys = []string{"Environment", "Project", "ManagedBy"}

// Config is the validated configuration of one environment's stack.
type Config struct {
	EnvironmentSuffix    string
	Source               pipeline.Source
	GitHubTokenParameter string
	ClusterName          string
	ServiceName          string
	ContainerName        string
	ScanFailSeverity     validator.Severity
	NotificationEmail    string
	RequireApproval      bool
	Tags                 map[string]string
}

// Name is the base name of the stack and of its named resources.
func (c Config) Name() string { return "cicd-pipeline-" + c.EnvironmentSuffix }

// ConfigError names the key, the value given and what is allowed.
type ConfigError struct {
	Key     string
	Value   any
	Allowed string
}

func (e *ConfigError) Error() string {
	if e.Value == nil {
		return fmt.Sprintf("missing context value %s: %s", e.Key, e.Allowed)
	}
	return fmt.Sprintf("invalid context value %s=%s: %s", e.Key, quote(e.Value), e.Allowed)
}

var (
	suffixPattern     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$`)
	codeCommitPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}$`)
	connectionPattern = regexp.MustCompile(`^arn:aws(-[a-z]+)*:(codeconnections|codestar-connections):[a-z]{2}(-[a-z]+)+-\d:\d{12}:connection/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	repoPattern       = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	parameterPattern  = regexp.MustCompile(`^/?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`)
	ecsNamePattern    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	tagKeyPattern     = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`)
	tagValuePattern   = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$`)
)

// LoadConfig reads and validates every key through get, which returns the
// context value of a key or nil when it is unset.
func LoadConfig(get func(key string) any) (Config, error) {
	r := reader{get: get}
	c := Config{}

	c.EnvironmentSuffix = r.str(keySuffix, "dev")
	r.match(keySuffix, c.EnvironmentSuffix, suffixPattern)

	c.Source.Provider = pipeline.SourceProvider(r.str(keySourceProvider, string(pipeline.SourceCodeCommit)))
	c.Source.Branch = r.str(keyBranch, "main")
	r.check(keyBranch, c.Source.Branch, validBranch(c.Source.Branch))
	switch c.Source.Provider {
	case pipeline.SourceCodeCommit:
		c.Source.RepositoryName = r.str(keyRepositoryName, c.Name())
		r.check(keyRepositoryName, c.Source.RepositoryName,
			codeCommitPattern.MatchString(c.Source.RepositoryName) && !strings.HasSuffix(c.Source.RepositoryName, ".git"))
	case pipeline.SourceConnection:
		c.Source.ConnectionArn = r.required(keyConnectionArn,
			"sourceProvider=connection needs the ARN of an AWS CodeConnections connection, e.g. arn:aws:codeconnections:us-east-1:123456789012:connection/EXAMPLE-UUID")
		r.match(keyConnectionArn, c.Source.ConnectionArn, connectionPattern)
		repo := r.required(keyGitHubRepo, "sourceProvider=connection needs the repository as owner/repo, e.g. octo-org/service")
		if r.match(keyGitHubRepo, repo, repoPattern) {
			c.Source.Owner, c.Source.Repo, _ = strings.Cut(repo, "/")
		}
	default:
		r.fail(keySourceProvider, string(c.Source.Provider), allowed[keySourceProvider])
	}

	if c.GitHubTokenParameter = r.str(keyGitHubToken, ""); c.GitHubTokenParameter != "" {
		name := strings.ToLower(strings.TrimPrefix(c.GitHubTokenParameter, "/"))
		r.check(keyGitHubToken, c.GitHubTokenParameter,
			parameterPattern.MatchString(c.GitHubTokenParameter) && len(c.GitHubTokenParameter) <= 2048 &&
				!strings.HasPrefix(name, "aws") && !strings.HasPrefix(name, "ssm"))
	}

	c.ClusterName = r.str(keyCluster, "production-cluster")
	r.match(keyCluster, c.ClusterName, ecsNamePattern)
	c.ServiceName = r.str(keyService, c.Name())
	r.match(keyService, c.ServiceName, ecsNamePattern)
	c.ContainerName = r.str(keyContainer, "app")
	r.match(keyContainer, c.ContainerName, ecsNamePattern)

	c.ScanFailSeverity = validator.Severity(r.str(keyScanSeverity, string(validator.SeverityCritical)))
	r.check(keyScanSeverity, string(c.ScanFailSeverity), containsSeverity(c.ScanFailSeverity))

	if c.NotificationEmail = r.str(keyEmail, ""); c.NotificationEmail != "" {
		addr, err := mail.ParseAddress(c.NotificationEmail)
		r.check(keyEmail, c.NotificationEmail, err == nil && addr.Address == c.NotificationEmail && strings.Contains(addr.Address[strings.LastIndex(addr.Address, "@"):], "."))
	}

	c.RequireApproval = r.boolean(keyRequireApproval, c.EnvironmentSuffix == "prod")
	c.Tags = r.tags(keyTags)
	return c, r.err
}

func containsSeverity(s validator.Severity) bool {
	for _, v := range validator.Severities {
		if v == s {
			return true
		}
	}
	return false
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
	get func(string) any
	err error
}

func (r *reader) fail(key string, value any, hint string) {
	if r.err == nil {
		r.err = &ConfigError{Key: key, Value: value, Allowed: hint}
	}
}

// check records the key's error, with what the key allows, unless ok.
func (r *reader) check(key string, value any, ok bool) bool {
	if !ok {
		r.fail(key, value, allowed[key])
	}
	return ok
}

func (r *reader) match(key, value string, re *regexp.Regexp) bool {
	return r.check(key, value, re.MatchString(value))
}

// str returns the key's string value, def when unset. Values from cdk.json
// may be JSON numbers or booleans; they are read as their text.
func (r *reader) str(key, def string) string {
	v := r.get(key)
	switch v := v.(type) {
	case nil:
		return def
	case string:
		return v
	case bool, float64, int:
		return fmt.Sprint(v)
	default:
		r.fail(key, v, "a text value is needed: "+allowed[key])
		return def
	}
}

func (r *reader) required(key, hint string) string {
	v := r.str(key, "")
	if v == "" {
		if r.err == nil {
			r.err = &ConfigError{Key: key, Allowed: hint}
		}
	}
	return v
}

func (r *reader) boolean(key string, def bool) bool {
	switch v := r.get(key).(type) {
	case nil:
		return def
	case bool:
		return v
	case string:
		if b, err := strconv.ParseBool(v); err == nil && (v == "true" || v == "false") {
			return b
		}
		r.fail(key, v, allowed[key])
	default:
		r.fail(key, v, allowed[key])
	}
	return def
}

// tags accepts a JSON object of strings, from cdk.json (an object) or from
// -c tags='{"CostCenter":"1234"}' (a string).
func (r *reader) tags(key string) map[string]string {
	hint := allowed[key]
	raw := r.get(key)
	var obj map[string]any
	switch v := raw.(type) {
	case nil:
		return map[string]string{}
	case string:
		if strings.TrimSpace(v) == "" {
			return map[string]string{}
		}
		if err := json.Unmarshal([]byte(v), &obj); err != nil || obj == nil {
			r.fail(key, v, hint)
			return map[string]string{}
		}
	case map[string]any:
		obj = v
	default:
		r.fail(key, v, hint)
		return map[string]string{}
	}
	out := make(map[string]string, len(obj))
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, ok := obj[k].(string)
		if !ok {
			r.fail(key, raw, hint+"; the value of "+strconv.Quote(k)+" is not a string")
			return map[string]string{}
		}
		if !tagKeyPattern.MatchString(k) || strings.HasPrefix(strings.ToLower(k), "aws:") || !tagValuePattern.MatchString(s) {
			r.fail(key, raw, "tag keys are 1-128 and values 0-256 letters, digits, spaces and _.:/=+-@; keys may not start with aws:")
			return map[string]string{}
		}
		for _, std := range standardTagKeys {
			if k == std {
				r.fail(key, raw, "the tags Environment, Project and ManagedBy are set by the stack and cannot be replaced")
				return map[string]string{}
			}
		}
		out[k] = s
	}
	return out
}

func quote(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	}
}
