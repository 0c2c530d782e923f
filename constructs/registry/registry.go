// Package registry provides the ECR repository that holds the service's
// images, one immutable tag per commit.
package registry

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecr"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"cicd/internal/delivery"
)

// Props configures the repository.
type Props struct {
	// RepositoryName is the ECR repository name.
	RepositoryName string
	// Key encrypts the images.
	Key awskms.IKey
	// KeepImages is how many images the lifecycle policy keeps.
	// Default: 10.
	KeepImages int
	// Environments are the pipeline's environments, in pipeline order. The
	// images the validator tagged as deployed to each (DeployedTagPrefix)
	// are kept apart from KeepImages: the last KeepDeployedImages per
	// environment never expire, whatever is pushed afterwards.
	// Default: none (only KeepImages).
	Environments []string
	// KeepDeployedImages is how many deployed images each environment keeps:
	// the one it runs and the one before it, for a rollback.
	// Default: 2.
	KeepDeployedImages int
}

// DeployedTagPrefix starts the tags the validator adds to the image it
// verified running in env (internal/delivery, which the validator takes it
// from). The dot ends the environment's name, which cannot hold one, so no
// environment's prefix is another's.
func DeployedTagPrefix(env string) string { return delivery.DeployedTagPrefix(env) }

// validEnvironment is an environment's name as it goes into a tag.
var validEnvironment = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$`)

// Registry is the image repository.
type Registry struct {
	constructs.Construct
	Repository awsecr.Repository
}

// New creates the repository: scan on push, immutable tags (images are tagged
// by commit, so a tag never moves), KMS encryption and a bounded history.
func New(scope constructs.Construct, id string, props Props) *Registry {
	keep := props.KeepImages
	if keep <= 0 {
		keep = 10
	}
	keepDeployed := props.KeepDeployedImages
	if keepDeployed <= 0 {
		keepDeployed = 2
	}
	rules := lifecycleRules(props.Environments, keep, keepDeployed)
	this := constructs.NewConstruct(scope, jsii.String(id))
	repo := awsecr.NewRepository(this, jsii.String("Repository"), &awsecr.RepositoryProps{
		RepositoryName:     jsii.String(props.RepositoryName),
		ImageScanOnPush:    jsii.Bool(true),
		ImageTagMutability: awsecr.TagMutability_IMMUTABLE,
		Encryption:         awsecr.RepositoryEncryption_KMS(),
		EncryptionKey:      props.Key,
		// Kept when the stack is deleted or the repository replaced; removed
		// when the first create rolls back, so its fixed name is free again.
		RemovalPolicy:  awscdk.RemovalPolicy_RETAIN_ON_UPDATE_OR_DELETE,
		LifecycleRules: &rules,
	})
	return &Registry{Construct: this, Repository: repo}
}

// GrantFindImages lets grantee find out whether an image is in repo, and
// read its tags and digest: ecr:DescribeImages. A build asks it before
// pushing, since a tag once pushed cannot be pushed again.
func GrantFindImages(repo awsecr.IRepository, grantee awsiam.IGrantable) awsiam.Grant {
	return repo.Grant(grantee, jsii.String("ecr:DescribeImages"))
}

// GrantReadScanResults lets grantee read what ECR's scan found in an image
// of repo: ecr:DescribeImages for the image's digest, push time and scan
// status, ecr:DescribeImageScanFindings for the findings themselves. It
// reads no image content.
func GrantReadScanResults(repo awsecr.IRepository, grantee awsiam.IGrantable) awsiam.Grant {
	return repo.Grant(grantee, jsii.String("ecr:DescribeImages"), jsii.String("ecr:DescribeImageScanFindings"))
}

// GrantProtectDeployed lets grantee keep a deployed image of repo from
// expiring: it reads the image's manifest (ecr:BatchGetImage) and puts the
// same manifest again with a tag of DeployedTagPrefix (ecr:PutImage), which
// the lifecycle rules keep; ecr:DescribeImages tells its own tag, put by a
// retried call, from another image's. Tags are immutable, so PutImage can
// add a tag but never move one. It pushes no layers.
func GrantProtectDeployed(repo awsecr.IRepository, grantee awsiam.IGrantable) awsiam.Grant {
	return repo.Grant(grantee, jsii.String("ecr:BatchGetImage"), jsii.String("ecr:PutImage"), jsii.String("ecr:DescribeImages"))
}

// lifecycleRules keeps the last keepDeployed images deployed to each
// environment, then the last keep images of any tag.
//
// ECR decides an image by the highest-priority rule whose tags it matches;
// no lower rule can expire it. An image is promoted, so the one prod runs
// also carries the older tags of dev and staging: were dev's rule first, it
// would expire prod's image as soon as dev had two newer ones. The last
// environment's rule therefore comes first, and the rule for any tag last
// (ECR requires it to be last).
func lifecycleRules(envs []string, keep, keepDeployed int) []*awsecr.LifecycleRule {
	seen := map[string]bool{}
	for _, env := range envs {
		if !validEnvironment.MatchString(env) {
			panic(fmt.Sprintf("registry: environment %q is not lowercase letters, digits and hyphens", env))
		}
		if seen[env] {
			panic(fmt.Sprintf("registry: environment %q is listed twice", env))
		}
		seen[env] = true
	}
	var rules []*awsecr.LifecycleRule
	for i := len(envs) - 1; i >= 0; i-- {
		rules = append(rules, &awsecr.LifecycleRule{
			RulePriority: jsii.Number(len(rules) + 1),
			Description: jsii.String(fmt.Sprintf("Keep the last %d images deployed to %s (the running one and those before it)",
				keepDeployed, envs[i])),
			TagStatus:     awsecr.TagStatus_TAGGED,
			TagPrefixList: jsii.Strings(DeployedTagPrefix(envs[i])),
			MaxImageCount: jsii.Number(keepDeployed),
		})
	}
	return append(rules, &awsecr.LifecycleRule{
		RulePriority:  jsii.Number(len(rules) + 1),
		Description:   jsii.String("Keep the last " + strconv.Itoa(keep) + " images"),
		MaxImageCount: jsii.Number(keep),
		TagStatus:     awsecr.TagStatus_ANY,
	})
}
