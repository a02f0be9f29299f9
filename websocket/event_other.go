//go:build !linux

package websocket

import (
	"sync/atomic"
	"time"
)

// Without epoll, an EventLoop runs a goroutine per connection.
func newEventBackend(opts EventLoopOptions) (eventBackend, error) {
	b := newGoroutineBackend()
	b.partsAbove = opts.PartsAbove
	return b, nil
}

// eventConn is what an epoll loop keeps per connection
// (event_conn_linux.go). Here no connection is in event mode: a
// goroutine reads each one, and this is what Close needs of it.
type eventConn struct {
	c          *Conn
	closeTimer atomic.Pointer[time.Timer]
}

// shutdown is never called here: served connections are not in event mode.
func (ec *eventConn) shutdown() error { return ec.c.nc.Close() }
