// Command validator is the pipeline's validator Lambda (the bootstrap binary
// on provided.al2023). In "gate" mode it decides, before Deploy, whether the
// pushed image may be deployed (it exists, its scan finished, no finding at or
// above SCAN_FAIL_SEVERITY); in "verify" mode it checks, after Deploy, that the
// ECS service really runs it. Every outcome is appended to the state table,
// every failure is announced on the topic, and every job is ended.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	lambda.Start(newHandlerFromEnvironment(os.Getenv, log).Handle)
}

// newHandlerFromEnvironment reads the function's environment and builds the
// SDK clients, once per container. Nothing here stops the container: a bad
// environment fails every job with the reason, which is where people look.
func newHandlerFromEnvironment(getenv func(string) string, log *slog.Logger) *Handler {
	cfg, cfgErr := LoadConfig(getenv)
	if cfgErr != nil {
		log.Error("configuration", "error", cfgErr.Error())
	}
	awsCfg, endpoint, err := sdkConfig(getenv, cfg.Region)
	if err != nil {
		// Jobs must still end: the clients have what Lambda gives every
		// function (region, credentials), and every job fails with the
		// reason.
		log.Error("aws configuration", "error", err.Error())
		problem := err.Error() + "; jobs fail until the function's environment is fixed"
		if cfgErr != nil {
			cfgErr = fmt.Errorf("%w; %s", cfgErr, problem)
		} else {
			cfgErr = fmt.Errorf("%w: %s", ErrConfig, problem)
		}
	}
	if ignored := ignoredSDKSettings(getenv); len(ignored) > 0 {
		log.Warn("aws configuration", "ignored", ignored,
			"reason", "the validator reads only the SDK settings its README lists")
	}
	return NewHandler(cfg, cfgErr, newDeps(awsCfg, endpoint), log, time.Now)
}

// newDeps builds the SDK clients, the adapters of the ports. endpoint, when
// set, gives a service's endpoint override (AWS_ENDPOINT_URL_<SERVICE>).
func newDeps(awsCfg aws.Config, endpoint func(service string) string) Deps {
	base := func(service string) *string {
		if endpoint == nil {
			return nil
		}
		if u := endpoint(service); u != "" {
			return aws.String(u)
		}
		return awsCfg.BaseEndpoint
	}
	ecrc := ecr.NewFromConfig(awsCfg, func(o *ecr.Options) {
		if u := base("ECR"); u != nil {
			o.BaseEndpoint = u
		}
	})
	ecsc := ecs.NewFromConfig(awsCfg, func(o *ecs.Options) {
		if u := base("ECS"); u != nil {
			o.BaseEndpoint = u
		}
	})
	ddb := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if u := base("DYNAMODB"); u != nil {
			o.BaseEndpoint = u
		}
	})
	topics := sns.NewFromConfig(awsCfg, func(o *sns.Options) {
		if u := base("SNS"); u != nil {
			o.BaseEndpoint = u
		}
	})
	cp := codepipeline.NewFromConfig(awsCfg, func(o *codepipeline.Options) {
		if u := base("CODEPIPELINE"); u != nil {
			o.BaseEndpoint = u
		}
	})
	roles := sts.NewFromConfig(awsCfg, func(o *sts.Options) {
		if u := base("STS"); u != nil {
			o.BaseEndpoint = u
		}
	})
	// ECS in a target's region, with its role's credentials: called once
	// per region and role, the handler keeps the clients.
	ecsFor := func(region string, creds aws.CredentialsProvider) (serviceDescriber, taskDefinitionDescriber) {
		c := ecs.NewFromConfig(awsCfg, func(o *ecs.Options) {
			if u := base("ECS"); u != nil {
				o.BaseEndpoint = u
			}
			if region != "" {
				o.Region = region
			}
			if creds != nil {
				o.Credentials = creds
			}
		})
		return c, c
	}
	return Deps{
		Images:    ecrc,
		Findings:  ecrc,
		Manifests: ecrc,
		Tags:      ecrc,
		Services:  ecsc,
		TaskDefs:  ecsc,
		Put:       ddb,
		Get:       ddb,
		Query:     ddb,
		Topics:    topics,
		Details:   cp,
		Succeed:   cp,
		Fail:      cp,
		Roles:     roles,
		ECSFor:    ecsFor,
	}
}
