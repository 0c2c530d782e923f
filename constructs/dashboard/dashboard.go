// Package dashboard provides one pipeline's delivery dashboard: the four key
// delivery metrics (DORA) per environment from the validator's metrics, the
// gate's verdicts, the validator's errors and the pipeline's executions, and
// the alarms that tell the team when deployments keep failing or the
// validator cannot decide.
package dashboard

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscodepipeline"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/dashboard/body"
	"cicd/constructs/notifications"
	"cicd/internal/delivery"
	"cicd/internal/suppress"
)

// Defaults of the props.
const (
	DefaultConsecutiveFailedDeployments = 2
	DefaultValidatorErrors              = 1
	DefaultValidatorErrorPeriod         = 5 * time.Minute
	DefaultTimeRange                    = 28 * 24 * time.Hour
)

// MaxEnvironments is the most environments the validator-errors alarm can
// sum: a CloudWatch metric math alarm takes at most 10 metrics.
const MaxEnvironments = 10

// Props configures the dashboard and the alarms.
type Props struct {
	// Name names the dashboard and begins the alarms' names, e.g.
	// cicd-orders (letters, digits, - and _).
	Name string
	// Pipeline is the pipeline whose executions are counted.
	Pipeline awscodepipeline.IPipeline
	// Service is the pipeline's service: the Pipeline dimension of the
	// delivery metrics (flat mode: the environment suffix).
	Service string
	// Environments are the pipeline's environments in promotion order; the
	// gate's verdicts are recorded for the first.
	Environments []string
	// Topic receives the alarms' notifications.
	Topic awssns.ITopic
	// Key, when the topic is encrypted with it, is opened to CloudWatch for
	// the alarms' notifications.
	// Default: none (the topic is not encrypted with a customer managed key).
	Key awskms.IKey
	// ConsecutiveFailedDeployments is how many DEPLOY_FAILED verdicts in a
	// row in one environment raise that environment's alarm.
	// Default: 2.
	ConsecutiveFailedDeployments int
	// ValidatorErrors is how many validator errors, in all environments,
	// within ValidatorErrorPeriod raise the validator alarm.
	// Default: 1.
	ValidatorErrors int
	// ValidatorErrorPeriod is the window of ValidatorErrors, whole minutes.
	// Default: 5 minutes.
	ValidatorErrorPeriod time.Duration
	// TimeRange is the span the dashboard opens with, whole days.
	// Default: 28 days.
	TimeRange time.Duration
}

// Dashboard is the pipeline's delivery dashboard and its alarms.
type Dashboard struct {
	constructs.Construct
	Dashboard awscloudwatch.CfnDashboard
	// FailedDeployments has one alarm per environment, in Environments'
	// order.
	FailedDeployments []awscloudwatch.Alarm
	// ValidatorErrors is the alarm on the validator's errors.
	ValidatorErrors awscloudwatch.Alarm
	name            string
}

// executionOutcomes are the pipeline execution states the dashboard counts,
// one EventBridge rule each.
var executionOutcomes = []struct {
	id, label string
	states    []string
}{
	{"ExecutionsSucceeded", "Succeeded", []string{"SUCCEEDED"}},
	{"ExecutionsFailed", "Failed", []string{"FAILED"}},
	{"ExecutionsStopped", "Stopped, superseded or cancelled", []string{"STOPPED", "SUPERSEDED", "CANCELED"}},
}

// New creates the dashboard, the three EventBridge rules whose match counts
// are the pipeline's execution outcomes, one alarm per environment on
// consecutive failed deployments and one on validator errors, all
// published to the topic. Bad props panic with one line.
func New(scope constructs.Construct, id string, props Props) *Dashboard {
	p := withDefaults(props)
	if err := p.validate(); err != nil {
		panic(fmt.Sprintf("dashboard %s: %v", id, err))
	}
	this := constructs.NewConstruct(scope, jsii.String(id))
	d := &Dashboard{Construct: this, name: p.Name}
	m := metrics{service: p.Service, periods: map[time.Duration]awscdk.Duration{}}

	// Alarms first: the dashboard shows them.
	action := awscloudwatchactions.NewSnsAction(p.Topic)
	for _, env := range p.Environments {
		alarm := awscloudwatch.NewAlarm(this, jsii.String("FailedDeployments"+pascal(env)), &awscloudwatch.AlarmProps{
			AlarmName: jsii.String(fmt.Sprintf("%s-%s-failed-deployments", p.Name, env)),
			AlarmDescription: jsii.String(fmt.Sprintf(
				"%d or more deployments in a row failed in %s (%s): each was a DEPLOY_FAILED verdict, a rollout that failed, "+
					"timed out or was rolled back, so %s still runs an older image. The alarm clears at the next DEPLOYED in %s. "+
					"See the ECS service's events and stopped tasks, and the failed executions of the pipeline; "+
					"go run ./cmd/history -service %s -env %s lists them.",
				p.ConsecutiveFailedDeployments, env, p.Service, env, env, p.Service, env)),
			// No label: the alarm then names the metric itself, as the console shows it.
			Metric:             m.metric(delivery.MetricConsecutiveFailedDeployments, env, "Maximum", 5*time.Minute, ""),
			Threshold:          jsii.Number(float64(p.ConsecutiveFailedDeployments)),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			EvaluationPeriods:  jsii.Number(1),
			// The figure comes only with verdicts: between them the
			// environment's state is the last verdict's, so keep it.
			TreatMissingData: awscloudwatch.TreatMissingData_IGNORE,
		})
		alarm.AddAlarmAction(action)
		alarm.AddOkAction(action) // "deployed again" is news too
		d.FailedDeployments = append(d.FailedDeployments, alarm)
	}
	errs := make([]string, len(p.Environments))
	using := map[string]awscloudwatch.IMetric{}
	for i, env := range p.Environments {
		errs[i] = fmt.Sprintf("e%d", i)
		using[errs[i]] = m.metric(delivery.MetricValidatorErrors, env, "Sum", p.ValidatorErrorPeriod, env)
	}
	d.ValidatorErrors = awscloudwatch.NewAlarm(this, jsii.String("ValidatorErrors"), &awscloudwatch.AlarmProps{
		AlarmName: jsii.String(p.Name + "-validator-errors"),
		AlarmDescription: jsii.String(fmt.Sprintf(
			"The validator of %s reported %d or more errors within %s: it could not decide (AWS permissions or throttling, "+
				"its configuration, an unreadable job), so the pipeline stopped to be safe. Read the reason in the topic's "+
				"message or in the validator's log group, fix the cause, then retry the stage.",
			p.Service, p.ValidatorErrors, minutes(p.ValidatorErrorPeriod))),
		Metric: awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression:   jsii.String("SUM([" + strings.Join(errs, ",") + "])"),
			UsingMetrics: &using,
			Label:        jsii.String("validator errors, all environments"),
			Period:       m.period(p.ValidatorErrorPeriod),
		}),
		Threshold:          jsii.Number(float64(p.ValidatorErrors)),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING, // no errors reported: none happened
	})
	d.ValidatorErrors.AddAlarmAction(action)
	d.allowAlarmsToPublish(p)

	var executions []body.Execution
	for _, o := range executionOutcomes {
		// No target: the dashboard reads the rule's own MatchedEvents metric.
		rule := awsevents.NewRule(this, jsii.String(o.id), &awsevents.RuleProps{
			Description: jsii.String(fmt.Sprintf("Counts executions of the pipeline that ended %s, for its dashboard",
				strings.ToLower(o.label))),
			EventPattern: &awsevents.EventPattern{
				Source:     jsii.Strings("aws.codepipeline"),
				DetailType: jsii.Strings("CodePipeline Pipeline Execution State Change"),
				Resources:  &[]*string{p.Pipeline.PipelineArn()},
				Detail:     &map[string]any{"state": o.states},
			},
		})
		executions = append(executions, body.Execution{RuleName: *rule.RuleName(), Label: o.label})
	}

	alarms := make([]string, len(d.FailedDeployments))
	for i, a := range d.FailedDeployments {
		alarms[i] = *a.AlarmArn()
	}
	// The CloudFormation resource at the path (and so with the logical ID)
	// that CDK's Dashboard construct gave it.
	d.Dashboard = awscloudwatch.NewCfnDashboard(constructs.NewConstruct(this, jsii.String("Resource")), jsii.String("Resource"),
		&awscloudwatch.CfnDashboardProps{
			DashboardName: jsii.String(p.Name),
			DashboardBody: jsii.String(body.JSON(body.Props{
				Service:                      p.Service,
				Environments:                 p.Environments,
				Region:                       *awscdk.Aws_REGION(),
				FailedDeploymentAlarms:       alarms,
				ValidatorErrorsAlarm:         *d.ValidatorErrors.AlarmArn(),
				ConsecutiveFailedDeployments: p.ConsecutiveFailedDeployments,
				Executions:                   executions,
				TimeRange:                    p.TimeRange,
			})),
		})
	// CloudFormation takes Tags on a dashboard (CDK's resource has them, so
	// the stack's tags reach it); cfn-lint's schema does not know them yet.
	suppress.Lint(d.Dashboard, "E3002")
	return d
}

// URL is the dashboard in the CloudWatch console, for a stack output.
func (d *Dashboard) URL() *string {
	return jsii.String(fmt.Sprintf("https://console.aws.amazon.com/cloudwatch/home?region=%s#dashboards:name=%s",
		*awscdk.Stack_Of(d.Construct).Region(), d.name))
}

// Alarms are the construct's alarms: the failed-deployment alarms in
// environment order, then the validator-errors alarm.
func (d *Dashboard) Alarms() []awscloudwatch.Alarm {
	return append(append([]awscloudwatch.Alarm(nil), d.FailedDeployments...), d.ValidatorErrors)
}

// AlarmArns matches the ARNs of this construct's alarms (by their names'
// prefix): the sources from which CloudWatch publishes to the topic.
func (d *Dashboard) AlarmArns() *string {
	return awscdk.Stack_Of(d.Construct).FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("cloudwatch"),
		Resource:     jsii.String("alarm"),
		ResourceName: jsii.String(d.name + "-*"),
		ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
}

// allowAlarmsToPublish lets CloudWatch publish this construct's alarms (and
// only those, by name) to the topic, and use the topic's key for them.
func (d *Dashboard) allowAlarmsToPublish(p Props) {
	notifications.GrantAlarmsPublish(p.Topic, p.Key, d.AlarmArns())
}

const day = 24 * time.Hour

// metrics builds the delivery metrics of one service.
type metrics struct {
	service string
	// periods holds one Duration per length. A Duration is an immutable
	// value of the jsii kernel and making one is a round trip to it; a
	// dashboard asks for a few lengths about ninety times.
	periods map[time.Duration]awscdk.Duration
}

// period is the Duration of d, made once per dashboard.
func (m metrics) period(d time.Duration) awscdk.Duration {
	if p, ok := m.periods[d]; ok {
		return p
	}
	p := awscdk.Duration_Minutes(jsii.Number(d.Minutes()))
	m.periods[d] = p
	return p
}

// dims are the dimensions of env's delivery metrics, as CDK takes them.
func (m metrics) dims(env string) *map[string]*string {
	dims := map[string]*string{}
	for name, value := range body.Dimensions(m.service, env) {
		dims[name] = jsii.String(value)
	}
	return &dims
}

// metric is one delivery metric of env; label "" leaves it unlabelled.
func (m metrics) metric(name, env, stat string, period time.Duration, label string) awscloudwatch.Metric {
	props := &awscloudwatch.MetricProps{
		Namespace:     jsii.String(delivery.Namespace),
		MetricName:    jsii.String(name),
		DimensionsMap: m.dims(env),
		Statistic:     jsii.String(stat),
		Period:        m.period(period),
	}
	if label != "" {
		props.Label = jsii.String(label)
	}
	return awscloudwatch.NewMetric(props)
}

// pascal turns an environment name (lowercase letters, digits, hyphens)
// into a construct ID: pre-prod -> PreProd.
func pascal(s string) string {
	var b strings.Builder
	for _, part := range strings.Split(s, "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

func minutes(d time.Duration) string {
	if d == time.Minute {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", int(d.Minutes()))
}

func withDefaults(p Props) Props {
	p.ConsecutiveFailedDeployments = cmp.Or(p.ConsecutiveFailedDeployments, DefaultConsecutiveFailedDeployments)
	p.ValidatorErrors = cmp.Or(p.ValidatorErrors, DefaultValidatorErrors)
	p.ValidatorErrorPeriod = cmp.Or(p.ValidatorErrorPeriod, DefaultValidatorErrorPeriod)
	p.TimeRange = cmp.Or(p.TimeRange, DefaultTimeRange)
	return p
}

func (p Props) validate() error {
	switch {
	case p.Name == "" || strings.Trim(p.Name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "":
		return fmt.Errorf("name %q must be letters, digits, - and _", p.Name)
	case p.Pipeline == nil:
		return fmt.Errorf("no pipeline")
	case p.Topic == nil:
		return fmt.Errorf("no topic")
	case p.Service == "":
		return fmt.Errorf("no service")
	case len(p.Environments) == 0 || len(p.Environments) > MaxEnvironments:
		return fmt.Errorf("%d environments, want 1 to %d", len(p.Environments), MaxEnvironments)
	case p.ConsecutiveFailedDeployments < 1:
		return fmt.Errorf("consecutive failed deployments threshold %d, want 1 or more", p.ConsecutiveFailedDeployments)
	case p.ValidatorErrors < 1:
		return fmt.Errorf("validator errors threshold %d, want 1 or more", p.ValidatorErrors)
	case p.ValidatorErrorPeriod%time.Minute != 0 || p.ValidatorErrorPeriod < time.Minute || p.ValidatorErrorPeriod > 24*time.Hour:
		return fmt.Errorf("validator error period %s, want whole minutes from 1 minute to 24 hours", p.ValidatorErrorPeriod)
	case p.TimeRange%day != 0 || p.TimeRange < day:
		return fmt.Errorf("time range %s, want whole days", p.TimeRange)
	}
	seen := map[string]bool{}
	for _, env := range p.Environments {
		// Alarm construct IDs are the names in PascalCase: a-b and a--b
		// would collide.
		if env == "" || seen[pascal(env)] {
			return fmt.Errorf("environments %v: names must be set and unique (ignoring hyphens)", p.Environments)
		}
		seen[pascal(env)] = true
	}
	return nil
}
