package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

const (
	// findingsPageSize is the most findings DescribeImageScanFindings
	// returns in one page.
	findingsPageSize = 1000
	// maxFindingsPages bounds the pages read for one image (100 000
	// findings); an image with more cannot be shown to be safe.
	maxFindingsPages = 100
)

// scanReport is what the findings of a finished scan say.
type scanReport struct {
	counts map[string]int32 // findings per severity label
	// nothingYet: no counts, no findings and no completion time. Enhanced
	// scanning reports ACTIVE before Amazon Inspector has written findings.
	nothingYet bool
	// unread, when set, says why some findings could not be read.
	unread string
}

// readFindings counts the findings of a finished scan, starting from its
// first page. Basic scanning answers with findingSeverityCounts; enhanced
// scanning may answer with the findings alone (enhancedFindings), so without
// counts every page is read and counted. With counts, a finding on the first
// page that the counts leave out still counts: the higher number wins.
func (g *Gate) readFindings(ctx context.Context, id *ecrtypes.ImageIdentifier, tag string, first *ecr.DescribeImageScanFindingsOutput) (scanReport, error) {
	rep := scanReport{counts: map[string]int32{}}
	f := first.ImageScanFindings
	if f == nil {
		rep.nothingYet = true
		return rep, nil
	}
	declared := map[string]int32{}
	for sev, n := range f.FindingSeverityCounts {
		if n > 0 {
			declared[severityLabel(sev)] += n
		}
	}
	seen := countFindings(rep.counts, f)
	if len(declared) > 0 {
		for sev, n := range declared {
			rep.counts[sev] = max(rep.counts[sev], n)
		}
		return rep, nil
	}

	tokens := map[string]bool{}
	for page, token := 1, aws.ToString(first.NextToken); token != ""; page++ {
		if page == maxFindingsPages {
			rep.unread = fmt.Sprintf("more than %d pages of findings", maxFindingsPages)
			break
		}
		if tokens[token] {
			rep.unread = fmt.Sprintf("ECR repeated a nextToken after %d pages of findings", page)
			break
		}
		tokens[token] = true
		out, err := g.Findings.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{
			RepositoryName: aws.String(g.Repository),
			ImageId:        id,
			MaxResults:     aws.Int32(findingsPageSize),
			NextToken:      aws.String(token),
		})
		if err != nil {
			return rep, fmt.Errorf("describe scan findings of %s:%s (page %d): %w", g.Repository, tag, page+1, err)
		}
		if out.ImageScanFindings != nil {
			seen += countFindings(rep.counts, out.ImageScanFindings)
		}
		token = aws.ToString(out.NextToken)
	}
	rep.nothingYet = seen == 0 && f.ImageScanCompletedAt == nil &&
		first.ImageScanStatus != nil && first.ImageScanStatus.Status == ecrtypes.ScanStatusActive
	return rep, nil
}

// countFindings adds the findings of one page, basic and enhanced, to counts
// by severity and returns how many there were.
func countFindings(counts map[string]int32, f *ecrtypes.ImageScanFindings) int {
	for _, x := range f.Findings {
		counts[severityLabel(string(x.Severity))]++
	}
	for _, x := range f.EnhancedFindings {
		counts[severityLabel(aws.ToString(x.Severity))]++
	}
	return len(f.Findings) + len(f.EnhancedFindings)
}
