package main

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// sdkConfig is the clients' configuration, from the function's environment
// alone: the region and the role's credentials that Lambda sets in every
// function, and the SDK's own environment settings that matter to a function:
//
//   - AWS_MAX_ATTEMPTS and AWS_RETRY_MODE (standard, the default, or adaptive);
//   - AWS_USE_FIPS_ENDPOINT and AWS_USE_DUALSTACK_ENDPOINT;
//   - AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>, unless
//     AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true.
//
// It reads no shared config file and runs no credential provider chain:
// config.LoadDefaultConfig, which does, and the SSO, OIDC and sign-in clients
// it links in, were about 10 ms of the function's 40 ms init (INIT REPORT
// under the emulator, BENCHMARKS.md). The region is
// AWS_REGION, else AWS_DEFAULT_REGION, else fallbackRegion (the repository's).
//
// A setting it cannot use comes back in the error, one line that names the
// variable; the configuration is usable all the same (region, credentials,
// endpoints), so that jobs still end and fail with the reason.
func sdkConfig(getenv func(string) string, fallbackRegion string) (aws.Config, func(service string) string, error) {
	var problems []string
	c := aws.Config{
		Region:    cmp.Or(getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION"), fallbackRegion),
		RetryMode: aws.RetryModeStandard,
	}
	if c.Region == "" {
		problems = append(problems, "no region: AWS_REGION is not set and ECR_REPOSITORY_URI names none")
	}
	key, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" || secret == "" {
		problems = append(problems, "no credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set (Lambda sets them from the function's role)")
	}
	c.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(key, secret, getenv("AWS_SESSION_TOKEN")))

	if s := getenv("AWS_MAX_ATTEMPTS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 1 {
			c.RetryMaxAttempts = n
		} else {
			problems = append(problems, fmt.Sprintf("AWS_MAX_ATTEMPTS %q is not a whole number of attempts, 1 or more", s))
		}
	}
	switch s := getenv("AWS_RETRY_MODE"); strings.ToLower(s) {
	case "", string(aws.RetryModeStandard):
	case string(aws.RetryModeAdaptive):
		c.RetryMode = aws.RetryModeAdaptive
	default:
		problems = append(problems, fmt.Sprintf("AWS_RETRY_MODE %q is not standard or adaptive", s))
	}

	flag := func(name string) bool {
		switch s := getenv(name); strings.ToLower(s) {
		case "", "false":
			return false
		case "true":
			return true
		default:
			problems = append(problems, fmt.Sprintf("%s %q is not true or false", name, s))
			return false
		}
	}
	var variants endpointVariants
	if flag("AWS_USE_FIPS_ENDPOINT") {
		variants.fips = aws.FIPSEndpointStateEnabled
	}
	if flag("AWS_USE_DUALSTACK_ENDPOINT") {
		variants.dualStack = aws.DualStackEndpointStateEnabled
	}
	c.ConfigSources = []any{variants}

	endpoint := func(service string) string { return getenv("AWS_ENDPOINT_URL_" + service) }
	if flag("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") {
		endpoint = func(string) string { return "" }
	} else if u := getenv("AWS_ENDPOINT_URL"); u != "" {
		c.BaseEndpoint = aws.String(u)
	}
	if len(problems) > 0 {
		return c, endpoint, fmt.Errorf("the AWS SDK settings cannot be used: %s", strings.Join(problems, "; "))
	}
	return c, endpoint, nil
}

// unreadSDKVariables are SDK settings that sdkConfig does not read: shared
// files and profiles, credential providers other than Lambda's, a CA bundle,
// and settings of the SDK's behaviour that the validator leaves at their
// defaults. Lambda sets none of them; one that someone sets does nothing,
// and the function's log says so once (ignoredSDKSettings).
var unreadSDKVariables = []string{
	"AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CA_BUNDLE",
	"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
	"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	"AWS_DEFAULTS_MODE", "AWS_SDK_UA_APP_ID", "AWS_ACCOUNT_ID_ENDPOINT_MODE",
	"AWS_REQUEST_CHECKSUM_CALCULATION", "AWS_RESPONSE_CHECKSUM_VALIDATION",
}

// ignoredSDKSettings lists the unread SDK variables that are set.
func ignoredSDKSettings(getenv func(string) string) []string {
	var set []string
	for _, name := range unreadSDKVariables {
		if getenv(name) != "" {
			set = append(set, name)
		}
	}
	return set
}

// endpointVariants is how the clients learn of FIPS and dual-stack endpoints:
// each service client, when it is built, asks the configuration's sources.
type endpointVariants struct {
	fips      aws.FIPSEndpointState
	dualStack aws.DualStackEndpointState
}

func (v endpointVariants) GetUseFIPSEndpoint(context.Context) (aws.FIPSEndpointState, bool, error) {
	return v.fips, v.fips != aws.FIPSEndpointStateUnset, nil
}

func (v endpointVariants) GetUseDualStackEndpoint(context.Context) (aws.DualStackEndpointState, bool, error) {
	return v.dualStack, v.dualStack != aws.DualStackEndpointStateUnset, nil
}
