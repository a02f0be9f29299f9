//go:build !unix && !windows

package bench

import "time"

// SelfCPU returns 0 where the process's CPU time cannot be read: reports
// then leave the load generator's CPU out.
func SelfCPU() time.Duration { return 0 }
