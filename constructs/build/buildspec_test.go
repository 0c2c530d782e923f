package build_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"cicd/constructs/build"
)

// The buildspec's commands run here with bash as CodeBuild runs them, with
// stand-in docker and aws commands that record their calls.
//
// CodeBuild semantics emulated (buildspec version 0.2, env.shell bash):
//   - the commands of all phases share one shell session: a variable set or
//     exported, or a directory changed, by one command is seen by the next.
//     Each command runs in its own bash process that restores the session
//     left by the previous one and saves it when it ends, so `exit 1` fails
//     that command only, as it does in CodeBuild;
//   - a command fails when its exit status is not 0; in a phase with
//     on-failure ABORT the first failing command ends the phase;
//   - a failed install or pre_build ends the build; a failed build phase
//     still runs post_build, with CODEBUILD_BUILD_SUCCEEDING=0 (1 otherwise);
//   - the build succeeds when no phase failed; exported variables are the
//     environment variables of that name when post_build ends.

const (
	registry  = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
	repoURI   = registry + "/cicd-pipeline-test"
	repoName  = "cicd-pipeline-test"
	commitID  = "0123456789abcdef0123456789abcdef01234567"
	commitTag = "0123456789ab"
	resolved  = "fedcba9876543210fedcba9876543210fedcba98"
	// The digests the stand-in registry reports: of an image that was
	// already there, and of the one just pushed.
	existingDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	pushedDigest   = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	// A token as Parameter Store hands it to the build.
	tokenValue = "ghp_tokenValueThatMustNotLeak0123456789"
)

// describeImages is the existence and digest query, as the stand-in logs it.
const describeImages = "aws ecr describe-images --repository-name " + repoName + " --image-ids imageTag=" + commitTag +
	" --query imageDetails[0].imageDigest --output text"

const dockerfileWithTests = `FROM public.ecr.aws/docker/library/golang:1.26 AS build
COPY . /src
FROM build AS test
RUN go test ./...
FROM build
`

const dockerfileWithoutTests = `FROM public.ecr.aws/docker/library/golang:1.26 AS build
COPY . /src
FROM build
`

// Stand-ins record "name args..." to $FAKE_LOG, one line a call. docker
// login reads its password before it records the call, so the order of the
// log is that of the calls even though aws and docker run in one pipeline.
// docker build records in $FAKE_SECRETS what each BuildKit secret read from
// its environment, as BuildKit does with --secret id=ID,env=NAME; docker push
// makes the image exist for aws ecr describe-images.
const fakeDocker = `#!/usr/bin/env bash
[ "$1" != login ] || password=$(cat)
printf 'docker' >>"$FAKE_LOG"; printf ' %s' "$@" >>"$FAKE_LOG"; echo >>"$FAKE_LOG"
case "$1" in
login)
  [ "$password" = fake-ecr-password ] || { echo "docker: login without the ECR password" >&2; exit 1; } ;;
build)
  shift
  target=""
  while [ $# -gt 1 ]; do
    case "$1" in
    --target) target=$2; shift 2 ;;
    --platform | --tag) shift 2 ;;
    --secret)
      [ "${DOCKER_BUILDKIT:-}" = 1 ] || { echo "docker: --secret requires BuildKit" >&2; exit 1; }
      id=${2#id=}; id=${id%%,*}; name=${2##*,env=}
      printf '%s=%s\n' "$id" "${!name:-}" >>"$FAKE_SECRETS"; shift 2 ;;
    *) echo "docker: unexpected build option $1" >&2; exit 2 ;;
    esac
  done
  [ "$1" = . ] || { echo "docker: build context $1, want ." >&2; exit 2; }
  if [ "$target" = test ]; then
    [ -z "${FAKE_TESTS_FAIL:-}" ] || { echo "--- FAIL: TestService"; exit 1; }
  else
    [ -z "${FAKE_BUILD_FAILS:-}" ] || { echo "docker: build failed" >&2; exit 1; }
  fi ;;
push)
  [ -z "${FAKE_PUSH_FAILS:-}" ] || { echo "docker: push failed" >&2; exit 1; }
  touch "$FAKE_PUSHED" ;;
*)
  echo "docker: unexpected call: $*" >&2; exit 2 ;;
esac
`

// The stand-in registry answers the digest query (--query
// imageDetails[0].imageDigest --output text) with the digest alone, as the
// AWS CLI does. FAKE_IMAGE is the image's state before the build; after a
// push it exists with pushedDigest, unless FAKE_AFTER_PUSH says otherwise.
const fakeAWS = `#!/usr/bin/env bash
printf 'aws' >>"$FAKE_LOG"; printf ' %s' "$@" >>"$FAKE_LOG"; echo >>"$FAKE_LOG"
case "$1 $2" in
"ecr get-login-password")
  echo fake-ecr-password ;;
"ecr describe-images")
  state=${FAKE_IMAGE:-missing} digest=${FAKE_DIGEST:-` + existingDigest + `}
  if [ -e "$FAKE_PUSHED" ]; then state=${FAKE_AFTER_PUSH:-exists} digest=${FAKE_DIGEST:-` + pushedDigest + `}; fi
  case "$*" in
  *"--query imageDetails[0].imageDigest --output text"*) ;;
  *) echo "aws: describe-images without the digest query: $*" >&2; exit 2 ;;
  esac
  case "$state" in
  exists)
    echo "$digest" ;;
  missing)
    echo "An error occurred (ImageNotFoundException) when calling the DescribeImages operation: The image with imageId {imageDigest:'null', imageTag:'tag'} does not exist" >&2
    exit 254 ;;
  denied)
    echo "An error occurred (AccessDeniedException) when calling the DescribeImages operation: User is not authorized to perform: ecr:DescribeImages" >&2
    exit 254 ;;
  esac ;;
*)
  echo "aws: unexpected call: $*" >&2; exit 2 ;;
esac
`

// session wraps one command: it restores the session, runs the command and
// saves the session (variables and working directory) however it ends.
const session = `. "$SESSION_STATE"
cd "$(cat "$SESSION_DIR")" || exit 1
__save() {
  local __rc=$? __v
  # No command substitution per variable: a fork each would make every
  # command of the harness take most of a second.
  for __v in $(compgen -v); do
    case "$__v" in
    BASH* | SHELLOPTS | PIPESTATUS | FUNCNAME | GROUPS | DIRSTACK | SHLVL | PWD | OLDPWD | _ | \
      RANDOM | SRANDOM | SECONDS | LINENO | HISTCMD | EPOCHSECONDS | EPOCHREALTIME | PPID | UID | EUID | \
      COMP_WORDBREAKS | OPTIND | OPTERR | IFS | PS1 | PS2 | PS4 | CODEBUILD_BUILD_SUCCEEDING | SESSION_* | __*) continue ;;
    esac
    case "${!__v@a}" in *r*) continue ;; esac
    declare -p "$__v" 2>/dev/null
  done >"$SESSION_STATE"
  pwd >"$SESSION_DIR"
  env -0 >"$SESSION_ENV"
  exit "$__rc"
}
trap __save EXIT
`

type phase struct {
	name      string
	onFailure string
	commands  []string
}

// scenario is one build: the environment CodeBuild gives it and how the
// stand-ins behave.
type scenario struct {
	env        map[string]string // CodeBuild and project environment
	dockerfile string            // empty: no Dockerfile
}

// result is what a build did.
type result struct {
	succeeded bool
	failed    []string // phases that failed
	ran       []string // phases that ran
	calls     []string // docker and aws calls, in order
	output    string   // stdout and stderr of every command
	exported  map[string]string
	artifact  []byte            // imagedefinitions.json, nil when absent
	files     map[string][]byte // every imagedefinitions*.json, by name
	secrets   []string          // id=value of each BuildKit secret docker build read
}

func (r result) String() string {
	return fmt.Sprintf("succeeded=%v ran=%v failed=%v\ncalls:\n  %s\noutput:\n%s",
		r.succeeded, r.ran, r.failed, strings.Join(r.calls, "\n  "), r.output)
}

func (r result) called(prefix string) int {
	for i, c := range r.calls {
		if strings.HasPrefix(c, prefix) {
			return i
		}
	}
	return -1
}

// deployedPhases are the phases of the synthesized project, in the order
// CodeBuild runs them, and the buildspec's environment.
func deployedPhases(t *testing.T) ([]phase, deployedSpec) {
	t.Helper()
	_, j := plain.Template(t)
	spec := buildspec(t, j)
	var phases []phase
	for _, name := range []string{"install", "pre_build", "build", "post_build"} {
		if p, ok := spec.Phases[name]; ok {
			phases = append(phases, phase{name: name, onFailure: p.OnFailure, commands: p.Commands})
		}
	}
	return phases, spec
}

func runBuild(t *testing.T, sc scenario) result {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatal("bash is needed to run the buildspec")
	}
	phases, spec := deployedPhases(t)
	exportedNames := spec.Env.Exported
	dir := t.TempDir()
	bin, src := filepath.Join(dir, "bin"), filepath.Join(dir, "src")
	for _, d := range []string{bin, src} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(path, text string, mode os.FileMode) {
		if err := os.WriteFile(path, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(bin, "docker"), fakeDocker, 0o755)
	write(filepath.Join(bin, "aws"), fakeAWS, 0o755)
	if sc.dockerfile != "" {
		write(filepath.Join(src, "Dockerfile"), sc.dockerfile, 0o644)
	}
	log, secrets := filepath.Join(dir, "calls.log"), filepath.Join(dir, "secrets")
	state, cwd, envFile := filepath.Join(dir, "state"), filepath.Join(dir, "cwd"), filepath.Join(dir, "env")
	write(log, "", 0o644)
	write(secrets, "", 0o644)
	write(state, "", 0o644)
	write(cwd, src, 0o644)

	// The stand-ins come first on PATH; everything else is the machine's.
	base := map[string]string{
		"PATH":                              bin + ":/usr/local/bin:/usr/bin:/bin",
		"HOME":                              dir,
		"FAKE_LOG":                          log,
		"FAKE_SECRETS":                      secrets,
		"FAKE_PUSHED":                       filepath.Join(dir, "pushed"),
		"SESSION_STATE":                     state,
		"SESSION_DIR":                       cwd,
		"SESSION_ENV":                       envFile,
		"AWS_DEFAULT_REGION":                "eu-west-1",
		"CODEBUILD_SRC_DIR":                 src,
		"CODEBUILD_RESOLVED_SOURCE_VERSION": resolved,
		"REPOSITORY_URI":                    repoURI,
		"REPOSITORY_NAME":                   repoName,
		"CONTAINER_NAME":                    testContainer,
		"IMAGE_PLATFORM":                    "linux/amd64",
		build.VarCommitID:                   commitID,
	}
	for k, v := range sc.env {
		base[k] = v
	}
	// The buildspec's own variables win over the project's.
	for k, v := range spec.Env.Variables {
		base[k] = v
	}

	var res result
	var output bytes.Buffer
	succeeding := true
	for _, p := range phases {
		res.ran = append(res.ran, p.name)
		phaseFailed := false
		for i, command := range p.commands {
			script := filepath.Join(dir, fmt.Sprintf("%s-%d.sh", p.name, i))
			write(script, session+command+"\n", 0o644)
			cmd := exec.Command("bash", script)
			cmd.Dir = src
			cmd.Env = []string{}
			for k, v := range base {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			succeedingValue := "0"
			if succeeding {
				succeedingValue = "1"
			}
			cmd.Env = append(cmd.Env, "CODEBUILD_BUILD_SUCCEEDING="+succeedingValue)
			cmd.Stdout, cmd.Stderr = &output, &output
			fmt.Fprintf(&output, "[%s] %s\n", p.name, command)
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(&output, "[%s] command failed: %v\n", p.name, err)
				phaseFailed = true
				if p.onFailure != "CONTINUE" {
					break
				}
			}
		}
		if phaseFailed {
			succeeding = false
			res.failed = append(res.failed, p.name)
			if p.onFailure == "CONTINUE" {
				continue
			}
			if p.name == "build" {
				continue // post_build still runs
			}
			break
		}
	}
	res.succeeded = succeeding
	res.output = output.String()

	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line != "" {
			res.calls = append(res.calls, line)
		}
	}
	res.exported = map[string]string{}
	if env, err := os.ReadFile(envFile); err == nil {
		for _, kv := range strings.Split(string(env), "\x00") {
			k, v, _ := strings.Cut(kv, "=")
			for _, name := range exportedNames {
				if k == name {
					res.exported[k] = v
				}
			}
		}
	}
	if a, err := os.ReadFile(filepath.Join(src, build.OutputFile)); err == nil {
		res.artifact = a
	}
	res.files = map[string][]byte{}
	definitions, err := filepath.Glob(filepath.Join(src, "imagedefinitions*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range definitions {
		if data, err := os.ReadFile(path); err == nil {
			res.files[filepath.Base(path)] = data
		}
	}
	if data, err := os.ReadFile(secrets); err == nil {
		res.secrets = strings.Fields(string(data))
	}
	return res
}

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
		"docker login --username AWS --password-stdin " + registry,
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
