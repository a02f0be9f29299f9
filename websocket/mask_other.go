//go:build !amd64 || purego

package websocket

import "math"

// maskWideMin keeps maskWide out of the way: there is no vector loop on
// this platform.
const maskWideMin = math.MaxInt

// maskWide has no vector loop on this platform.
func maskWide([]byte, uint64) int { return 0 }
