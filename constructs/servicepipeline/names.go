package servicepipeline

// Names are the physical names of one pipeline's resources. Names of two
// pipelines never collide in one account and region, so many services
// deploy side by side.
type Names struct {
	// Stack is the stack's name, and the prefix of its export names.
	Stack string
	// Pipeline is the CodePipeline name.
	Pipeline string
	// Repository is the ECR repository's name.
	Repository string
	// Project is the CodeBuild project's name.
	Project string
	// Table is the state table's name.
	Table string
	// Topic is the notification topic's name.
	Topic string
	// Validator is the validator function's name.
	Validator string
	// KeyAlias is the KMS key's alias, with the alias/ prefix.
	KeyAlias string
	// ParameterPrefix is the SSM path of the published coordinates.
	ParameterPrefix string
	// PipelineRole and ValidatorRole name the pipeline's and the validator's
	// IAM roles, which the roles in other accounts trust by name.
	// Default: names CloudFormation generates.
	PipelineRole, ValidatorRole string
}

// SingleEnvironmentNames are the names of the single-environment stack:
// everything is named after the environment suffix. They are kept as they
// were, so an existing stack upgrades in place.
func SingleEnvironmentNames(suffix string) Names {
	base := "cicd-pipeline-" + suffix
	return Names{
		Stack:           base,
		Pipeline:        base,
		Repository:      base,
		Project:         base,
		Table:           "cicd-pipeline-state-" + suffix,
		Topic:           "cicd-pipeline-notifications-" + suffix,
		Validator:       "cicd-pipeline-validator-" + suffix,
		KeyAlias:        "alias/" + base,
		ParameterPrefix: "/cicd-pipeline/" + suffix,
	}
}

// ServiceNames are the names of a service's pipeline: everything is named
// cicd-{service}. Service names pipeline and pipeline-* would collide with
// the single-environment stacks, so the configuration refuses them.
func ServiceNames(service string) Names {
	base := "cicd-" + service
	return Names{
		Stack:           base,
		Pipeline:        base,
		Repository:      base,
		Project:         base,
		Table:           base + "-history",
		Topic:           base + "-notifications",
		Validator:       base + "-validator",
		KeyAlias:        "alias/" + base,
		ParameterPrefix: "/cicd/" + service,
		PipelineRole:    base + "-pipeline",
		ValidatorRole:   base + "-validator",
	}
}

// ReplicaKeyAlias is the alias of the key of the pipeline's artifact store
// in each other region.
func (n Names) ReplicaKeyAlias() string { return n.KeyAlias + "-artifacts" }

// BuildLogGroup is the build's log group, CodeBuild's default for the
// project.
func (n Names) BuildLogGroup() string { return "/aws/codebuild/" + n.Project }

// ValidatorLogGroup is the validator's log group, Lambda's default for the
// function.
func (n Names) ValidatorLogGroup() string { return "/aws/lambda/" + n.Validator }
