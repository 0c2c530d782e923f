// Command cicd is the CDK app: it reads the configuration from the CDK
// context once, validates it, and builds one stack per service's pipeline.
package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"cicd/constructs/replication"
	"cicd/constructs/servicepipeline"
	"cicd/constructs/target"
	// Calls into aws-cdk-lib go to the jsii kernel directly, not through
	// a relay process: less construction time, 50 MiB less memory.
	_ "cicd/internal/kernel"
)

// StackOptions are the app-level choices that are not user configuration.
type StackOptions struct {
	// ModuleDir is the Go module root (it holds lambda/validator).
	// Default: found from the working directory.
	ModuleDir string
}

// NewStacks adds the app's stacks: per pipeline, its own stack, a stack of
// roles in each other account it deploys to, and an artifact store in each
// other region.
func NewStacks(app constructs.Construct, cfg Config, opts StackOptions) []awscdk.Stack {
	var stacks []awscdk.Stack
	for _, p := range cfg.Pipelines {
		stacks = append(stacks, newPipelineStacks(app, cfg, p, opts)...)
	}
	return stacks
}

// newPipelineStacks are the stacks of one service's pipeline, the pipeline's
// own first.
func newPipelineStacks(scope constructs.Construct, cfg Config, p PipelineConfig, opts StackOptions) []awscdk.Stack {
	names, description := pipelineNames(cfg, p)
	ps := &pipelineStacks{scope: scope, cfg: cfg, p: p, names: names,
		replicas: map[string]*replication.Replication{}, access: map[string]awscdk.Stack{}, targets: map[string]*target.Target{}}
	ps.stack = ps.newStack(names.Stack, names.Stack, cfg.PipelineAccount, cfg.PipelineRegion, description)
	ps.stacks = []awscdk.Stack{ps.stack}
	envs := make([]servicepipeline.Environment, len(p.Environments))
	for i, e := range p.Environments {
		envs[i] = ps.environment(e)
	}
	// "Default": the resources keep the logical IDs they had at the stack's
	// root, so the single-environment stack upgrades in place.
	sp := servicepipeline.New(ps.stack, "Default", servicepipeline.Props{
		Service:                 p.Service,
		Names:                   names,
		Source:                  p.Source,
		Environments:            envs,
		SingleEnvironmentStages: cfg.SingleEnvironment,
		ScanFailSeverity:        p.ScanFailSeverity,
		NotificationEmail:       p.NotificationEmail,
		GitHubTokenParameter:    p.GitHubTokenParameter,
		Platform:                p.Platform,
		UnscannedImages:         p.UnscannedImages,
		Alarms:                  p.Alarms,
		ReplicationBuckets:      ps.replicationBuckets(),
		ModuleDir:               opts.ModuleDir,
	})
	ps.readArtifacts(sp, envs)
	tag(ps.stacks, ps.tags())
	return ps.stacks
}

// pipelineStacks builds the stacks of one service's pipeline: its own, and
// per other region the artifact store there, per other account and region
// the roles there.
type pipelineStacks struct {
	scope  constructs.Construct
	cfg    Config
	p      PipelineConfig
	names  servicepipeline.Names
	stack  awscdk.Stack
	stacks []awscdk.Stack
	// replicas are the artifact stores by region, access the stacks of roles
	// by account-region, targets the roles by environment.
	replicas map[string]*replication.Replication
	access   map[string]awscdk.Stack
	targets  map[string]*target.Target
}

// pipelineNames are the names of the pipeline's resources and the description
// of its stack.
func pipelineNames(cfg Config, p PipelineConfig) (servicepipeline.Names, string) {
	if cfg.SingleEnvironment {
		env := p.Environments[0]
		return servicepipeline.SingleEnvironmentNames(p.Service),
			fmt.Sprintf("cicd: delivery pipeline for ECS service %s/%s (environment %s): build, test, scan gate, deploy, verify",
				env.Cluster, env.Service, env.Name)
	}
	return servicepipeline.ServiceNames(p.Service),
		fmt.Sprintf("cicd: delivery pipeline of service %s: build once, scan gate, promote by digest through %s",
			p.Service, environmentNames(p))
}

func (ps *pipelineStacks) newStack(id, name, account, region, description string) awscdk.Stack {
	props := &awscdk.StackProps{StackName: jsii.String(name), Description: jsii.String(description)}
	if account != "" || region != "" {
		props.Env = &awscdk.Environment{Account: optional(account), Region: optional(region)}
	}
	return awscdk.NewStack(ps.scope, jsii.String(id), props)
}

// environment is the service pipeline's view of e: its imported service,
// and, in another region or account, the artifact store and roles there.
func (ps *pipelineStacks) environment(e EnvironmentConfig) servicepipeline.Environment {
	cfg := ps.cfg
	id := e.Name + "Service"
	if cfg.SingleEnvironment {
		id = "Service"
	}
	env := servicepipeline.Environment{
		Name:            e.Name,
		Service:         importService(ps.stack, id, e),
		ClusterName:     e.Cluster,
		ServiceName:     e.Service,
		ContainerName:   e.Container,
		RequireApproval: e.RequireApproval,
	}
	account, region := cmp.Or(e.Account, cfg.PipelineAccount), cmp.Or(e.Region, cfg.PipelineRegion)
	if account != cfg.PipelineAccount {
		env.Account = account
	}
	if region != cfg.PipelineRegion {
		env.Region = region
		ps.replica(region)
	}
	if env.Account != "" {
		t := ps.target(e, account, region)
		// The role's own policy is written by the target package; the
		// deploy action must not add its wildcard statements to it.
		env.DeployRole = t.DeployRole.WithoutPolicyUpdates(nil)
		env.VerifyRole = t.VerifyRole
	}
	return env
}

// replica is the artifact store in region: the artifacts of an action in
// another region are copied to a store of the pipeline's account there.
func (ps *pipelineStacks) replica(region string) *replication.Replication {
	if r := ps.replicas[region]; r != nil {
		return r
	}
	cfg, names := ps.cfg, ps.names
	rs := ps.newStack(names.Stack+"-artifacts-"+region, names.Stack+"-artifacts-"+region, cfg.PipelineAccount, region,
		fmt.Sprintf("cicd: artifact store in %s of pipeline %s (account %s, region %s)", region, names.Pipeline, cfg.PipelineAccount, cfg.PipelineRegion))
	r := replication.New(rs, "Default", replication.Props{
		Alias:       names.ReplicaKeyAlias(),
		Description: "Encrypts the artifacts of pipeline " + names.Pipeline + " in " + region,
	})
	ps.replicas[region] = r
	ps.stacks = append(ps.stacks, rs)
	return r
}

// target is the roles of environment e in its account and region: what the
// pipeline needs there lives in a stack there, deployed before the
// pipeline's.
func (ps *pipelineStacks) target(e EnvironmentConfig, account, region string) *target.Target {
	cfg, names := ps.cfg, ps.names
	key := account + "-" + region
	as := ps.access[key]
	if as == nil {
		as = ps.newStack(names.Stack+"-access-"+key, names.Stack+"-access", account, region,
			fmt.Sprintf("cicd: roles that let pipeline %s of account %s deploy and verify service %s here", names.Pipeline, cfg.PipelineAccount, ps.p.Service))
		ps.access[key] = as
		ps.stack.AddStackDependency(as, jsii.String("the pipeline's policies name the roles of the environments' accounts"))
		ps.stacks = append(ps.stacks, as)
	}
	t := target.New(as, e.Name, target.Props{
		Environment:       e.Name,
		PipelineAccount:   cfg.PipelineAccount,
		PipelineRoleName:  names.PipelineRole,
		ValidatorRoleName: names.ValidatorRole,
		Cluster:           e.Cluster,
		Service:           e.Service,
		TaskRoles:         e.TaskRoles,
	})
	awscdk.Tags_Of(t.Construct).Add(jsii.String("Environment"), jsii.String(e.Name), nil)
	ps.targets[e.Name] = t
	if r := ps.replicas[region]; r != nil {
		r.AllowRead(t.DeployRole)
		awscdk.Stack_Of(r.Construct).AddStackDependency(as, jsii.String("the artifact store's policies name the deploy role"))
	}
	return t
}

// replicationBuckets are the artifact stores of the other regions, by region.
func (ps *pipelineStacks) replicationBuckets() map[string]awss3.IBucket {
	buckets := map[string]awss3.IBucket{}
	for region, r := range ps.replicas {
		buckets[region] = r.Bucket()
	}
	return buckets
}

// readArtifacts lets each environment's deploy role in another account read
// the image definitions: from the pipeline's bucket, or from the store of
// the environment's region.
func (ps *pipelineStacks) readArtifacts(sp *servicepipeline.ServicePipeline, envs []servicepipeline.Environment) {
	for _, e := range envs {
		if t := ps.targets[e.Name]; t != nil {
			bucket, region := awss3.IBucket(sp.Artifacts.Bucket), ps.cfg.PipelineRegion
			if r := ps.replicas[e.Region]; r != nil {
				bucket, region = r.Artifacts.Bucket, e.Region
			}
			t.ReadArtifacts(bucket, ps.cfg.PipelineAccount, region)
		}
	}
}

// tags are the tags of every stack of the pipeline: ours, then the app's
// and the pipeline's configured ones, which may override them.
func (ps *pipelineStacks) tags() map[string]string {
	tags := map[string]string{"Project": "cicd-pipeline", "ManagedBy": "CDK"}
	if ps.cfg.SingleEnvironment {
		tags["Environment"] = ps.p.Environments[0].Name
	} else {
		tags["Service"] = ps.p.Service
	}
	maps.Copy(tags, ps.cfg.Tags)
	maps.Copy(tags, ps.p.Tags)
	return tags
}

// tag adds the tags to every stack, in key order.
func tag(stacks []awscdk.Stack, tags map[string]string) {
	for _, s := range stacks {
		for _, k := range slices.Sorted(maps.Keys(tags)) {
			awscdk.Tags_Of(s).Add(jsii.String(k), jsii.String(tags[k]), nil)
		}
	}
}

// importService refers to an environment's existing ECS service by its ARN,
// in the cluster-name format that carries both names: all the deploy action
// and the validator need.
func importService(stack awscdk.Stack, id string, e EnvironmentConfig) awsecs.IBaseService {
	return awsecs.BaseService_FromServiceArnWithCluster(stack, jsii.String(id), stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("ecs"),
		Account:      optional(e.Account),
		Region:       optional(e.Region),
		Resource:     jsii.String("service"),
		ResourceName: jsii.String(e.Cluster + "/" + e.Service),
		ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	}))
}

func environmentNames(p PipelineConfig) string {
	names := make([]string, len(p.Environments))
	for i, e := range p.Environments {
		names[i] = e.Name
	}
	return strings.Join(names, ", ")
}

// optional is nil for "", so CDK keeps its own default.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return jsii.String(s)
}

// started is when the process began running Go code, for the timings.
var started = time.Now()

func main() {
	code := run(os.Stderr)
	jsii.Close()
	os.Exit(code)
}

// run synthesizes the app, with the context the CDK CLI passes in
// CDK_CONTEXT_JSON, and returns the exit code. Every failure is one line on
// stderr: a bad configuration value, or the first line of an error raised
// while building the stack; never a Go or jsii stack trace.
func run(stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintln(stderr, "error: "+firstLine(fmt.Sprint(r)))
			code = 1
		}
	}()
	// A bad value in the context the CLI passes fails here, before the jsii
	// kernel starts: in milliseconds rather than after Node's start-up.
	if context, ok := cliContext(os.Getenv); ok {
		if _, err := LoadConfig(context); err != nil {
			fmt.Fprintln(stderr, "error: "+err.Error())
			return 1
		}
	}
	timings := os.Getenv(TimingsEnv)
	app := awscdk.NewApp(&awscdk.AppProps{
		// A slow synth (a cold Go build cache) would otherwise leave a file
		// of timings in cdk.out, and two synths of one commit would differ.
		// bench/run turns it on to read aws-cdk-lib's counters.
		PerformanceReporting: jsii.Bool(timings != ""),
	})
	kernel := time.Now()
	cfg, err := LoadConfig(appContext(app))
	if err != nil {
		fmt.Fprintln(stderr, "error: "+err.Error())
		return 1
	}
	NewStacks(app, cfg, StackOptions{})
	constructed := time.Now()
	app.Synth(nil)
	if timings != "" {
		synthesized := time.Now()
		jsii.Close() // main closes it again, which does nothing
		ms := func(from, to time.Time) float64 { return float64(to.Sub(from).Microseconds()) / 1000 }
		data, _ := json.Marshal(map[string]float64{
			"kernel": ms(started, kernel), "constructs": ms(kernel, constructed), "synth": ms(constructed, synthesized),
			"exit": ms(synthesized, time.Now()),
		})
		if err := os.WriteFile(timings, data, 0o644); err != nil {
			fmt.Fprintln(stderr, "error: "+err.Error())
			return 1
		}
	}
	return 0
}

// TimingsEnv names a file to which the app writes, in milliseconds, how long
// it took to start the jsii kernel (process start to new App), to build the
// stacks (our construct calls, the configuration read included), to
// synthesize them (aws-cdk-lib: validation and asset staging) and to close
// the kernel (until its process ended). It also turns aws-cdk-lib's
// performance report on. bench/run sets it.
const TimingsEnv = "CICD_SYNTH_TIMINGS"

// appContext is the app's whole context as plain JSON values.
func appContext(app awscdk.App) map[string]any {
	context, _ := plainJSON(app.Node().GetAllContext(nil)).(map[string]any)
	return context
}

// plainJSON undoes jsii's wrapping of objects in values of no declared
// type ({"$jsii.map": {...}}), at any depth.
func plainJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if inner, ok := v["$jsii.map"]; ok && len(v) == 1 {
			return plainJSON(inner)
		}
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = plainJSON(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = plainJSON(x)
		}
		return out
	}
	return v
}

// cliContext is the context the CDK CLI hands the app: the JSON object in
// CDK_CONTEXT_JSON plus the keys it moved to the file named by
// CONTEXT_OVERFLOW_LOCATION_ENV when the environment would grow too large.
// ok is false when there is none or it cannot be read; aws-cdk-lib then reads
// it, and its own message is the one the user sees.
func cliContext(getenv func(string) string) (context map[string]any, ok bool) {
	raw := getenv("CDK_CONTEXT_JSON")
	if raw == "" || json.Unmarshal([]byte(raw), &context) != nil || context == nil {
		return nil, false
	}
	if path := getenv("CONTEXT_OVERFLOW_LOCATION_ENV"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, false
		}
		var overflow map[string]any
		if json.Unmarshal(data, &overflow) != nil {
			return nil, false
		}
		for k, v := range overflow {
			context[k] = v
		}
	}
	return context, true
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
