// Package parameters publishes the stack's non-secret coordinates in SSM
// Parameter Store, so other tools find the repository, table, topic and
// pipeline without reading CloudFormation outputs.
package parameters

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Parameter is one published value.
type Parameter struct {
	// ID is the construct ID, stable across releases.
	ID string
	// Name is appended to the prefix, e.g. "ecr-repository-uri".
	Name        string
	Value       *string
	Description string
}

// Props configures the parameters.
type Props struct {
	// Prefix of every parameter name, e.g. /cicd-pipeline/dev.
	Prefix     string
	Parameters []Parameter
}

// Parameters are the published String parameters, in the order given.
type Parameters struct {
	constructs.Construct
	Parameters []awsssm.StringParameter
}

// New creates one String parameter per entry.
func New(scope constructs.Construct, id string, props Props) *Parameters {
	this := constructs.NewConstruct(scope, jsii.String(id))
	out := &Parameters{Construct: this}
	for _, p := range props.Parameters {
		out.Parameters = append(out.Parameters, awsssm.NewStringParameter(this, jsii.String(p.ID), &awsssm.StringParameterProps{
			ParameterName: jsii.String(props.Prefix + "/" + p.Name),
			StringValue:   p.Value,
			Description:   jsii.String(p.Description),
			Tier:          awsssm.ParameterTier_STANDARD,
		}))
	}
	return out
}
