package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"cicd/internal/delivery"
)

// Issue 14.2: verify tags the image it found running as deployed to its
// environment, and the repository's lifecycle policy keeps the last two such
// images per environment. A tag that cannot be added leaves the verdict
// DEPLOYED and the job successful, and is said in the item, the job summary
// and a message.
func TestDeployedImageIsProtected(t *testing.T) {
	const wantTag = "deployed-dev.20261125T120000.000Z"
	cases := []struct {
		name    string
		params  string
		setup   func(w *world)
		tag     string // the item's deployedTag; "" for none
		subject string // the one message; "" for none
		reason  string
		check   func(t *testing.T, w *world)
	}{
		{
			name:   "the running image gets its environment's deployed tag",
			params: params("verify", testTag, testExec),
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.rolledOut(testRepoURI + ":" + testTag)
			},
			tag: wantTag, reason: "kept from expiry as " + wantTag,
			check: func(t *testing.T, w *world) {
				get := w.manifests.calls[0]
				if aws.ToString(get.ImageIds[0].ImageDigest) != testDigest || !slices.Contains(get.AcceptedMediaTypes, "application/vnd.oci.image.manifest.v1+json") {
					t.Errorf("BatchGetImage(%+v, %v)", get.ImageIds, get.AcceptedMediaTypes)
				}
				put := w.tags.calls[0]
				if aws.ToString(put.ImageTag) != wantTag || aws.ToString(put.ImageDigest) != testDigest ||
					aws.ToString(put.ImageManifest) != testManifest || aws.ToString(put.ImageManifestMediaType) != "application/vnd.oci.image.manifest.v1+json" ||
					aws.ToString(put.RepositoryName) != "cicd-pipeline-dev" {
					t.Errorf("PutImage(%s, tag %s, digest %s, %s)", aws.ToString(put.RepositoryName), aws.ToString(put.ImageTag),
						aws.ToString(put.ImageDigest), aws.ToString(put.ImageManifestMediaType))
				}
			},
		},
		{
			name:   "the tag names the environment of the job",
			params: multi("verify", map[string]any{"environment": "staging", "imageDigest": testDigest}),
			setup:  func(w *world) { w.rolledOut(testRepoURI + "@" + testDigest) },
			tag:    "deployed-staging.20261125T120000.000Z",
		},
		{
			name:   "a tag an SDK retry already put counts as done",
			params: multi("verify", map[string]any{"imageDigest": testDigest}),
			setup: func(w *world) {
				w.rolledOut(testRepoURI + "@" + testDigest)
				w.tags.err = &ecrtypes.ImageAlreadyExistsException{Message: aws.String("Image with digest and tag already exists")}
				w.images.out = imageOut(ecrtypes.ScanStatusComplete) // the tag's image: this digest
			},
			tag: wantTag,
			check: func(t *testing.T, w *world) {
				if len(w.images.calls) != 1 || aws.ToString(w.images.calls[0].ImageIds[0].ImageTag) != wantTag {
					t.Errorf("the existing tag was not read back: %d DescribeImages calls", len(w.images.calls))
				}
			},
		},
		{
			name:   "a tag that names another image is not protection",
			params: multi("verify", map[string]any{"imageDigest": otherDigest}),
			setup: func(w *world) {
				w.rolledOut(testRepoURI + "@" + otherDigest)
				w.tags.err = &ecrtypes.ImageTagAlreadyExistsException{Message: aws.String("tag exists")}
				w.images.out = imageOut(ecrtypes.ScanStatusComplete) // the tag's image: testDigest
			},
			subject: "[cicd-pipeline dev] image abc123 deployed, not protected from expiry",
			reason:  "image not protected from expiry: tag " + wantTag + " already names another image",
		},
		{
			name:   "a tag ECR refuses leaves the deploy verified, and says so",
			params: params("verify", testTag, testExec),
			setup: func(w *world) {
				w.images.out = imageOut(ecrtypes.ScanStatusComplete)
				w.rolledOut(testRepoURI + ":" + testTag)
				w.tags.err = throttled
			},
			subject: "[cicd-pipeline dev] image abc123 deployed, not protected from expiry",
			reason:  "image not protected from expiry: tag cicd-pipeline-dev@" + testDigest + " as " + wantTag,
		},
		{
			name:   "a manifest ECR cannot find is not protection",
			params: multi("verify", map[string]any{"imageDigest": testDigest}),
			setup: func(w *world) {
				w.rolledOut(testRepoURI + "@" + testDigest)
				w.manifests.out = &ecr.BatchGetImageOutput{Failures: []ecrtypes.ImageFailure{
					{FailureCode: ecrtypes.ImageFailureCodeImageNotFound, FailureReason: aws.String("Requested image not found")}}}
			},
			subject: "[cicd-pipeline dev] image abc123 deployed, not protected from expiry",
			reason:  "ImageNotFound: Requested image not found",
		},
		{
			name:   "an environment that cannot name a tag is not protection",
			params: multi("verify", map[string]any{"imageDigest": testDigest}),
			setup: func(w *world) {
				w.env["ENVIRONMENT"] = "Dev_1"
				w.rolledOut(testRepoURI + "@" + testDigest)
			},
			subject: "[cicd-pipeline dev Dev_1] image abc123 deployed, not protected from expiry",
			reason:  `environment "Dev_1" cannot name an image tag`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			tc.setup(w)
			o := w.run(context.Background(), jobEventJSON(testJob, tc.params, ""))
			if o.panicked != nil || o.err != nil || o.results != 1 || o.result != succeeded || o.status() != StatusDeployed {
				t.Fatalf("want the job succeeded, DEPLOYED; got %s", o)
			}
			if got := attrS(o.items[0], "deployedTag"); got != tc.tag {
				t.Errorf("item deployedTag %q, want %q", got, tc.tag)
			}
			var subjects []string
			for _, m := range o.msgs {
				subjects = append(subjects, aws.ToString(m.Subject))
			}
			if want := []string{tc.subject}; (tc.subject == "" && len(subjects) != 0) || (tc.subject != "" && !slices.Equal(subjects, want)) {
				t.Errorf("messages %q, want %q", subjects, tc.subject)
			}
			if tc.subject != "" {
				if attrS(o.items[0], "notice") != "deployed, not protected from expiry" || !strings.Contains(attrS(o.items[0], "reason"), tc.reason) {
					t.Errorf("item notice %q, reason %q; want the notice and %q", attrS(o.items[0], "notice"), attrS(o.items[0], "reason"), tc.reason)
				}
				if b := aws.ToString(o.msgs[0].Message); !strings.Contains(b, tc.reason) {
					t.Errorf("message lacks %q:\n%s", tc.reason, b)
				}
			}
			if !strings.Contains(o.text, tc.reason) {
				t.Errorf("job summary %q lacks %q", o.text, tc.reason)
			}
			if tc.check != nil {
				tc.check(t, w)
			}
		})
	}
}

// The validator's tags start with the prefix the lifecycle rules of
// constructs/registry keep (both take it from internal/delivery), and no
// environment's tag has another's prefix.
func TestDeployedTagHasItsEnvironmentsPrefixOnly(t *testing.T) {
	envs := []string{"dev", "dev-eu", "staging", "prod", "prod-2"}
	for _, env := range envs {
		tag := deployedTag(env, testNow)
		if !validTag.MatchString(tag) || !strings.HasPrefix(tag, delivery.DeployedTagPrefix(env)) {
			t.Errorf("tag %q is not a valid tag with the prefix", tag)
		}
		for _, other := range envs {
			if other != env && strings.HasPrefix(tag, delivery.DeployedTagPrefix(other)) {
				t.Errorf("%s's tag %q has %s's prefix", env, tag, other)
			}
		}
	}
	if a, b := deployedTag("dev", testNow), deployedTag("dev", testNow.Add(time.Millisecond)); a == b {
		t.Errorf("two deploys a millisecond apart share the tag %q", a)
	}
}

// The deployed tag against a real ECR API: the manifest is put again with the
// new tag, and a put an SDK retry repeats (ImageAlreadyExistsException) counts
// as done; a tag that names another image does not.
func TestIntegrationProtect(t *testing.T) {
	fx := localFixture(t)
	digest := fx.pushImage(t, "protect-1")
	other := fx.pushImage(t, "protect-2")
	deps := newDeps(fx.cfg, nil)
	p := &Protector{Get: deps.Manifests, Put: deps.Tags, Images: deps.Images, Repository: fx.repo}
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for range 2 {
		tag, err := p.Protect(context.Background(), "prod", digest, at)
		if err != nil || tag != "deployed-prod.20261125T120000.000Z" {
			t.Fatalf("Protect() = %q, %v", tag, err)
		}
	}
	out, err := fx.ecr.DescribeImages(context.Background(), &ecr.DescribeImagesInput{
		RepositoryName: aws.String(fx.repo), ImageIds: []ecrtypes.ImageIdentifier{{ImageDigest: aws.String(digest)}}})
	if err != nil || len(out.ImageDetails) != 1 {
		t.Fatalf("describe %s: %v", digest, err)
	}
	if tags := out.ImageDetails[0].ImageTags; !slices.Contains(tags, "protect-1") || !slices.Contains(tags, "deployed-prod.20261125T120000.000Z") {
		t.Errorf("image tags %v, want its commit tag and the deployed tag", tags)
	}
	if _, err := p.Protect(context.Background(), "prod", other, at); err == nil || !strings.Contains(err.Error(), "already names another image") {
		t.Errorf("Protect() of another image with a taken tag = %v", err)
	}
}
