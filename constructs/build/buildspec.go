package build

// Buildspec is the inline buildspec, kept as data so tests can run its
// commands with bash exactly as the project emits them.
type Buildspec struct {
	// Variables are set for every command (the buildspec's env.variables).
	Variables map[string]string
	PreBuild  []string
	Build     []string
	PostBuild []string
}

// Spec returns the buildspec. Its commands read REPOSITORY_URI,
// REPOSITORY_NAME, CONTAINER_NAME, CONTAINER_NAMES (optional), IMAGE_PLATFORM,
// COMMIT_ID and GITHUB_TOKEN (optional), and CodeBuild's own
// AWS_DEFAULT_REGION, CODEBUILD_RESOLVED_SOURCE_VERSION and
// CODEBUILD_BUILD_SUCCEEDING. All commands share one shell session (variables
// set by one are seen by the next), but each ends on its own: exit 1 fails
// that command, and with on-failure ABORT its phase and the build. Commands
// never call exit 0, so control flow stays inside one command. IMAGE_TAG,
// IMAGE_URI and IMAGE_DIGEST are exported because CodeBuild exports
// environment variables.
//
// The token reaches docker build only as a BuildKit secret read from the
// environment (never a build argument, so never in the image's history or
// layers); a Dockerfile uses it with RUN --mount=type=secret,id=github_token.
func Spec() Buildspec {
	return Buildspec{
		Variables: map[string]string{
			// --secret and RUN --mount need BuildKit; the image's Docker may
			// not make it the default builder.
			"DOCKER_BUILDKIT": "1",
		},
		PreBuild: []string{
			`COMMIT="${COMMIT_ID:-${CODEBUILD_RESOLVED_SOURCE_VERSION:-}}"; if [ -z "$COMMIT" ]; then echo "error: no commit id: COMMIT_ID and CODEBUILD_RESOLVED_SOURCE_VERSION are both empty" >&2; exit 1; fi`,
			`export IMAGE_TAG="${COMMIT:0:12}"; export IMAGE_URI="$REPOSITORY_URI:$IMAGE_TAG"; echo "Image: $IMAGE_URI"`,
			`if [ -n "${` + VarGitHubToken + `:-}" ]; then BUILD_SECRET="id=` + SecretID + `,env=` + VarGitHubToken + `"; echo "The token is passed to docker build as BuildKit secret ` + SecretID + `"; else BUILD_SECRET=""; fi`,
			`echo "Logging in to ${REPOSITORY_URI%%/*}"; aws ecr get-login-password --region "$AWS_DEFAULT_REGION" | docker login --username AWS --password-stdin "${REPOSITORY_URI%%/*}"`,
			`if FOUND="$(aws ecr describe-images --repository-name "$REPOSITORY_NAME" --image-ids imageTag="$IMAGE_TAG" --query 'imageDetails[0].imageDigest' --output text 2>&1)"; then IMAGE_EXISTS=true; export IMAGE_DIGEST="$FOUND"; echo "$IMAGE_URI is already in the repository: reusing it"; elif printf '%s' "$FOUND" | grep -q ImageNotFoundException; then IMAGE_EXISTS=false; else echo "error: cannot tell whether $IMAGE_URI exists: $FOUND" >&2; exit 1; fi`,
		},
		Build: []string{
			`if [ "$IMAGE_EXISTS" != true ] && ! grep -Eiq '^FROM[[:space:]].*[[:space:]]AS[[:space:]]+test[[:space:]]*$' Dockerfile; then echo "error: the Dockerfile has no stage named test; add one that runs the unit tests" >&2; exit 1; fi`,
			`if [ "$IMAGE_EXISTS" != true ]; then echo "Running unit tests (Dockerfile stage test) for $IMAGE_PLATFORM"; docker build --platform "$IMAGE_PLATFORM" ${BUILD_SECRET:+--secret "$BUILD_SECRET"} --target test .; fi`,
			`if [ "$IMAGE_EXISTS" != true ]; then docker build --platform "$IMAGE_PLATFORM" ${BUILD_SECRET:+--secret "$BUILD_SECRET"} --tag "$IMAGE_URI" .; fi`,
		},
		PostBuild: []string{
			`if [ "${CODEBUILD_BUILD_SUCCEEDING:-0}" != 1 ]; then echo "error: build or unit tests failed; $IMAGE_URI was not pushed" >&2; exit 1; fi`,
			`if [ "$IMAGE_EXISTS" != true ]; then docker push "$IMAGE_URI"; if ! FOUND="$(aws ecr describe-images --repository-name "$REPOSITORY_NAME" --image-ids imageTag="$IMAGE_TAG" --query 'imageDetails[0].imageDigest' --output text 2>&1)"; then echo "error: $IMAGE_URI was pushed but its digest cannot be read: $FOUND" >&2; exit 1; fi; export IMAGE_DIGEST="$FOUND"; fi`,
			// Every environment deploys exactly the image that was gated: by
			// digest, not by tag.
			`if ! [[ "${IMAGE_DIGEST:-}" =~ ^sha256:[0-9a-f]{64}$ ]]; then echo "error: the digest of $IMAGE_URI is \"${IMAGE_DIGEST:-}\", not sha256:<64 hex digits>" >&2; exit 1; fi; echo "Digest: $IMAGE_DIGEST"`,
			`printf '[{"name":"%s","imageUri":"%s"}]\n' "$CONTAINER_NAME" "$REPOSITORY_URI@$IMAGE_DIGEST" > ` + OutputFile,
			`read -r -a NAMES <<< "${CONTAINER_NAMES:-}"; for NAME in "${NAMES[@]}"; do printf '[{"name":"%s","imageUri":"%s"}]\n' "$NAME" "$REPOSITORY_URI@$IMAGE_DIGEST" > "` + definitionsPrefix + `$NAME` + definitionsSuffix + `"; done`,
		},
	}
}

func (s Buildspec) object(artifacts []string) *map[string]interface{} {
	phase := func(commands []string) map[string]interface{} {
		return map[string]interface{}{"on-failure": "ABORT", "commands": commands}
	}
	return &map[string]interface{}{
		"version": "0.2",
		"env": map[string]interface{}{
			"shell":              "bash",
			"variables":          s.Variables,
			"exported-variables": []string{VarImageTag, VarImageURI, VarImageDigest},
		},
		"phases": map[string]interface{}{
			"pre_build": phase(s.PreBuild),
			"build":     phase(s.Build),
			// post_build runs even when build failed; its first command
			// stops it then, before anything is pushed.
			"post_build": phase(s.PostBuild),
		},
		"artifacts": map[string]interface{}{"files": artifacts},
	}
}
