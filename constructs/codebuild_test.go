package constructs_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	registryHost = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
	repoURI      = registryHost + "/cicd-pipeline-test"
	repoName     = "cicd-pipeline-test"
	commitID     = "0123456789abcdef0123456789abcdef01234567"
	commitTag    = "0123456789ab"
	resolved     = "fedcba9876543210fedcba9876543210fedcba98"
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
//
// It starts no process of its own (no command substitution, no env or cat):
// the harness runs hundreds of commands, and every fork costs milliseconds.
const session = `. "$SESSION_STATE"
IFS= read -r __dir <"$SESSION_DIR" # the file may end without a newline
cd "${__dir:?no working directory in $SESSION_DIR}" || exit 1
__save() {
  local __rc=$? __v __vars
  # No command substitution: a fork per variable would make every command
  # of the harness take most of a second. The exported variables
  # (what env would list) go to SESSION_ENV from the same loop.
  compgen -v >"$SESSION_STATE.names"
  mapfile -t __vars <"$SESSION_STATE.names"
  for __v in "${__vars[@]}"; do
    case "${!__v@a}" in *x*) [ -z "${!__v+set}" ] || printf '%s=%s\0' "$__v" "${!__v}" >&3 ;; esac
    case "$__v" in
    BASH* | SHELLOPTS | PIPESTATUS | FUNCNAME | GROUPS | DIRSTACK | SHLVL | PWD | OLDPWD | _ | \
      RANDOM | SRANDOM | SECONDS | LINENO | HISTCMD | EPOCHSECONDS | EPOCHREALTIME | PPID | UID | EUID | \
      COMP_WORDBREAKS | OPTIND | OPTERR | IFS | PS1 | PS2 | PS4 | CODEBUILD_BUILD_SUCCEEDING | SESSION_* | __*) continue ;;
    esac
    case "${!__v@a}" in *r*) continue ;; esac
    declare -p "$__v" 2>/dev/null
  done >"$SESSION_STATE" 3>"$SESSION_ENV"
  pwd >"$SESSION_DIR"
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
	_, j := buildDefaults.Template(t)
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
