package main

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// project names the product in every message, as the stack's tags do.
const project = "cicd-pipeline"

// SNS limits: subjects under 100 ASCII characters, messages well under 256 KB.
const (
	maxSubjectLen = 99
	maxMessageLen = 16 * 1024
)

// Notifier tells people about every outcome that stops the pipeline, and
// about a pass with a notice.
type Notifier struct {
	Topics      publisher
	TopicARN    string
	Environment string // when the record names none
	Service     string // the pipeline's service
}

// Notify publishes one message for rec (whose execution id and tag may be
// empty when the job's UserParameters could not be read).
func (n *Notifier) Notify(ctx context.Context, rec Record, at time.Time) error {
	if n.TopicARN == "" {
		return fmt.Errorf("publish: no topic configured")
	}
	env := rec.Environment
	if env == "" {
		env = n.Environment
	}
	// A pipeline of several environments names its service too; a flat
	// stack's service is its environment.
	prefix := env
	if n.Service != "" && n.Service != env {
		prefix = n.Service + " " + env
	}
	_, err := n.Topics.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(n.TopicARN),
		Subject:  aws.String(subject(prefix, rec)),
		Message:  aws.String(body(env, rec, at)),
	})
	if err != nil {
		return fmt.Errorf("publish to %s: %w", n.TopicARN, err)
	}
	return nil
}

// subject is short enough for an e-mail list view: service and environment
// (prefix), tag, verdict.
func subject(prefix string, rec Record) string {
	tag := rec.ImageTag
	if tag == "" {
		tag = "(unknown)"
	}
	var what string
	switch rec.Status {
	case StatusValidated, StatusDeployed:
		what = "image " + tag + " " + rec.Notice
	case StatusRejected:
		what = "image " + tag + " rejected"
	case StatusDeployFailed:
		what = "deploy of image " + tag + " failed"
	default:
		what = "validator error for image " + tag
	}
	return asciiLine(fmt.Sprintf("[%s %s] %s", project, prefix, what), maxSubjectLen)
}

// body is plain text that reads well in an e-mail client.
func body(env string, rec Record, at time.Time) string {
	var b strings.Builder
	stage := "gate (before deploy)"
	if rec.Mode == ModeVerify {
		stage = "verify (after deploy)"
	} else if rec.Mode == "" {
		stage = "unknown"
	}
	switch rec.Status {
	case StatusValidated, StatusDeployed:
		fmt.Fprintf(&b, "The %s validator let image %s pass in environment %s (%s): read the reason below.\n\n", project, orUnknown(rec.ImageTag), env, rec.Notice)
	case StatusRejected:
		fmt.Fprintf(&b, "The %s validator rejected image %s in environment %s. It will not be deployed.\n\n", project, orUnknown(rec.ImageTag), env)
	case StatusDeployFailed:
		fmt.Fprintf(&b, "The %s deploy of image %s in environment %s did not take effect.\n\n", project, orUnknown(rec.ImageTag), env)
	default:
		fmt.Fprintf(&b, "The %s validator could not check image %s in environment %s, so the pipeline stopped.\n\n", project, orUnknown(rec.ImageTag), env)
	}
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-14s %s\n", k+":", v)
		}
	}
	line("Service", rec.Pipeline)
	line("Environment", env)
	if rec.Account != "" {
		line("Account", rec.Account)
		line("Region", rec.Region)
	}
	line("Image tag", orUnknown(rec.ImageTag))
	line("Image digest", rec.ImageDigest)
	if rec.CommitTime != 0 {
		line("Commit time", time.UnixMilli(rec.CommitTime).UTC().Format(time.RFC3339))
	}
	line("Execution id", orUnknown(rec.DeploymentID))
	line("Stage", stage)
	line("Status", string(rec.Status))
	line("Scan status", rec.ScanStatus)
	line("Reason", rec.Reason)
	if len(rec.Findings) > 0 {
		line("Findings", formatCounts(rec.Findings, nil))
	}
	line("Job id", rec.JobID)
	line("Time", at.UTC().Format(time.RFC3339))
	return truncate(b.String(), maxMessageLen)
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// asciiLine makes s a valid SNS subject: printable ASCII, one line, at most max.
func asciiLine(s string, max int) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			r = '?'
		}
		b = append(b, byte(r))
	}
	if len(b) > max {
		b = append(b[:max-3], "..."...)
	}
	return string(b)
}

// truncate cuts s to at most max bytes without splitting a UTF-8 sequence.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
