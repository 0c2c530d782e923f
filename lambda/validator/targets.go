package main

import (
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
)

// ecsFactory builds the ECS ports for region with creds (nil: the
// function's own credentials). main passes one that builds the SDK client,
// so that SDK clients are made in main only.
type ecsFactory func(region string, creds aws.CredentialsProvider) (serviceDescriber, taskDefinitionDescriber)

// ecsPorts are the ECS operations verify uses, in one account and region.
type ecsPorts struct {
	Services serviceDescriber
	TaskDefs taskDefinitionDescriber
}

// target is where verify looks: the function's environment, or what the
// job's UserParameters name instead.
type target struct {
	Cluster, Service, Container string
	Account, Region             string // where the service is; "" when unknown (the function's own)
	RoleARN                     string // assumed to reach it; "" for the function's own account
}

// remote tells whether the target is in another account or region than the
// function (history items then record where).
func (t target) remote(cfg Config) bool {
	return (t.Account != "" && t.Account != cfg.Account) || (t.Region != "" && t.Region != cfg.Region)
}

// where names the target in messages.
func (t target) where(cfg Config) string {
	s := fmt.Sprintf("service %s in cluster %s", t.Service, t.Cluster)
	if t.remote(cfg) {
		s += fmt.Sprintf(" (account %s, region %s)", t.Account, t.Region)
	}
	return s
}

// sessionName names the validator's sessions in the target accounts'
// CloudTrail.
const sessionName = "cicd-validator"

// targets resolves where verify looks and keeps one ECS client per region
// and role for the container's life: an assumed role's credentials are
// cached, and refreshed, by the SDK's credentials cache.
type targets struct {
	cfg     Config
	local   ecsPorts
	factory ecsFactory
	roles   roleAssumer

	mu    sync.Mutex
	cache map[string]ecsPorts
}

// resolve fills what the job did not name from the function's environment,
// and refuses a target that could only be reached by calling the wrong
// account.
func (ts *targets) resolve(tp *targetParams) (target, error) {
	c := ts.cfg
	t := target{Cluster: c.Cluster, Service: c.Service, Container: c.Container, Account: c.Account, Region: c.Region}
	if tp == nil {
		return t, nil
	}
	pick := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	pick(&t.Cluster, tp.Cluster)
	pick(&t.Service, tp.Service)
	pick(&t.Container, tp.Container)
	pick(&t.Region, tp.Region)
	t.RoleARN = tp.RoleARN
	roleAccount := ""
	if m := validRoleARN.FindStringSubmatch(tp.RoleARN); m != nil {
		roleAccount = m[1]
	}
	switch {
	case tp.Account != "":
		t.Account = tp.Account
	case roleAccount != "":
		t.Account = roleAccount
	}
	switch {
	case roleAccount != "" && roleAccount != t.Account:
		return t, fmt.Errorf("%w: target.roleArn is in account %s, target.account is %s", ErrBadTarget, roleAccount, t.Account)
	case t.RoleARN == "" && c.Account == "" && tp.Account != "":
		return t, fmt.Errorf("%w: target.account %s names no roleArn, and the function's own account is unknown (ECR_REPOSITORY_URI)", ErrBadTarget, tp.Account)
	case t.RoleARN == "" && t.Account != c.Account:
		return t, fmt.Errorf("%w: target.account %s is not the function's account %s and names no roleArn to reach it", ErrBadTarget, t.Account, c.Account)
	case t.Region == "":
		return t, fmt.Errorf("%w: the target's region is unknown (no target.region, no AWS_REGION)", ErrBadTarget)
	}
	return t, nil
}

// ports returns the ECS clients that reach t, built once per region and role.
func (ts *targets) ports(t target) (ecsPorts, error) {
	if t.RoleARN == "" && t.Region == ts.cfg.Region {
		return ts.local, nil
	}
	key := t.Region + "|" + t.RoleARN
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if p, ok := ts.cache[key]; ok {
		return p, nil
	}
	if ts.factory == nil || (t.RoleARN != "" && ts.roles == nil) {
		return ecsPorts{}, fmt.Errorf("%w: no ECS client for region %s, role %q", ErrBadTarget, t.Region, t.RoleARN)
	}
	var creds aws.CredentialsProvider
	if t.RoleARN != "" {
		// The provider calls sts:AssumeRole through the port; the cache
		// renews the credentials before they expire.
		creds = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(ts.roles, t.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = sessionName
		}))
	}
	services, taskDefs := ts.factory(t.Region, creds)
	p := ecsPorts{Services: services, TaskDefs: taskDefs}
	if ts.cache == nil {
		ts.cache = map[string]ecsPorts{}
	}
	ts.cache[key] = p
	return p, nil
}
