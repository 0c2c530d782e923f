// Command validator is the pipeline's validator Lambda (the bootstrap binary
// on provided.al2023). In "gate" mode it decides, before Deploy, whether the
// pushed image may be deployed (it exists, its scan finished, no finding at or
// above SCAN_FAIL_SEVERITY); in "verify" mode it checks, after Deploy, that the
// ECS service really runs it. Every outcome is appended to the state table,
// every failure is announced on the topic, and every job is ended.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	// A bad environment does not stop the container: every job then fails
	// with the reason, which is where people look.
	cfg, cfgErr := LoadConfig(os.Getenv)
	if cfgErr != nil {
		log.Error("configuration", "error", cfgErr.Error())
	}

	// Clients are built once per container and reused. The default config
	// honours AWS_ENDPOINT_URL_* and uses the standard retryer, which retries
	// throttling with backoff.
	awsCfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("aws configuration", "error", err.Error())
		lambda.Start(func(context.Context, json.RawMessage) error {
			return fmt.Errorf("validator cannot load the AWS configuration: %w", err)
		})
		return
	}
	ecrc := ecr.NewFromConfig(awsCfg)
	ecsc := ecs.NewFromConfig(awsCfg)
	ddb := dynamodb.NewFromConfig(awsCfg)
	cp := codepipeline.NewFromConfig(awsCfg)

	h := NewHandler(cfg, cfgErr, Deps{
		Images:   ecrc,
		Findings: ecrc,
		Services: ecsc,
		TaskDefs: ecsc,
		Put:      ddb,
		Get:      ddb,
		Topics:   sns.NewFromConfig(awsCfg),
		Succeed:  cp,
		Fail:     cp,
	}, log, time.Now)
	lambda.Start(h.Handle)
}
