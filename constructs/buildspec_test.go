package constructs_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"cicd/constructs/build"
)

// The buildspec of the synthesized project, run by codebuild_test.go's
// emulation of CodeBuild: one test per behaviour of the build.

// imageDefinitions parses the artifact the ECS deploy action reads.
func imageDefinitions(t *testing.T, r result) []map[string]any {
	t.Helper()
	return definitionsFile(t, r, build.OutputFile)
}

func definitionsFile(t *testing.T, r result, name string) []map[string]any {
	t.Helper()
	data, ok := r.files[name]
	if !ok {
		t.Fatalf("no %s\n%s", name, r)
	}
	var defs []map[string]any
	if err := json.Unmarshal(data, &defs); err != nil {
		t.Fatalf("%s is not JSON: %v: %s", name, err, data)
	}
	return defs
}

// pinned is the image definition of container, by digest.
func pinned(container, digest string) []map[string]any {
	return []map[string]any{{"name": container, "imageUri": repoURI + "@" + digest}}
}

func TestBuildspecNewCommit(t *testing.T) {
	t.Parallel()
	r := runBuild(t, scenario{dockerfile: dockerfileWithTests})
	if !r.succeeded {
		t.Fatalf("the build failed\n%s", r)
	}
	want := []string{
		"aws ecr get-login-password --region eu-west-1",
		"docker login --username AWS --password-stdin " + registryHost,
		describeImages,
		"docker build --platform linux/amd64 --target test .",
		"docker build --platform linux/amd64 --tag " + repoURI + ":" + commitTag + " .",
		"docker push " + repoURI + ":" + commitTag,
		describeImages,
	}
	if !reflect.DeepEqual(r.calls, want) {
		t.Errorf("calls\n  %s\nwant\n  %s", strings.Join(r.calls, "\n  "), strings.Join(want, "\n  "))
	}
	// The deploy actions get the pushed image by digest.
	if defs := imageDefinitions(t, r); !reflect.DeepEqual(defs, pinned(testContainer, pushedDigest)) {
		t.Errorf("%s is %s, want %v", build.OutputFile, r.artifact, pinned(testContainer, pushedDigest))
	}
	if len(r.files) != 1 {
		t.Errorf("image definition files %v, want only %s without ContainerNames", r.files, build.OutputFile)
	}
	wantExported := map[string]string{
		build.VarImageTag: commitTag, build.VarImageURI: repoURI + ":" + commitTag, build.VarImageDigest: pushedDigest,
	}
	if !reflect.DeepEqual(r.exported, wantExported) {
		t.Errorf("exported variables %v, want %v", r.exported, wantExported)
	}
}

// The exact calls of a new commit are checked above; these orders are the
// ones that matter, named so a failure says which one broke.
func TestBuildspecOrder(t *testing.T) {
	t.Parallel()
	r := runBuild(t, scenario{dockerfile: dockerfileWithTests})
	for _, o := range []struct{ first, then string }{
		{"docker login", "docker build"},
		{"aws ecr describe-images", "docker build"},
		{"docker build --platform linux/amd64 --target test", "docker build --platform linux/amd64 --tag"},
		{"docker build --platform linux/amd64 --target test", "docker push"},
	} {
		a, b := r.called(o.first), r.called(o.then)
		if a < 0 || b < 0 || a > b {
			t.Errorf("%q (call %d) must come before %q (call %d)\n%s", o.first, a, o.then, b, r)
		}
	}
}

func TestBuildspecTagFromResolvedSourceVersion(t *testing.T) {
	t.Parallel()
	r := runBuild(t, scenario{dockerfile: dockerfileWithTests, env: map[string]string{build.VarCommitID: ""}})
	if !r.succeeded {
		t.Fatalf("the build failed\n%s", r)
	}
	if got := r.exported[build.VarImageTag]; got != resolved[:12] {
		t.Errorf("IMAGE_TAG=%q, want the first 12 characters of CODEBUILD_RESOLVED_SOURCE_VERSION %q", got, resolved[:12])
	}
	if r.called("docker push "+repoURI+":"+resolved[:12]) < 0 {
		t.Errorf("the image was not pushed with the resolved source version's tag\n%s", r)
	}
}

func TestBuildspecNoCommit(t *testing.T) {
	t.Parallel()
	r := runBuild(t, scenario{dockerfile: dockerfileWithTests, env: map[string]string{
		build.VarCommitID: "", "CODEBUILD_RESOLVED_SOURCE_VERSION": "",
	}})
	if r.succeeded || r.called("docker") >= 0 || r.called("aws") >= 0 {
		t.Fatalf("a build without a commit id must fail before any docker or aws call\n%s", r)
	}
	if !strings.Contains(r.output, "error: no commit id") {
		t.Errorf("no clear error for the missing commit id\n%s", r)
	}
}

func TestBuildspecFailingTestsPushNothing(t *testing.T) {
	t.Parallel()
	r := runBuild(t, scenario{dockerfile: dockerfileWithTests, env: map[string]string{"FAKE_TESTS_FAIL": "1"}})
	if r.succeeded {
		t.Fatalf("the build succeeded although the unit tests failed\n%s", r)
	}
	if r.called("docker push") >= 0 || r.called("docker build --tag") >= 0 {
		t.Errorf("an image was built or pushed although the unit tests failed\n%s", r)
	}
	if !reflect.DeepEqual(r.ran, []string{"pre_build", "build", "post_build"}) || !strings.Contains(r.output, "was not pushed") {
		t.Errorf("post_build must run and say that nothing was pushed\n%s", r)
	}
	if r.artifact != nil {
		t.Errorf("%s written for a failed build: %s", build.OutputFile, r.artifact)
	}
}

func TestBuildspecFailingImageBuildPushesNothing(t *testing.T) {
	t.Parallel()
	r := runBuild(t, scenario{dockerfile: dockerfileWithTests, env: map[string]string{"FAKE_BUILD_FAILS": "1"}})
	if r.succeeded || r.called("docker push") >= 0 {
		t.Errorf("a failed image build must fail the build and push nothing\n%s", r)
	}
}

func TestBuildspecFailingPushFailsBuild(t *testing.T) {
	t.Parallel()
	r := runBuild(t, scenario{dockerfile: dockerfileWithTests, env: map[string]string{"FAKE_PUSH_FAILS": "1"}})
	if r.succeeded {
		t.Errorf("the build succeeded although the push failed\n%s", r)
	}
}

func TestBuildspecRerunReusesImage(t *testing.T) {
	t.Parallel()
	r := runBuild(t, scenario{dockerfile: dockerfileWithTests, env: map[string]string{"FAKE_IMAGE": "exists"}})
	if !r.succeeded {
		t.Fatalf("the re-run failed\n%s", r)
	}
	if r.called("docker build") >= 0 || r.called("docker push") >= 0 {
		t.Errorf("the re-run built or pushed the existing image again (the tag is immutable)\n%s", r)
	}
	// The digest of the image that is there, read by the existence check.
	if defs := imageDefinitions(t, r); !reflect.DeepEqual(defs, pinned(testContainer, existingDigest)) {
		t.Errorf("%s is %s, want %v", build.OutputFile, r.artifact, pinned(testContainer, existingDigest))
	}
	if r.exported[build.VarImageTag] != commitTag || r.exported[build.VarImageDigest] != existingDigest {
		t.Errorf("exported variables %v, want IMAGE_TAG=%s and IMAGE_DIGEST=%s", r.exported, commitTag, existingDigest)
	}
	if n := strings.Count(strings.Join(r.calls, "\n"), describeImages); n != 1 {
		t.Errorf("the digest was queried %d times, want once (by the existence check)\n%s", n, r)
	}
}

// With a container name per environment, each distinct name gets its own
// file and the first is also in imagedefinitions.json, all by digest.
func TestBuildspecContainerNames(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		image, digest string
	}{
		"new commit": {"missing", pushedDigest},
		"re-run":     {"exists", existingDigest},
	} {
		t.Run(name, func(t *testing.T) {
			r := runBuild(t, scenario{dockerfile: dockerfileWithTests, env: map[string]string{
				"FAKE_IMAGE": tc.image, "CONTAINER_NAME": "web", "CONTAINER_NAMES": "web worker",
			}})
			if !r.succeeded {
				t.Fatalf("the build failed\n%s", r)
			}
			want := map[string][]map[string]any{
				build.OutputFile:                pinned("web", tc.digest),
				build.DefinitionsFile("web"):    pinned("web", tc.digest),
				build.DefinitionsFile("worker"): pinned("worker", tc.digest),
			}
			if len(r.files) != len(want) {
				t.Errorf("image definition files %v, want %d", r.files, len(want))
			}
			for file, defs := range want {
				if got := definitionsFile(t, r, file); !reflect.DeepEqual(got, defs) {
					t.Errorf("%s is %s, want %v", file, r.files[file], defs)
				}
			}
		})
	}
}

// The token reaches docker build as a BuildKit secret read from the
// environment: never in a command line, never a build argument (those are
// kept in the image's history), and only when there is one.
func TestBuildspecGitHubTokenIsABuildKitSecret(t *testing.T) {
	t.Parallel()
	r := runBuild(t, scenario{dockerfile: dockerfileWithTests, env: map[string]string{build.VarGitHubToken: tokenValue}})
	if !r.succeeded {
		t.Fatalf("the build failed\n%s", r)
	}
	secret := "--secret id=" + build.SecretID + ",env=" + build.VarGitHubToken
	builds := 0
	for _, c := range r.calls {
		if !strings.HasPrefix(c, "docker build ") {
			continue
		}
		builds++
		if !strings.Contains(c, " "+secret+" ") {
			t.Errorf("%q does not pass the token as %s", c, secret)
		}
	}
	if builds != 2 {
		t.Errorf("%d docker builds, want 2 (the test stage and the image)\n%s", builds, r)
	}
	if want := []string{build.SecretID + "=" + tokenValue, build.SecretID + "=" + tokenValue}; !reflect.DeepEqual(r.secrets, want) {
		t.Errorf("BuildKit secrets read %q, want the token in both builds", r.secrets)
	}
	for _, where := range []string{strings.Join(r.calls, "\n"), r.output} {
		if strings.Contains(where, tokenValue) {
			t.Errorf("the token's value is in a command line or the build log:\n%s", r)
		}
		if strings.Contains(where, "--build-arg") {
			t.Errorf("a build argument is passed:\n%s", r)
		}
	}

	plain := runBuild(t, scenario{dockerfile: dockerfileWithTests})
	if strings.Contains(strings.Join(plain.calls, "\n"), "--secret") || len(plain.secrets) > 0 {
		t.Errorf("a secret is passed although there is no token\n%s", plain)
	}
}

func TestBuildspecPlatform(t *testing.T) {
	t.Parallel()
	r := runBuild(t, scenario{dockerfile: dockerfileWithTests, env: map[string]string{"IMAGE_PLATFORM": "linux/arm64"}})
	if !r.succeeded {
		t.Fatalf("the build failed\n%s", r)
	}
	for _, call := range []string{
		"docker build --platform linux/arm64 --target test .",
		"docker build --platform linux/arm64 --tag " + repoURI + ":" + commitTag + " .",
	} {
		if r.called(call) < 0 {
			t.Errorf("no %q\n%s", call, r)
		}
	}
}

// Without a digest there is nothing to promote: the build fails after the
// push and writes no image definitions.
func TestBuildspecDigestUnreadable(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"query denied after the push": {map[string]string{"FAKE_AFTER_PUSH": "denied"}, "was pushed but its digest cannot be read: An error occurred (AccessDeniedException)"},
		"not a digest":                {map[string]string{"FAKE_DIGEST": "None"}, `the digest of ` + repoURI + ":" + commitTag + ` is "None", not sha256:<64 hex digits>`},
		"reused image, short digest":  {map[string]string{"FAKE_IMAGE": "exists", "FAKE_DIGEST": "sha256:1234"}, `is "sha256:1234", not sha256:<64 hex digits>`},
	} {
		t.Run(name, func(t *testing.T) {
			r := runBuild(t, scenario{dockerfile: dockerfileWithTests, env: tc.env})
			if r.succeeded || len(r.files) > 0 {
				t.Fatalf("the build succeeded or wrote image definitions without a digest\n%s", r)
			}
			if !strings.Contains(r.output, "error: ") || !strings.Contains(r.output, tc.want) {
				t.Errorf("no clear error containing %q\n%s", tc.want, r)
			}
		})
	}
}

func TestBuildspecDockerfileWithoutTestStage(t *testing.T) {
	t.Parallel()
	for name, dockerfile := range map[string]string{"no test stage": dockerfileWithoutTests, "no Dockerfile": ""} {
		t.Run(name, func(t *testing.T) {
			r := runBuild(t, scenario{dockerfile: dockerfile})
			if r.succeeded || r.called("docker build") >= 0 || r.called("docker push") >= 0 {
				t.Fatalf("a Dockerfile without a test stage must fail the build before docker build\n%s", r)
			}
			if !strings.Contains(r.output, "error: the Dockerfile has no stage named test") {
				t.Errorf("no clear message for the missing test stage\n%s", r)
			}
		})
	}
}

func TestBuildspecDescribeImagesDenied(t *testing.T) {
	t.Parallel()
	r := runBuild(t, scenario{dockerfile: dockerfileWithTests, env: map[string]string{"FAKE_IMAGE": "denied"}})
	if r.succeeded || r.called("docker build") >= 0 || r.called("docker push") >= 0 {
		t.Fatalf("an unanswered existence check must fail the build before docker build\n%s", r)
	}
	if !strings.Contains(r.output, "AccessDeniedException") {
		t.Errorf("the error does not show the cause\n%s", r)
	}
}

// The commands, joined into one script as they run in the build's shell
// session, pass shellcheck. Variables CodeBuild provides are declared, and
// shellcheck also checks upper-case variables, so a misspelt name is caught.
func TestBuildspecShellcheck(t *testing.T) {
	shellcheck, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatal("shellcheck is not installed (Debian package shellcheck; .ci/run installs it)")
	}
	phases, _ := deployedPhases(t)
	var script strings.Builder
	script.WriteString("#!/usr/bin/env bash\n")
	script.WriteString("# Set by CodeBuild: the project's environment variables and CodeBuild's own.\n")
	script.WriteString("export REPOSITORY_URI REPOSITORY_NAME CONTAINER_NAME CONTAINER_NAMES IMAGE_PLATFORM " +
		build.VarCommitID + " " + build.VarGitHubToken +
		" AWS_DEFAULT_REGION CODEBUILD_RESOLVED_SOURCE_VERSION CODEBUILD_BUILD_SUCCEEDING\n")
	for _, p := range phases {
		fmt.Fprintf(&script, "\n# %s\n", p.name)
		for _, c := range p.commands {
			script.WriteString(c + "\n")
		}
	}
	cmd := exec.Command(shellcheck, "--enable=check-unassigned-uppercase", "--format=gcc", "-")
	cmd.Stdin = strings.NewReader(script.String())
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("shellcheck: %v\n%s\nscript:\n%s", err, out, script.String())
	}
}
