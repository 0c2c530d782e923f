package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"cicd/internal/delivery"
)

// deployedTag is the tag verify adds to the image it found running: unique
// per environment and millisecond, as tags are immutable.
func deployedTag(env string, at time.Time) string {
	return delivery.DeployedTagPrefix(env) + at.UTC().Format("20060102T150405.000Z")
}

// manifestTypes are the manifests BatchGetImage may return: Docker and OCI,
// single images and indexes.
var manifestTypes = []string{
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.oci.image.index.v1+json",
}

// Protector keeps a deployed image from expiring: it adds a deployed tag to
// the image's digest (the same manifest, put again with a new tag).
type Protector struct {
	Get        imageBatchGetter
	Put        imagePutter
	Images     imageDescriber // to recognise a tag an SDK retry already put
	Repository string
}

// Protect tags the image digest as deployed to env at, and returns the tag.
func (p *Protector) Protect(ctx context.Context, env, digest string, at time.Time) (string, error) {
	switch {
	case !validEnvironment.MatchString(env):
		return "", fmt.Errorf("environment %q cannot name an image tag", clip(env))
	case !validDigest.MatchString(digest):
		return "", errors.New("the image's digest is unknown")
	}
	tag := deployedTag(env, at)
	out, err := p.Get.BatchGetImage(ctx, &ecr.BatchGetImageInput{
		RepositoryName:     aws.String(p.Repository),
		ImageIds:           []ecrtypes.ImageIdentifier{{ImageDigest: aws.String(digest)}},
		AcceptedMediaTypes: manifestTypes,
	})
	if err != nil {
		return "", fmt.Errorf("read the manifest of %s@%s: %w", p.Repository, digest, err)
	}
	if len(out.Images) == 0 || aws.ToString(out.Images[0].ImageManifest) == "" {
		why := "no image"
		if len(out.Failures) > 0 {
			why = string(out.Failures[0].FailureCode) + ": " + aws.ToString(out.Failures[0].FailureReason)
		}
		return "", fmt.Errorf("read the manifest of %s@%s: %s", p.Repository, digest, why)
	}
	img := out.Images[0]
	_, err = p.Put.PutImage(ctx, &ecr.PutImageInput{
		RepositoryName:         aws.String(p.Repository),
		ImageManifest:          img.ImageManifest,
		ImageManifestMediaType: img.ImageManifestMediaType,
		ImageDigest:            aws.String(digest),
		ImageTag:               aws.String(tag),
	})
	var exists *ecrtypes.ImageAlreadyExistsException
	var tagExists *ecrtypes.ImageTagAlreadyExistsException
	if errors.As(err, &exists) || errors.As(err, &tagExists) {
		// The tag is taken: by this image (an SDK retry of a put that
		// succeeded), that is done; by another, it is not.
		d, derr := p.Images.DescribeImages(ctx, &ecr.DescribeImagesInput{
			RepositoryName: aws.String(p.Repository),
			ImageIds:       []ecrtypes.ImageIdentifier{{ImageTag: aws.String(tag)}},
		})
		switch {
		case derr != nil:
			return "", fmt.Errorf("tag %s exists, and reading it failed: %w", tag, derr)
		case len(d.ImageDetails) == 1 && aws.ToString(d.ImageDetails[0].ImageDigest) == digest:
			return tag, nil
		default:
			return "", fmt.Errorf("tag %s already names another image", tag)
		}
	}
	if err != nil {
		return "", fmt.Errorf("tag %s@%s as %s: %w", p.Repository, digest, tag, err)
	}
	return tag, nil
}
