package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// Gate decides, before Deploy, whether an image may be deployed: it exists,
// its scan finished, and no finding is at or above the threshold.
type Gate struct {
	Images     imageDescriber
	Findings   scanFindingsDescriber
	Repository string
	Threshold  Severity
	Unscanned  Unscanned
	MaxWait    time.Duration
}

// Check inspects the image tagged tag; when the build gave its digest, the
// tag must resolve to it. waited is how long this job has already waited for
// the scan (from the continuation token); past MaxWait a scan that is still
// running rejects the image instead of asking to be called again.
func (g *Gate) Check(ctx context.Context, tag, digest string, waited time.Duration) (Result, error) {
	var res Result
	out, err := g.Images.DescribeImages(ctx, &ecr.DescribeImagesInput{
		RepositoryName: aws.String(g.Repository),
		ImageIds:       []ecrtypes.ImageIdentifier{{ImageTag: aws.String(tag)}},
	})
	var notFound *ecrtypes.ImageNotFoundException
	if errors.As(err, &notFound) || (err == nil && len(out.ImageDetails) == 0) {
		return res, fmt.Errorf("%w: no image tagged %q in repository %s", ErrImageNotFound, tag, g.Repository)
	}
	if err != nil {
		return res, fmt.Errorf("describe image %s:%s: %w", g.Repository, tag, err)
	}
	img := out.ImageDetails[0]
	res.Digest = aws.ToString(img.ImageDigest)
	if digest != "" && res.Digest != digest {
		return res, fmt.Errorf("%w: %s:%s is %s, the build pushed %s", ErrDigestMismatch, g.Repository, tag, orUnknown(res.Digest), digest)
	}

	// DescribeImages may omit the scan status (and moto always does): then the
	// findings call below is the authority.
	if st := img.ImageScanStatus; st != nil {
		res.ScanStatus = string(st.Status)
		switch st.Status {
		case ecrtypes.ScanStatusInProgress, ecrtypes.ScanStatusPending:
			return g.wait(res, "image scan is "+string(st.Status), waited)
		case ecrtypes.ScanStatusComplete, ecrtypes.ScanStatusActive, "":
		default:
			return g.notScanned(res, st)
		}
	}

	id := ecrtypes.ImageIdentifier{ImageTag: aws.String(tag)}
	if res.Digest != "" {
		// The digest pins the exact image DescribeImages saw.
		id = ecrtypes.ImageIdentifier{ImageDigest: aws.String(res.Digest)}
	}
	first, err := g.Findings.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{
		RepositoryName: aws.String(g.Repository),
		ImageId:        &id,
		MaxResults:     aws.Int32(findingsPageSize),
	})
	var noScan *ecrtypes.ScanNotFoundException
	if errors.As(err, &noScan) {
		// Scan on push has not started yet.
		return g.wait(res, "image scan has not started", waited)
	}
	if err != nil {
		return res, fmt.Errorf("describe scan findings of %s:%s: %w", g.Repository, tag, err)
	}
	st := first.ImageScanStatus
	if st == nil {
		return g.wait(res, "image scan status is not reported yet", waited)
	}
	res.ScanStatus = string(st.Status)
	switch st.Status {
	case ecrtypes.ScanStatusInProgress, ecrtypes.ScanStatusPending, "":
		return g.wait(res, "image scan is "+string(st.Status), waited)
	case ecrtypes.ScanStatusComplete, ecrtypes.ScanStatusActive:
	default:
		return g.notScanned(res, st)
	}

	rep, err := g.readFindings(ctx, &id, tag, first)
	res.Findings = rep.counts
	switch {
	case err != nil:
		return res, err
	case rep.nothingYet:
		return g.wait(res, "image scan is "+string(st.Status)+", no findings reported yet", waited)
	}
	if blocking := g.Threshold.blocking(res.Findings); blocking != "" {
		return res, fmt.Errorf("%w: %s (threshold %s)", ErrVulnerable, blocking, g.Threshold)
	}
	if rep.unread != "" {
		// Nothing read so far blocks, but what was not read might.
		return res, fmt.Errorf("%w: %s", ErrScanUnreadable, rep.unread)
	}
	res.Status = StatusValidated
	switch {
	case g.Threshold == SeverityNone:
		res.Detail = "scan " + string(st.Status) + ", severity check disabled"
	default:
		res.Detail = "scan " + string(st.Status) + ", no findings at or above " + string(g.Threshold)
	}
	if all := formatCounts(res.Findings, nil); all != "" {
		res.Detail += " (findings: " + all + ")"
	}
	return res, nil
}

// wait answers "not yet" while the bounded wait lasts, then rejects.
func (g *Gate) wait(res Result, why string, waited time.Duration) (Result, error) {
	if waited >= g.MaxWait {
		return res, fmt.Errorf("%w: %s after %s (limit %s)", ErrScanTimeout, why, waited.Round(time.Second), g.MaxWait)
	}
	res.Pending = why
	return res, nil
}

// notScanned decides on a scan that ended without findings: it rejects,
// except an image ECR cannot scan (UNSUPPORTED_IMAGE, e.g. FROM scratch) when
// UNSCANNED_IMAGES=allow; that pass is announced.
func (g *Gate) notScanned(res Result, st *ecrtypes.ImageScanStatus) (Result, error) {
	if st.Status != ecrtypes.ScanStatusUnsupportedImage || g.Unscanned != UnscannedAllow {
		return res, scanFailed(st)
	}
	why := string(st.Status)
	if d := aws.ToString(st.Description); d != "" {
		why += ": " + d
	}
	res.Status = StatusValidated
	res.Findings = map[string]int32{}
	res.Detail = fmt.Sprintf("image not scanned (scan status %s); it passes because UNSCANNED_IMAGES=allow", why)
	res.Notice = "passed unscanned"
	return res, nil
}

func scanFailed(st *ecrtypes.ImageScanStatus) error {
	if d := aws.ToString(st.Description); d != "" {
		return fmt.Errorf("%w: scan status %s: %s", ErrScanFailed, st.Status, d)
	}
	return fmt.Errorf("%w: scan status %s", ErrScanFailed, st.Status)
}
