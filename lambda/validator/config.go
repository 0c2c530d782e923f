package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// defaultMaxWait bounds the total time a job waits for a scan or a rollout
// when SCAN_MAX_WAIT_SECONDS is not set.
const defaultMaxWait = 900 * time.Second

// Unscanned says what the gate does with an image that ECR cannot scan.
type Unscanned string

const (
	UnscannedReject Unscanned = "reject" // the default: an unscanned image does not pass
	UnscannedAllow  Unscanned = "allow"  // it passes, and the item and a message say it was not scanned
)

// Config is the validator's environment, set by the stack (and by Lambda:
// AWS_LAMBDA_FUNCTION_NAME, AWS_REGION) and read once per container in main.
type Config struct {
	Table         string    // STATE_TABLE
	Repository    string    // ECR_REPOSITORY (name)
	RepositoryURI string    // ECR_REPOSITORY_URI
	TopicARN      string    // SNS_TOPIC_ARN
	Threshold     Severity  // SCAN_FAIL_SEVERITY
	Cluster       string    // ECS_CLUSTER
	Service       string    // ECS_SERVICE
	Container     string    // CONTAINER_NAME
	Environment   string    // ENVIRONMENT (suffix, e.g. dev)
	Pipeline      string    // PIPELINE_NAME: the only pipeline whose jobs are served
	ServiceName   string    // SERVICE: the pipeline's service (flat stacks: the suffix)
	Unscanned     Unscanned // UNSCANNED_IMAGES
	FunctionName  string    // AWS_LAMBDA_FUNCTION_NAME: jobs must invoke this function
	// Account and Region are the function's own (from the repository URI,
	// which is in the pipeline's account and region, and AWS_REGION): a
	// target elsewhere is reached through its role.
	Account string
	Region  string
	MaxWait time.Duration
}

// required lists the variables every job needs; a missing one fails every job.
var required = []string{
	"STATE_TABLE", "ECR_REPOSITORY", "ECR_REPOSITORY_URI", "SNS_TOPIC_ARN",
	"SCAN_FAIL_SEVERITY", "ECS_CLUSTER", "ECS_SERVICE", "CONTAINER_NAME", "ENVIRONMENT",
	"PIPELINE_NAME", "SERVICE",
}

// LoadConfig reads the environment through getenv. It returns what it could
// read along with the error, so the validator can still notify and record.
func LoadConfig(getenv func(string) string) (Config, error) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	c := Config{
		Table:         get("STATE_TABLE"),
		Repository:    get("ECR_REPOSITORY"),
		RepositoryURI: strings.TrimSuffix(get("ECR_REPOSITORY_URI"), "/"),
		TopicARN:      get("SNS_TOPIC_ARN"),
		Cluster:       get("ECS_CLUSTER"),
		Service:       get("ECS_SERVICE"),
		Container:     get("CONTAINER_NAME"),
		Environment:   get("ENVIRONMENT"),
		Pipeline:      get("PIPELINE_NAME"),
		ServiceName:   get("SERVICE"),
		Unscanned:     UnscannedReject,
		FunctionName:  get("AWS_LAMBDA_FUNCTION_NAME"),
		MaxWait:       defaultMaxWait,
	}
	var problems, missing []string
	for _, k := range required {
		if get(k) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		problems = append(problems, "missing environment variables: "+strings.Join(missing, ", "))
	}
	if s := get("SCAN_FAIL_SEVERITY"); s != "" {
		sev, err := parseSeverity(strings.ToUpper(s))
		if err != nil {
			problems = append(problems, fmt.Sprintf("SCAN_FAIL_SEVERITY %q is not one of CRITICAL, HIGH, MEDIUM, LOW, NONE", s))
		}
		c.Threshold = sev
	}
	if s := get("SCAN_MAX_WAIT_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > 7*24*3600 {
			problems = append(problems, fmt.Sprintf("SCAN_MAX_WAIT_SECONDS %q is not a number of seconds between 1 and 604800", s))
		} else {
			c.MaxWait = time.Duration(n) * time.Second
		}
	}
	switch s := get("UNSCANNED_IMAGES"); Unscanned(strings.ToLower(s)) {
	case "", UnscannedReject:
	case UnscannedAllow:
		c.Unscanned = UnscannedAllow
	default:
		problems = append(problems, fmt.Sprintf("UNSCANNED_IMAGES %q is not reject or allow", s))
	}
	if m := repositoryURI.FindStringSubmatch(c.RepositoryURI); m != nil {
		c.Account, c.Region = m[1], m[2]
	}
	if r := get("AWS_REGION"); r != "" {
		c.Region = r
	}
	if len(problems) > 0 {
		return c, fmt.Errorf("%w: %s", ErrConfig, strings.Join(problems, "; "))
	}
	return c, nil
}

// repositoryURI is an ECR repository URI: account and region.
var repositoryURI = regexp.MustCompile(`^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/`)

// environmentName is what messages call the environment, even when unset.
func (c Config) environmentName() string {
	if c.Environment == "" {
		return "unknown"
	}
	return c.Environment
}
