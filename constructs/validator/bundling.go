package validator

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"cicd/internal/gobundle"
)

// dockerImage is the fallback bundling image, used only where Go is absent.
const dockerImage = "public.ecr.aws/docker/library/golang:1.26"

// bundleCacheName is the folder of the user's cache (in cicd's) where the
// built bootstrap binaries are kept.
const bundleCacheName = "validator-bootstrap"

// goBundler builds the Lambda with the local Go toolchain (internal/gobundle),
// or copies the same binary from the bundle cache. It implements
// awscdk.ILocalBundling and must be passed as a pointer. The bundler is an
// unexported field: jsii hands a Go object's exported fields to aws-cdk-lib
// with it, and CDK hashes the bundling options into the asset hash, where
// the checkout's folder (ModuleDir) would make two clones differ.
type goBundler struct {
	bundler gobundle.Bundler
}

// TryBundle answers false only when Go is not installed, so CDK falls back
// to Docker; a compile error is printed and leaves the output empty, which
// fails synthesis with CDK's own message.
func (b *goBundler) TryBundle(outputDir *string, _ *awscdk.BundlingOptions) *bool {
	return jsii.Bool(b.bundler.Bundle(*outputDir))
}

// bundlingOptions bundles with b, locally, or with Go's Docker image where
// Go is not installed.
func bundlingOptions(b gobundle.Bundler) *awscdk.BundlingOptions {
	env := map[string]*string{}
	for k, v := range gobundle.Env() {
		env[k] = jsii.String(v)
	}
	// The container runs as the host user, which has no writable home.
	env["GOCACHE"] = jsii.String("/tmp/go-cache")
	env["GOPATH"] = jsii.String("/tmp/go")
	return &awscdk.BundlingOptions{
		Image:       awscdk.DockerImage_FromRegistry(jsii.String(dockerImage)),
		Command:     jsii.Strings("bash", "-c", gobundle.Script(b.Pkg, "/asset-output/bootstrap")),
		Environment: &env,
		Local:       &goBundler{b},
	}
}
