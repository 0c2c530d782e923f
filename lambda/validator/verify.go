package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// Verifier checks, after Deploy, that the service's primary deployment has
// completed and runs the pushed image: a deployment the circuit breaker rolled
// back completes too, but with the previous image.
type Verifier struct {
	Images        imageDescriber // optional: learns the digest so "@sha256:..." references match too
	Repository    string
	RepositoryURI string
	MaxWait       time.Duration
	Log           *slog.Logger
}

// placement is one service to verify and the ECS clients that reach it.
type placement struct {
	ecsPorts
	Cluster, Service, Container string
	Where                       string // names the service in messages
}

// Check verifies that the service at p runs tag (and digest, when the build
// gave it). waited is how long this job has already waited for the rollout;
// past MaxWait a rollout still in progress fails.
func (v *Verifier) Check(ctx context.Context, tag, digest string, p placement, waited time.Duration) (Result, error) {
	var res Result
	out, err := p.Services.DescribeServices(ctx, &ecs.DescribeServicesInput{
		Cluster:  aws.String(p.Cluster),
		Services: []string{p.Service},
	})
	if err != nil {
		return res, fmt.Errorf("describe %s: %w", p.Where, err)
	}
	if len(out.Services) == 0 {
		why := "not found"
		if len(out.Failures) > 0 {
			why = aws.ToString(out.Failures[0].Reason)
		}
		return res, fmt.Errorf("%s: %s", p.Where, why)
	}
	svc := out.Services[0]
	if s := aws.ToString(svc.Status); s != "" && s != "ACTIVE" {
		return res, fmt.Errorf("%s is %s", p.Where, s)
	}
	var primary *ecstypes.Deployment
	for i := range svc.Deployments {
		if aws.ToString(svc.Deployments[i].Status) == "PRIMARY" {
			primary = &svc.Deployments[i]
			break
		}
	}
	if primary == nil {
		return res, fmt.Errorf("%s has no PRIMARY deployment", p.Where)
	}

	state := primary.RolloutState
	if state == "" {
		// No rollout state (not the rolling-update controller): settled counts
		// and a single deployment are the closest equivalent.
		state = ecstypes.DeploymentRolloutStateInProgress
		if len(svc.Deployments) == 1 && primary.PendingCount == 0 && primary.RunningCount >= primary.DesiredCount {
			state = ecstypes.DeploymentRolloutStateCompleted
		}
	}
	depl := fmt.Sprintf("deployment %s %s", aws.ToString(primary.Id), state)
	if state != ecstypes.DeploymentRolloutStateCompleted && state != ecstypes.DeploymentRolloutStateFailed && waited < v.MaxWait {
		res.Pending = fmt.Sprintf("%s (%d of %d tasks running)", depl, primary.RunningCount, primary.DesiredCount)
		return res, nil
	}

	image, err := v.runningImage(ctx, p, aws.ToString(primary.TaskDefinition))
	if err != nil {
		return res, err
	}
	// The build's digest, when given, is what must run; otherwise the tag's,
	// looked up best effort.
	res.Digest = digest
	if res.Digest == "" {
		res.Digest = v.digest(ctx, tag)
	}
	expected := v.RepositoryURI + ":" + tag
	if digest != "" {
		expected = v.RepositoryURI + "@" + digest
	}
	match := runsImage(image, v.RepositoryURI, tag, res.Digest)
	running := fmt.Sprintf("container %s runs %s", p.Container, image)
	if image == "" {
		running = fmt.Sprintf("task definition %s has no container named %s", shortTaskDef(aws.ToString(primary.TaskDefinition)), p.Container)
	}

	switch {
	case state == ecstypes.DeploymentRolloutStateFailed:
		return res, fmt.Errorf("%w: %s: %s; its %s%s", ErrRolloutFailed, depl,
			aws.ToString(primary.RolloutStateReason), running, v.stillRunning(ctx, p, svc.Deployments, primary))
	case state != ecstypes.DeploymentRolloutStateCompleted:
		return res, fmt.Errorf("%w: %s after %s (limit %s); its %s%s", ErrRolloutTimeout, depl,
			waited.Round(time.Second), v.MaxWait, running, v.stillRunning(ctx, p, svc.Deployments, primary))
	case !match:
		return res, fmt.Errorf("%w: %s, expected %s (%s, task definition %s%s)", ErrImageMismatch,
			running, expected, depl, shortTaskDef(aws.ToString(primary.TaskDefinition)), failedDeployments(svc.Deployments))
	}
	res.Status = StatusDeployed
	res.Detail = fmt.Sprintf("%s, %s", depl, running)
	return res, nil
}

// runningImage returns the image of the configured container, "" if the task
// definition has no such container.
func (v *Verifier) runningImage(ctx context.Context, p placement, taskDef string) (string, error) {
	out, err := p.TaskDefs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(taskDef)})
	if err != nil {
		return "", fmt.Errorf("describe task definition %s: %w", taskDef, err)
	}
	if out.TaskDefinition == nil {
		return "", fmt.Errorf("describe task definition %s: empty answer", taskDef)
	}
	for _, c := range out.TaskDefinition.ContainerDefinitions {
		if aws.ToString(c.Name) == p.Container {
			return aws.ToString(c.Image), nil
		}
	}
	return "", nil
}

// digest looks the tag's digest up, best effort: the tag reference alone
// decides the common case, so a failure here only narrows what matches.
func (v *Verifier) digest(ctx context.Context, tag string) string {
	if v.Images == nil {
		return ""
	}
	out, err := v.Images.DescribeImages(ctx, &ecr.DescribeImagesInput{
		RepositoryName: aws.String(v.Repository),
		ImageIds:       []ecrtypes.ImageIdentifier{{ImageTag: aws.String(tag)}},
	})
	if err != nil || len(out.ImageDetails) == 0 {
		if v.Log != nil {
			v.Log.Warn("image digest unknown, matching by tag only", "imageTag", tag, "error", errString(err))
		}
		return ""
	}
	return aws.ToString(out.ImageDetails[0].ImageDigest)
}

// runsImage accepts the pushed image by tag, by digest, or by both.
func runsImage(image, uri, tag, digest string) bool {
	if image == uri+":"+tag {
		return true
	}
	return digest != "" && (image == uri+"@"+digest || image == uri+":"+tag+"@"+digest)
}

// stillRunning names the images that older deployments still run, so a failed
// or stuck rollout says what serves traffic instead. Best effort, at most three.
func (v *Verifier) stillRunning(ctx context.Context, p placement, ds []ecstypes.Deployment, primary *ecstypes.Deployment) string {
	var b strings.Builder
	n := 0
	for i := range ds {
		d := &ds[i]
		if d == primary || d.RunningCount == 0 || n == 3 {
			continue
		}
		n++
		image, err := v.runningImage(ctx, p, aws.ToString(d.TaskDefinition))
		switch {
		case err != nil:
			image = "an unknown image"
		case image == "":
			image = "no container named " + p.Container
		}
		fmt.Fprintf(&b, "; still running: %s (deployment %s %s, task definition %s, %d tasks)", image,
			aws.ToString(d.Id), aws.ToString(d.Status), shortTaskDef(aws.ToString(d.TaskDefinition)), d.RunningCount)
	}
	return b.String()
}

// failedDeployments names the deployments whose rollout failed: after a circuit
// breaker rollback they say why the new image is not running.
func failedDeployments(ds []ecstypes.Deployment) string {
	var b strings.Builder
	for _, d := range ds {
		if d.RolloutState == ecstypes.DeploymentRolloutStateFailed && aws.ToString(d.Status) != "PRIMARY" {
			fmt.Fprintf(&b, "; rolled back: deployment %s of %s FAILED: %s",
				aws.ToString(d.Id), shortTaskDef(aws.ToString(d.TaskDefinition)), aws.ToString(d.RolloutStateReason))
		}
	}
	return b.String()
}

// shortTaskDef turns a task definition ARN into family:revision.
func shortTaskDef(arn string) string {
	if i := strings.LastIndex(arn, "/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
