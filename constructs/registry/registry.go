// Package registry provides the ECR repository that holds the service's
// images, one immutable tag per commit.
package registry

import (
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecr"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
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
}

// Registry is the image repository.
type Registry struct {
	constructs.Construct
	Repository awsecr.Repository
}

// New creates the repository: scan on push, immutable tags (images are tagged
// by commit, so a tag never moves), KMS encryption and a bounded history.
func New(scope constructs.Construct, id string, props Props) *Registry {
	this := constructs.NewConstruct(scope, jsii.String(id))
	keep := props.KeepImages
	if keep <= 0 {
		keep = 10
	}
	repo := awsecr.NewRepository(this, jsii.String("Repository"), &awsecr.RepositoryProps{
		RepositoryName:     jsii.String(props.RepositoryName),
		ImageScanOnPush:    jsii.Bool(true),
		ImageTagMutability: awsecr.TagMutability_IMMUTABLE,
		Encryption:         awsecr.RepositoryEncryption_KMS(),
		EncryptionKey:      props.Key,
		// Kept when the stack is deleted or the repository replaced; removed
		// when the first create rolls back, so its fixed name is free again.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN_ON_UPDATE_OR_DELETE,
		LifecycleRules: &[]*awsecr.LifecycleRule{{
			Description:   jsii.String("Keep the last " + strconv.Itoa(keep) + " images"),
			MaxImageCount: jsii.Number(keep),
			TagStatus:     awsecr.TagStatus_ANY,
		}},
	})
	return &Registry{Construct: this, Repository: repo}
}
