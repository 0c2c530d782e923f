package main

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// The ports: one interface per AWS operation the validator calls, each with the
// SDK client's exact method signature so the SDK clients are the adapters.
// This file is also the validator's IAM contract: the stack's tests parse it and
// compare "<sdk package>:<method>" with the actions it grants, so keep one
// operation per interface and every input typed *<sdkpkg>.<Op>Input.

// imageDescriber is ecr:DescribeImages (gate: digest, push time, scan status;
// verify: the digest, best effort).
type imageDescriber interface {
	DescribeImages(ctx context.Context, in *ecr.DescribeImagesInput, optFns ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error)
}

// scanFindingsDescriber is ecr:DescribeImageScanFindings (gate: scan status and
// the finding counts per severity).
type scanFindingsDescriber interface {
	DescribeImageScanFindings(ctx context.Context, in *ecr.DescribeImageScanFindingsInput, optFns ...func(*ecr.Options)) (*ecr.DescribeImageScanFindingsOutput, error)
}

// imageBatchGetter is ecr:BatchGetImage (verify: the deployed image's
// manifest, to tag it).
type imageBatchGetter interface {
	BatchGetImage(ctx context.Context, in *ecr.BatchGetImageInput, optFns ...func(*ecr.Options)) (*ecr.BatchGetImageOutput, error)
}

// imagePutter is ecr:PutImage (verify: the same manifest with a deployed
// tag, which the lifecycle policy keeps).
type imagePutter interface {
	PutImage(ctx context.Context, in *ecr.PutImageInput, optFns ...func(*ecr.Options)) (*ecr.PutImageOutput, error)
}

// serviceDescriber is ecs:DescribeServices (verify: the primary deployment).
type serviceDescriber interface {
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, optFns ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
}

// taskDefinitionDescriber is ecs:DescribeTaskDefinition (verify: the image the
// primary deployment runs).
type taskDefinitionDescriber interface {
	DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
}

// roleAssumer is sts:AssumeRole (verify in another account: the target's
// role). It is also stscreds.AssumeRoleAPIClient.
type roleAssumer interface {
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

// itemPutter is dynamodb:PutItem (the append-only history).
type itemPutter interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// itemGetter is dynamodb:GetItem, used only when a failed conditional put did
// not return the item that holds the key.
type itemGetter interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// itemQuerier is dynamodb:Query, on the table's environment index only: the
// verdicts before a verify's, for the delivery metrics (failures in a row,
// time to restore).
type itemQuerier interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// publisher is sns:Publish (one message per rejection, failed deploy or error).
type publisher interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// jobDetailsGetter is codepipeline:GetJobDetails: the job's configuration
// as CodePipeline holds it, and the pipeline it belongs to.
type jobDetailsGetter interface {
	GetJobDetails(ctx context.Context, in *codepipeline.GetJobDetailsInput, optFns ...func(*codepipeline.Options)) (*codepipeline.GetJobDetailsOutput, error)
}

// jobSucceeder is codepipeline:PutJobSuccessResult (pass, or "call me again"
// with a continuation token).
type jobSucceeder interface {
	PutJobSuccessResult(ctx context.Context, in *codepipeline.PutJobSuccessResultInput, optFns ...func(*codepipeline.Options)) (*codepipeline.PutJobSuccessResultOutput, error)
}

// jobFailer is codepipeline:PutJobFailureResult.
type jobFailer interface {
	PutJobFailureResult(ctx context.Context, in *codepipeline.PutJobFailureResultInput, optFns ...func(*codepipeline.Options)) (*codepipeline.PutJobFailureResultOutput, error)
}

// The SDK clients are the adapters: these fail to compile if a port drifts from
// the SDK's signature.
var (
	_ imageDescriber          = (*ecr.Client)(nil)
	_ scanFindingsDescriber   = (*ecr.Client)(nil)
	_ imageBatchGetter        = (*ecr.Client)(nil)
	_ imagePutter             = (*ecr.Client)(nil)
	_ serviceDescriber        = (*ecs.Client)(nil)
	_ taskDefinitionDescriber = (*ecs.Client)(nil)
	_ itemPutter              = (*dynamodb.Client)(nil)
	_ itemGetter              = (*dynamodb.Client)(nil)
	_ itemQuerier             = (*dynamodb.Client)(nil)
	_ publisher               = (*sns.Client)(nil)
	_ jobDetailsGetter        = (*codepipeline.Client)(nil)
	_ roleAssumer             = (*sts.Client)(nil)
	_ jobSucceeder            = (*codepipeline.Client)(nil)
	_ jobFailer               = (*codepipeline.Client)(nil)
)
