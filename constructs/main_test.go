// The constructs' tests, in files named after the package they test
// (encryption_test.go tests package encryption), in one test binary: each
// binary that imports the CDK is linked on every go test run (2 to 3.5 s of
// CPU and 80 MB on 2 cores) and starts its own jsii kernel, so a binary per
// package costs seconds the tests do not. The tests go through each
// package's exported API, as its users do. The tests of internal/suppress
// (suppress_test.go) and internal/cdktest (cdktest_*_test.go) are here for
// the same reason. A test of unexported code stays in its package
// (constructs/dashboard's body_test.go); the validator's bundling is
// internal/gobundle, whose tests link no CDK.
package constructs_test

import (
	"testing"

	"cicd/internal/cdktest"
)

func TestMain(m *testing.M) { cdktest.Main(m) }
