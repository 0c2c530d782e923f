package main

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// lambdaEnvironment is what Lambda sets in every function that the SDK
// configuration reads.
func lambdaEnvironment() map[string]string {
	return map[string]string{
		"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1",
		"AWS_ACCESS_KEY_ID": "ASIAFUNCTION", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token",
	}
}

// clientOptions are the options of the clients newDeps builds, by service.
type clientOptions struct {
	ecr  ecr.Options
	ecs  ecs.Options
	ddb  dynamodb.Options
	sns  sns.Options
	cp   codepipeline.Options
	sts  sts.Options
	ecsB ecs.Options // a target's ECS client, in us-west-2 with another role
}

func optionsOf(t *testing.T, c aws.Config, endpoint func(string) string) clientOptions {
	t.Helper()
	d := newDeps(c, endpoint)
	other, _ := d.ECSFor("us-west-2", aws.AnonymousCredentials{})
	return clientOptions{
		ecr: d.Images.(*ecr.Client).Options(), ecs: d.Services.(*ecs.Client).Options(),
		ddb: d.Put.(*dynamodb.Client).Options(), sns: d.Topics.(*sns.Client).Options(),
		cp: d.Details.(*codepipeline.Client).Options(), sts: d.Roles.(*sts.Client).Options(),
		ecsB: other.(*ecs.Client).Options(),
	}
}

// The clients get the function's region and credentials, the SDK's retry,
// FIPS, dual-stack and endpoint settings from the environment, and nothing
// from a file; a setting they cannot use is one line that names it.
func TestSDKConfigFromTheFunctionsEnvironment(t *testing.T) {
	endpointOf := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	tests := []struct {
		name     string
		change   map[string]string // "" deletes
		fallback string
		problem  string // in the error; "" for none
		check    func(t *testing.T, o clientOptions)
	}{
		{name: "Lambda's environment", check: func(t *testing.T, o clientOptions) {
			if o.ecr.Region != "eu-west-1" || o.ecs.Region != "eu-west-1" || o.ecsB.Region != "us-west-2" {
				t.Errorf("regions ecr %q, ecs %q, target's ecs %q; want eu-west-1, eu-west-1, us-west-2", o.ecr.Region, o.ecs.Region, o.ecsB.Region)
			}
			creds, err := o.ddb.Credentials.Retrieve(context.Background())
			if err != nil || creds.AccessKeyID != "ASIAFUNCTION" || creds.SecretAccessKey != "secret" || creds.SessionToken != "token" {
				t.Errorf("credentials %+v, %v; want the function's role's", creds, err)
			}
			if o.sns.RetryMode != aws.RetryModeStandard || o.sns.RetryMaxAttempts != 0 || o.sns.Retryer.MaxAttempts() != 3 {
				t.Errorf("retry mode %q, max attempts %d (retryer %d); want standard with its 3 attempts", o.sns.RetryMode, o.sns.RetryMaxAttempts, o.sns.Retryer.MaxAttempts())
			}
			if o.ecr.EndpointOptions.UseFIPSEndpoint != aws.FIPSEndpointStateUnset || o.ecr.EndpointOptions.UseDualStackEndpoint != aws.DualStackEndpointStateUnset {
				t.Errorf("endpoint variants %+v, want none", o.ecr.EndpointOptions)
			}
			for name, e := range map[string]*string{"ecr": o.ecr.BaseEndpoint, "sts": o.sts.BaseEndpoint, "codepipeline": o.cp.BaseEndpoint} {
				if e != nil {
					t.Errorf("%s endpoint %q, want the service's own", name, *e)
				}
			}
		}},
		{name: "AWS_DEFAULT_REGION without AWS_REGION", change: map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": "ap-south-1"}, fallback: "us-east-1",
			check: func(t *testing.T, o clientOptions) {
				if o.cp.Region != "ap-south-1" {
					t.Errorf("region %q, want ap-south-1", o.cp.Region)
				}
			}},
		{name: "the repository's region when Lambda's is absent", change: map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": ""}, fallback: "us-east-1",
			check: func(t *testing.T, o clientOptions) {
				if o.cp.Region != "us-east-1" || o.sts.Region != "us-east-1" {
					t.Errorf("regions %q, %q, want us-east-1", o.cp.Region, o.sts.Region)
				}
			}},
		{name: "no region at all", change: map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": ""}, problem: "no region: AWS_REGION is not set"},
		{name: "no credentials", change: map[string]string{"AWS_SECRET_ACCESS_KEY": ""}, problem: "no credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
		{name: "retries", change: map[string]string{"AWS_MAX_ATTEMPTS": "7", "AWS_RETRY_MODE": "Adaptive"}, check: func(t *testing.T, o clientOptions) {
			if o.ddb.RetryMode != aws.RetryModeAdaptive || o.ddb.RetryMaxAttempts != 7 || o.ddb.Retryer.MaxAttempts() != 7 || o.ecsB.Retryer.MaxAttempts() != 7 {
				t.Errorf("retry mode %q, max attempts %d (retryers %d, %d); want adaptive, 7", o.ddb.RetryMode, o.ddb.RetryMaxAttempts, o.ddb.Retryer.MaxAttempts(), o.ecsB.Retryer.MaxAttempts())
			}
		}},
		{name: "max attempts not a number", change: map[string]string{"AWS_MAX_ATTEMPTS": "three"}, problem: `AWS_MAX_ATTEMPTS "three" is not a whole number of attempts, 1 or more`},
		{name: "max attempts zero", change: map[string]string{"AWS_MAX_ATTEMPTS": "0"}, problem: `AWS_MAX_ATTEMPTS "0" is not`},
		{name: "retry mode legacy", change: map[string]string{"AWS_RETRY_MODE": "legacy"}, problem: `AWS_RETRY_MODE "legacy" is not standard or adaptive`},
		{name: "FIPS and dual-stack endpoints", change: map[string]string{"AWS_USE_FIPS_ENDPOINT": "true", "AWS_USE_DUALSTACK_ENDPOINT": "TRUE"}, check: func(t *testing.T, o clientOptions) {
			if e := o.ecr.EndpointOptions; e.UseFIPSEndpoint != aws.FIPSEndpointStateEnabled || e.UseDualStackEndpoint != aws.DualStackEndpointStateEnabled {
				t.Errorf("ecr endpoint options %+v, want FIPS and dual-stack", e)
			}
			if o.ecsB.EndpointOptions.UseFIPSEndpoint != aws.FIPSEndpointStateEnabled || o.sts.EndpointOptions.UseFIPSEndpoint != aws.FIPSEndpointStateEnabled {
				t.Errorf("FIPS: target's ecs %v, sts %v; want enabled", o.ecsB.EndpointOptions.UseFIPSEndpoint, o.sts.EndpointOptions.UseFIPSEndpoint)
			}
		}},
		{name: "FIPS not a boolean", change: map[string]string{"AWS_USE_FIPS_ENDPOINT": "yes"}, problem: `AWS_USE_FIPS_ENDPOINT "yes" is not true or false`},
		{name: "endpoint overrides", change: map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_ENDPOINT_URL_CODEPIPELINE": "http://127.0.0.1:2", "AWS_ENDPOINT_URL_ECS": "http://127.0.0.1:3"},
			check: func(t *testing.T, o clientOptions) {
				got := map[string]string{"ecr": endpointOf(o.ecr.BaseEndpoint), "codepipeline": endpointOf(o.cp.BaseEndpoint), "ecs": endpointOf(o.ecs.BaseEndpoint), "target's ecs": endpointOf(o.ecsB.BaseEndpoint), "sts": endpointOf(o.sts.BaseEndpoint)}
				want := map[string]string{"ecr": "http://127.0.0.1:1", "codepipeline": "http://127.0.0.1:2", "ecs": "http://127.0.0.1:3", "target's ecs": "http://127.0.0.1:3", "sts": "http://127.0.0.1:1"}
				for k := range want {
					if got[k] != want[k] {
						t.Errorf("%s endpoint %q, want %q", k, got[k], want[k])
					}
				}
			}},
		{name: "endpoint overrides ignored", change: map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_ENDPOINT_URL_ECS": "http://127.0.0.1:3", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
			check: func(t *testing.T, o clientOptions) {
				if o.ecr.BaseEndpoint != nil || o.ecs.BaseEndpoint != nil {
					t.Errorf("endpoints %q, %q, want the services' own", endpointOf(o.ecr.BaseEndpoint), endpointOf(o.ecs.BaseEndpoint))
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := lambdaEnvironment()
			for k, v := range tc.change {
				env[k] = v
			}
			c, endpoint, err := sdkConfig(func(k string) string { return env[k] }, tc.fallback)
			switch {
			case tc.problem == "" && err != nil:
				t.Fatalf("sdkConfig: %v", err)
			case tc.problem != "" && (err == nil || !strings.Contains(err.Error(), tc.problem) || strings.Contains(err.Error(), "\n")):
				t.Fatalf("sdkConfig error %v, want one line with %q", err, tc.problem)
			}
			// Whatever the problem, the clients can be built, so that jobs end.
			o := optionsOf(t, c, endpoint)
			if tc.check != nil {
				tc.check(t, o)
			}
		})
	}
}
