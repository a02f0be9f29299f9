package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
)

// listen binds addr and turns "address in use" into one clear line that
// names the flag to change.
func listen(ctx context.Context, addr, flagName string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("address %s is already in use; choose another with %s HOST:PORT", addr, flagName)
		}
		return nil, fmt.Errorf("cannot listen on %s (set %s HOST:PORT): %w", addr, flagName, err)
	}
	return ln, nil
}
