// Package delivery is the contract of the pipeline's delivery record: the
// state table's items and its environment index, and the CloudWatch metrics
// the validator emits for every outcome through the embedded metric format
// (EMF). The validator writes both, the dashboard and its alarms read the
// metrics, and cmd/history reads the items; each of them takes the names
// from here. So do the validator's deployed tags and the repository's
// lifecycle rules that keep the images they mark (DeployedTagPrefix).
//
// It depends on the standard library and the DynamoDB attribute types only,
// so the validator Lambda links it at no cost.
package delivery

import "strings"

// Status is an outcome as the state table records it.
type Status string

const (
	StatusValidated    Status = "VALIDATED"     // gate: the image may be deployed
	StatusRejected     Status = "REJECTED"      // gate: the image may not be deployed
	StatusDeployed     Status = "DEPLOYED"      // verify: the environment runs the image
	StatusDeployFailed Status = "DEPLOY_FAILED" // verify: the rollout failed or was rolled back
	StatusError        Status = "ERROR"         // either: the validator could not decide
)

// Mode is the pipeline action that recorded an outcome.
type Mode string

const (
	ModeGate   Mode = "gate"   // once per image, before the first environment
	ModeVerify Mode = "verify" // after each environment's deploy
)

// Attribute names of a state table item.
const (
	AttrDeploymentID = "deploymentId" // S, partition key: the pipeline execution id
	AttrTimestamp    = "timestamp"    // N, sort key: epoch milliseconds of the outcome
	AttrStatus       = "status"       // S, a Status
	AttrMode         = "mode"         // S, a Mode
	AttrImageTag     = "imageTag"     // S
	AttrImageDigest  = "imageDigest"  // S, sha256:...
	AttrFindings     = "findings"     // M of N: scan finding counts by severity
	AttrJobID        = "jobId"        // S, the CodePipeline job
	AttrReason       = "reason"       // S, why, in words
	AttrEnvironment  = "environment"  // S, the environment the outcome belongs to
	AttrPipeline     = "pipeline"     // S, the pipeline's service (flat mode: the suffix)
	AttrCommitTime   = "commitTime"   // N, epoch milliseconds of the commit, when known
	AttrAccount      = "account"      // S, the target's account, when not the function's
	AttrRegion       = "region"       // S, the target's region, when not the function's
)

// EnvironmentIndex is the state table's global secondary index that lists
// one environment's outcomes in time order: partition key AttrEnvironment
// (S), sort key AttrTimestamp (N), all attributes projected. Items without
// an environment (recorded before the attribute existed) are not in it.
const EnvironmentIndex = "environment-timestamp"

// Namespace is the CloudWatch namespace of the delivery metrics.
const Namespace = "cicd/Delivery"

// Dimension names. Every metric has Pipeline and Environment; gate
// rejections also have Reason.
const (
	DimPipeline    = "Pipeline"
	DimEnvironment = "Environment"
	DimReason      = "Reason"
)

// Metric names.
const (
	// MetricDeployments is 1 for every DEPLOYED verdict, 0 for every
	// DEPLOY_FAILED: its Sum is the number of successful deployments, its
	// SampleCount the number of attempts.
	MetricDeployments = "Deployments"
	// MetricFailedDeployments is 1 for every DEPLOY_FAILED verdict, 0 for
	// every DEPLOYED.
	MetricFailedDeployments = "FailedDeployments"
	// MetricConsecutiveFailedDeployments is, at every verify verdict, the
	// number of DEPLOY_FAILED verdicts in a row in the environment up to and
	// including it: 0 after a DEPLOYED.
	MetricConsecutiveFailedDeployments = "ConsecutiveFailedDeployments"
	// MetricLeadTime is the seconds from the commit to its DEPLOYED verdict.
	MetricLeadTime = "LeadTime"
	// MetricTimeToRestore is the seconds from the first DEPLOY_FAILED of a
	// run of failures to the DEPLOYED verdict that ends it.
	MetricTimeToRestore = "TimeToRestore"
	// MetricGateValidations is 1 for every VALIDATED gate verdict.
	MetricGateValidations = "GateValidations"
	// MetricGateRejections is 1 for every REJECTED gate verdict, with the
	// Reason dimension.
	MetricGateRejections = "GateRejections"
	// MetricValidatorErrors is 1 for every ERROR outcome.
	MetricValidatorErrors = "ValidatorErrors"
)

// Units of the metrics, as EMF and CloudWatch spell them.
const (
	UnitCount   = "Count"
	UnitSeconds = "Seconds"
)

// RejectionReason is the class of a gate rejection: a small fixed set, so
// the dashboard can show each and the metrics stay few.
type RejectionReason string

const (
	ReasonVulnerable     RejectionReason = "vulnerable"      // findings at or above the threshold
	ReasonScanFailed     RejectionReason = "scan-failed"     // the scan ended in FAILED
	ReasonScanTimeout    RejectionReason = "scan-timeout"    // the scan did not finish in the bounded wait
	ReasonImageMissing   RejectionReason = "image-missing"   // no image with the tag
	ReasonUnscanned      RejectionReason = "unscanned"       // the image cannot be or was not scanned
	ReasonDigestMismatch RejectionReason = "digest-mismatch" // the tag does not resolve to the built digest
	ReasonOther          RejectionReason = "other"           // none of the above
)

// RejectionReasons lists every class, in the order the dashboard shows them.
var RejectionReasons = []RejectionReason{
	ReasonVulnerable, ReasonScanFailed, ReasonScanTimeout, ReasonImageMissing,
	ReasonUnscanned, ReasonDigestMismatch, ReasonOther,
}

// rejectionPatterns maps the wording of the validator's rejections to their
// class, first match wins. The validator's verdict errors begin with these
// texts (its sentinel errors); a test checks every REJECTED sentinel of
// lambda/validator/outcome.go lands in a class other than ReasonOther.
var rejectionPatterns = []struct {
	class RejectionReason
	texts []string
}{
	{ReasonImageMissing, []string{"image not found"}},
	{ReasonDigestMismatch, []string{"digest mismatch", "does not resolve to", "digest does not match"}},
	// ECR reports UNSUPPORTED_IMAGE for an image it cannot scan: unscanned,
	// not a failed scan.
	{ReasonUnscanned, []string{"unscanned", "not scanned", "no scan", "unsupported_image"}},
	{ReasonScanTimeout, []string{"image scan did not finish in time"}},
	{ReasonScanFailed, []string{"image scan did not succeed", "could not read all findings of the image scan"}},
	{ReasonVulnerable, []string{"image has findings at or above the threshold"}},
}

// ClassifyRejection returns the class of a REJECTED outcome's reason.
func ClassifyRejection(reason string) RejectionReason {
	r := strings.ToLower(reason)
	for _, p := range rejectionPatterns {
		for _, t := range p.texts {
			if strings.Contains(r, t) {
				return p.class
			}
		}
	}
	return ReasonOther
}

// DeployedTagPrefix starts the tags the validator adds to the image it
// verified running in env; the repository's lifecycle policy keeps the last
// images with it (constructs/registry). The dot ends the environment's name,
// which cannot hold one: "deployed-dev." is not a prefix of
// "deployed-dev-eu.".
func DeployedTagPrefix(env string) string { return "deployed-" + env + "." }
