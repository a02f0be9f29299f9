//go:build !linux

package conformance_test

import "os/exec"

// dieWithParent is a no-op where the kernel offers no parent-death signal;
// the test's cleanup still stops the process.
func dieWithParent(*exec.Cmd) {}
