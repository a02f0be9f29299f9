//go:build !linux

package bench

import (
	"context"
	"sync/atomic"
)

// loopsUsable: the echo mode's epoll loops exist on Linux only.
func loopsUsable(*Target, *EchoConfig) bool { return false }

func runLoops(context.Context, *Control, []*echoConn, int64, *errorLog, *atomic.Int64) string {
	panic("unreachable: loopsUsable is false")
}
