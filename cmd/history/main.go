// Command history prints a pipeline's deployment history from its state
// table, with the user's AWS credentials: the outcomes of a period as a
// timeline (time, environment, image, status, reason) and the four key
// delivery metrics (DORA) of each environment over it.
//
//	go run ./cmd/history -service orders -env prod -since 720h
//	go run ./cmd/history -suffix dev -json
//	go run ./cmd/history -table cicd-orders-history -env staging,prod
//
// It reads the table's environment index only, one Query page after
// another: never a Scan, so a long history costs what the period holds.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"cicd/internal/delivery"
)

// parameterGetter is ssm:GetParameter, to learn a pipeline's environments.
type parameterGetter interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

var _ parameterGetter = (*ssm.Client)(nil)

// clients are the two AWS operations the command uses.
type clients struct {
	Query      delivery.Querier
	Parameters parameterGetter
}

// env is what run takes from its surroundings.
type env struct {
	stdout, stderr io.Writer
	now            func() time.Time
	// connect builds the clients from the standard SDK configuration.
	connect func(ctx context.Context, region, profile string) (clients, error)
	// pageSize bounds the items of a query page (0: DynamoDB's 1 MB).
	pageSize int32
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], env{
		stdout: os.Stdout, stderr: os.Stderr, now: time.Now, connect: connect,
	}))
}

// connect loads the user's AWS configuration: environment variables, the
// shared config and credentials files, SSO, and so on.
func connect(ctx context.Context, region, profile string) (clients, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return clients{}, fmt.Errorf("AWS configuration: %w", err)
	}
	return clients{Query: dynamodb.NewFromConfig(cfg), Parameters: ssm.NewFromConfig(cfg)}, nil
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // AWS or the table said no
	exitUsage = 2 // the command line is wrong
)

// options are the command line, checked.
type options struct {
	table, service, suffix string
	environments           []string
	since                  time.Duration
	json                   bool
	region, profile        string
}

// validName is the pattern of services, suffixes and environment names.
var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,19}$`)

// envList is a repeatable flag that also takes comma lists.
type envList []string

func (e *envList) String() string { return strings.Join(*e, ",") }
func (e *envList) Set(v string) error {
	for _, name := range strings.Split(v, ",") {
		if name = strings.TrimSpace(name); name != "" {
			*e = append(*e, name)
		}
	}
	return nil
}

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	var envs envList
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.table, "table", "", "state table `name`")
	fs.StringVar(&o.service, "service", "", "pipeline `service`: the table is cicd-{service}-history")
	fs.StringVar(&o.suffix, "suffix", "", "single-environment pipeline's environment `suffix`: the table is cicd-pipeline-state-{suffix}")
	fs.Var(&envs, "env", "environment `name`s, repeatable or comma-separated (default: -suffix's, or the pipeline's from SSM /cicd/{service}/environments)")
	fs.DurationVar(&o.since, "since", 720*time.Hour, "the period: this long before now")
	fs.BoolVar(&o.json, "json", false, "print JSON instead of text")
	fs.StringVar(&o.region, "region", "", "AWS `region` (default: the SDK's, e.g. AWS_REGION)")
	fs.StringVar(&o.profile, "profile", "", "AWS shared config `profile` (default: the SDK's, e.g. AWS_PROFILE)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: history (-service NAME | -suffix NAME | -table NAME) [-env NAME[,NAME]] [-since 720h] [-json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.environments = envs
	set := 0
	for _, v := range []string{o.table, o.service, o.suffix} {
		if v != "" {
			set++
		}
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q: every input is a flag", fs.Arg(0))
	case set != 1:
		return o, errors.New("give exactly one of -service, -suffix or -table")
	case o.service != "" && !validName.MatchString(o.service):
		return o, fmt.Errorf("-service %q: want 1-20 lowercase letters, digits and hyphens", o.service)
	case o.suffix != "" && !validName.MatchString(o.suffix):
		return o, fmt.Errorf("-suffix %q: want 1-20 lowercase letters, digits and hyphens", o.suffix)
	case o.table != "" && len(o.environments) == 0:
		return o, errors.New("-table needs -env: a table alone does not say its environments")
	case o.since <= 0:
		return o, fmt.Errorf("-since %s: want a positive duration such as 720h", o.since)
	}
	seen := map[string]bool{}
	for _, e := range o.environments {
		if !validName.MatchString(e) {
			return o, fmt.Errorf("-env %q: want 1-20 lowercase letters, digits and hyphens", e)
		}
		if seen[e] {
			return o, fmt.Errorf("-env %q given twice", e)
		}
		seen[e] = true
	}
	switch {
	case o.service != "":
		o.table = "cicd-" + o.service + "-history"
	case o.suffix != "":
		o.table = "cicd-pipeline-state-" + o.suffix
		if len(o.environments) == 0 {
			o.environments = []string{o.suffix}
		}
	}
	return o, nil
}

// EnvironmentsParameter is the SSM parameter that lists a pipeline's
// environments, comma-separated, in promotion order.
func EnvironmentsParameter(service string) string { return "/cicd/" + service + "/environments" }

// environments reads the pipeline's environments from SSM.
func environments(ctx context.Context, p parameterGetter, service string) ([]string, error) {
	name := EnvironmentsParameter(service)
	out, err := p.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)})
	var missing *ssmtypes.ParameterNotFound
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("no -env given, and SSM parameter %s does not exist: pass -env", name)
	}
	if err != nil {
		return nil, fmt.Errorf("no -env given, and SSM parameter %s could not be read (pass -env): %w", name, err)
	}
	var envs []string
	for _, e := range strings.Split(aws.ToString(out.Parameter.Value), ",") {
		if e = strings.TrimSpace(e); e != "" {
			envs = append(envs, e)
		}
	}
	if len(envs) == 0 {
		return nil, fmt.Errorf("SSM parameter %s lists no environment: pass -env", name)
	}
	return envs, nil
}

func run(ctx context.Context, args []string, e env) int {
	o, err := parseArgs(args, e.stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "history: "+err.Error())
		return exitUsage
	}
	c, err := e.connect(ctx, o.region, o.profile)
	if err != nil {
		fmt.Fprintln(e.stderr, "history: "+err.Error())
		return exitError
	}
	if len(o.environments) == 0 {
		if o.environments, err = environments(ctx, c.Parameters, o.service); err != nil {
			fmt.Fprintln(e.stderr, "history: "+err.Error())
			return exitError
		}
	}
	to := e.now().UTC().Truncate(time.Millisecond)
	h, err := read(ctx, c.Query, o.table, o.environments, to.Add(-o.since), to, e.pageSize)
	if err != nil {
		fmt.Fprintln(e.stderr, "history: "+firstLine(err.Error()))
		return exitError
	}
	if o.json {
		err = writeJSON(e.stdout, h)
	} else {
		err = writeText(e.stdout, h)
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "history: "+err.Error())
		return exitError
	}
	return exitOK
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
