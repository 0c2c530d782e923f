// The constructs' tests, in files named after the package they test
// (encryption_test.go tests package encryption), in one test binary: each
// binary that imports the CDK is linked on every go test run (2 to 3 s and
// 79 MB on 2 cores) and starts its own jsii kernel, so nine binaries cost
// seconds the tests do not. The tests go through each package's exported
// API, as its users do. A test of unexported code stays in the package
// (constructs/dashboard's body_test.go); build and validator keep their
// tests, which run their own tools (the buildspec under bash, the Lambda's
// bundling).
package constructs_test

import (
	"testing"

	"cicd/internal/cdktest"
)

func TestMain(m *testing.M) { cdktest.Main(m) }
