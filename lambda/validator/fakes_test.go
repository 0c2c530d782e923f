package main

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
)

// Hand-written fakes, one per port, recording what they were asked. Like
// the SDK, each answers a context that is already done with its error; with
// hang set, a fake blocks until its context is done (a service that does not
// answer).

// enter is what every fake does first.
func enter(ctx context.Context, hang bool) error {
	if hang {
		<-ctx.Done()
	}
	return ctx.Err()
}

type fakeImages struct {
	out   *ecr.DescribeImagesOutput
	err   error
	panic bool
	hang  bool
	calls []*ecr.DescribeImagesInput
}

func (f *fakeImages) DescribeImages(ctx context.Context, in *ecr.DescribeImagesInput, _ ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error) {
	f.calls = append(f.calls, in)
	if f.panic {
		panic("fake DescribeImages exploded")
	}
	if err := enter(ctx, f.hang); err != nil {
		return nil, err
	}
	if f.err != nil {
		return nil, f.err
	}
	if f.out == nil {
		return &ecr.DescribeImagesOutput{}, nil
	}
	return f.out, nil
}

type fakeFindings struct {
	out *ecr.DescribeImageScanFindingsOutput
	// pages, when set, answer by the request's nextToken ("" is the first
	// page); a token with no page is an InvalidParameterException, as ECR
	// answers a token it did not issue.
	pages map[string]*ecr.DescribeImageScanFindingsOutput
	err   error
	hang  bool
	calls []*ecr.DescribeImageScanFindingsInput
}

func (f *fakeFindings) DescribeImageScanFindings(ctx context.Context, in *ecr.DescribeImageScanFindingsInput, _ ...func(*ecr.Options)) (*ecr.DescribeImageScanFindingsOutput, error) {
	f.calls = append(f.calls, in)
	if err := enter(ctx, f.hang); err != nil {
		return nil, err
	}
	if f.err != nil {
		return nil, f.err
	}
	if f.pages != nil {
		page, ok := f.pages[aws.ToString(in.NextToken)]
		if !ok {
			return nil, &ecrtypes.InvalidParameterException{Message: aws.String("invalid nextToken")}
		}
		return page, nil
	}
	if f.out == nil {
		return &ecr.DescribeImageScanFindingsOutput{}, nil
	}
	return f.out, nil
}

// testManifest is the image's manifest as ECR stores it.
const testManifest = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}`

// fakeManifests is BatchGetImage: the test image's manifest, by digest.
type fakeManifests struct {
	out   *ecr.BatchGetImageOutput // nil: the manifest of testDigest
	err   error
	hang  bool
	calls []*ecr.BatchGetImageInput
}

func (f *fakeManifests) BatchGetImage(ctx context.Context, in *ecr.BatchGetImageInput, _ ...func(*ecr.Options)) (*ecr.BatchGetImageOutput, error) {
	f.calls = append(f.calls, in)
	if err := enter(ctx, f.hang); err != nil {
		return nil, err
	}
	if f.err != nil {
		return nil, f.err
	}
	if f.out != nil {
		return f.out, nil
	}
	return &ecr.BatchGetImageOutput{Images: []ecrtypes.Image{{
		ImageId:                &ecrtypes.ImageIdentifier{ImageDigest: in.ImageIds[0].ImageDigest},
		ImageManifest:          aws.String(testManifest),
		ImageManifestMediaType: aws.String("application/vnd.oci.image.manifest.v1+json"),
	}}}, nil
}

// fakeTags is PutImage.
type fakeTags struct {
	err   error
	calls []*ecr.PutImageInput
}

func (f *fakeTags) PutImage(ctx context.Context, in *ecr.PutImageInput, _ ...func(*ecr.Options)) (*ecr.PutImageOutput, error) {
	f.calls = append(f.calls, in)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.err != nil {
		return nil, f.err
	}
	return &ecr.PutImageOutput{Image: &ecrtypes.Image{ImageId: &ecrtypes.ImageIdentifier{ImageDigest: in.ImageDigest, ImageTag: in.ImageTag}}}, nil
}

type fakeServices struct {
	out   *ecs.DescribeServicesOutput
	err   error
	hang  bool
	calls []*ecs.DescribeServicesInput
}

func (f *fakeServices) DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, _ ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	f.calls = append(f.calls, in)
	if err := enter(ctx, f.hang); err != nil {
		return nil, err
	}
	if f.err != nil {
		return nil, f.err
	}
	if f.out == nil {
		return &ecs.DescribeServicesOutput{}, nil
	}
	return f.out, nil
}

type fakeTaskDefs struct {
	defs  map[string]*ecstypes.TaskDefinition // by ARN
	err   error
	hang  bool
	calls []*ecs.DescribeTaskDefinitionInput
}

func (f *fakeTaskDefs) DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error) {
	f.calls = append(f.calls, in)
	if err := enter(ctx, f.hang); err != nil {
		return nil, err
	}
	if f.err != nil {
		return nil, f.err
	}
	td, ok := f.defs[aws.ToString(in.TaskDefinition)]
	if !ok {
		return nil, &ecstypes.ClientException{Message: aws.String("Unable to describe task definition.")}
	}
	return &ecs.DescribeTaskDefinitionOutput{TaskDefinition: td}, nil
}

// fakeTable is a table with the state table's key schema and the conditional
// put's semantics.
type fakeTable struct {
	items map[string]map[string]ddbtypes.AttributeValue
	// putErr fails every put with it.
	putErr error
	// resendFirst stores the first put and then fails it with the condition
	// error, as an SDK retry of a put that had in fact succeeded would.
	resendFirst bool
	// noAllOld leaves the item out of condition errors (a server without
	// ReturnValuesOnConditionCheckFailure), forcing the GetItem fallback.
	noAllOld bool
	getErr   error
	// hideFromGet makes GetItem find nothing.
	hideFromGet bool
	// panicOnPut panics inside PutItem, after storing the item.
	panicOnPut bool
	// hang blocks PutItem, getHang GetItem.
	hang, getHang bool
	puts, gets    int
}

func itemKey(item map[string]ddbtypes.AttributeValue) string {
	return attrS(item, "deploymentId") + "|" + attrN(item, "timestamp")
}

func (f *fakeTable) PutItem(ctx context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.puts++
	if err := enter(ctx, f.hang); err != nil {
		return nil, err
	}
	if f.putErr != nil {
		return nil, f.putErr
	}
	if f.items == nil {
		f.items = map[string]map[string]ddbtypes.AttributeValue{}
	}
	if aws.ToString(in.ConditionExpression) == "" {
		return nil, fmt.Errorf("fake table: unconditional put would overwrite")
	}
	k := itemKey(in.Item)
	if existing, ok := f.items[k]; ok {
		return nil, f.conditionFailed(existing, in)
	}
	f.items[k] = in.Item
	if f.panicOnPut {
		panic("fake PutItem exploded")
	}
	if f.resendFirst && f.puts == 1 {
		return nil, f.conditionFailed(in.Item, in)
	}
	return &dynamodb.PutItemOutput{}, nil
}

func (f *fakeTable) conditionFailed(existing map[string]ddbtypes.AttributeValue, in *dynamodb.PutItemInput) error {
	e := &ddbtypes.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
	if !f.noAllOld && in.ReturnValuesOnConditionCheckFailure == ddbtypes.ReturnValuesOnConditionCheckFailureAllOld {
		e.Item = existing
	}
	return e
}

func (f *fakeTable) GetItem(ctx context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.gets++
	if err := enter(ctx, f.getHang); err != nil {
		return nil, err
	}
	if f.getErr != nil {
		return nil, f.getErr
	}
	if !aws.ToBool(in.ConsistentRead) {
		return nil, fmt.Errorf("fake table: read back must be consistent")
	}
	if f.hideFromGet {
		return &dynamodb.GetItemOutput{}, nil
	}
	return &dynamodb.GetItemOutput{Item: f.items[itemKey(in.Key)]}, nil
}

// records returns the items in key order.
func (f *fakeTable) records() []map[string]ddbtypes.AttributeValue {
	keys := make([]string, 0, len(f.items))
	for k := range f.items {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]map[string]ddbtypes.AttributeValue, 0, len(keys))
	for _, k := range keys {
		out = append(out, f.items[k])
	}
	return out
}

type fakeTopic struct {
	err   error
	panic bool
	hang  bool
	msgs  []*sns.PublishInput
}

func (f *fakeTopic) Publish(ctx context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	f.msgs = append(f.msgs, in)
	if f.panic {
		panic("fake Publish exploded")
	}
	if err := enter(ctx, f.hang); err != nil {
		return nil, err
	}
	if f.err != nil {
		return nil, f.err
	}
	return &sns.PublishOutput{MessageId: aws.String("msg-1")}, nil
}

// fakePipeline is CodePipeline: the jobs it knows (GetJobDetails) and the
// results it is sent.
type fakePipeline struct {
	jobs                   map[string]*cptypes.JobDetails
	detailsErr             error
	hangDetails            bool
	detailCalls            []string
	successErr, failureErr error
	// panicAfterResult panics once a job result has been accepted.
	panicAfterResult bool
	successes        []*codepipeline.PutJobSuccessResultInput
	failures         []*codepipeline.PutJobFailureResultInput
	// resultErrs holds the context error each result call saw on arrival.
	resultErrs []error
}

func (f *fakePipeline) GetJobDetails(ctx context.Context, in *codepipeline.GetJobDetailsInput, _ ...func(*codepipeline.Options)) (*codepipeline.GetJobDetailsOutput, error) {
	f.detailCalls = append(f.detailCalls, aws.ToString(in.JobId))
	if err := enter(ctx, f.hangDetails); err != nil {
		return nil, err
	}
	if f.detailsErr != nil {
		return nil, f.detailsErr
	}
	job, ok := f.jobs[aws.ToString(in.JobId)]
	if !ok {
		return nil, &cptypes.JobNotFoundException{Message: aws.String("The job was not found")}
	}
	return &codepipeline.GetJobDetailsOutput{JobDetails: job}, nil
}

func (f *fakePipeline) PutJobSuccessResult(ctx context.Context, in *codepipeline.PutJobSuccessResultInput, _ ...func(*codepipeline.Options)) (*codepipeline.PutJobSuccessResultOutput, error) {
	f.successes = append(f.successes, in)
	f.resultErrs = append(f.resultErrs, ctx.Err())
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.successErr != nil {
		return nil, f.successErr
	}
	if f.panicAfterResult {
		panic("fake PutJobSuccessResult exploded after the result")
	}
	return &codepipeline.PutJobSuccessResultOutput{}, nil
}

func (f *fakePipeline) PutJobFailureResult(ctx context.Context, in *codepipeline.PutJobFailureResultInput, _ ...func(*codepipeline.Options)) (*codepipeline.PutJobFailureResultOutput, error) {
	f.failures = append(f.failures, in)
	f.resultErrs = append(f.resultErrs, ctx.Err())
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.failureErr != nil {
		return nil, f.failureErr
	}
	if f.panicAfterResult {
		panic("fake PutJobFailureResult exploded after the result")
	}
	return &codepipeline.PutJobFailureResultOutput{}, nil
}

// addJob registers a job as CodePipeline holds it: an invoke action of the
// validator function in the test pipeline.
func (f *fakePipeline) addJob(jobID, userParameters, continuationToken string) *cptypes.JobDetails {
	if f.jobs == nil {
		f.jobs = map[string]*cptypes.JobDetails{}
	}
	job := &cptypes.JobDetails{
		Id:        aws.String(jobID),
		AccountId: aws.String("123456789012"),
		Data: &cptypes.JobData{
			ActionTypeId: &cptypes.ActionTypeId{Category: cptypes.ActionCategoryInvoke, Owner: cptypes.ActionOwnerAws,
				Provider: aws.String("Lambda"), Version: aws.String("1")},
			ActionConfiguration: &cptypes.ActionConfiguration{Configuration: map[string]string{
				"FunctionName": testFunction, "UserParameters": userParameters}},
			PipelineContext: &cptypes.PipelineContext{
				PipelineName: aws.String(testPipeline),
				Stage:        &cptypes.StageContext{Name: aws.String("Validate")},
				Action:       &cptypes.ActionContext{Name: aws.String("ScanGate")},
			},
			ArtifactCredentials: &cptypes.AWSSessionCredentials{
				AccessKeyId: aws.String("AKIAEXAMPLEKEYID"), SecretAccessKey: aws.String(testSecret), SessionToken: aws.String(testToken)},
		},
	}
	if continuationToken != "" {
		job.Data.ContinuationToken = aws.String(continuationToken)
	}
	f.jobs[jobID] = job
	return job
}

// fakeRoles is STS: AssumeRole answers credentials whose key names the
// role's account.
type fakeRoles struct {
	err   error
	hang  bool
	calls []*sts.AssumeRoleInput
}

func (f *fakeRoles) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	f.calls = append(f.calls, in)
	if err := enter(ctx, f.hang); err != nil {
		return nil, err
	}
	if f.err != nil {
		return nil, f.err
	}
	m := validRoleARN.FindStringSubmatch(aws.ToString(in.RoleArn))
	if m == nil {
		return nil, fmt.Errorf("fake sts: bad role ARN %q", aws.ToString(in.RoleArn))
	}
	return &sts.AssumeRoleOutput{Credentials: &ststypes.Credentials{
		AccessKeyId: aws.String("ASIA" + m[1]), SecretAccessKey: aws.String("s"), SessionToken: aws.String("t"),
		Expiration: aws.Time(time.Now().Add(time.Hour)),
	}}, nil
}

// fakeQuery answers the environment index's queries with items, newest
// first, or err.
type fakeQuery struct {
	items []map[string]ddbtypes.AttributeValue
	err   error
	calls []*dynamodb.QueryInput
}

func (f *fakeQuery) Query(ctx context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	f.calls = append(f.calls, in)
	if err := enter(ctx, false); err != nil {
		return nil, err
	}
	if f.err != nil {
		return nil, f.err
	}
	return &dynamodb.QueryOutput{Items: f.items}, nil
}
