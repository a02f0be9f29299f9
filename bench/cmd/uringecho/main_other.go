//go:build !(linux && amd64)

// Command uringecho is a WebSocket echo server on io_uring; it is written
// for Linux/amd64 only.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "uringecho: Linux/amd64 only")
	os.Exit(1)
}
