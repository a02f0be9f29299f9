//go:build !amd64 || purego

package websocket

// maskWide has no vector loop on this platform.
func maskWide([]byte, uint64) int { return 0 }
