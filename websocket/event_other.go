//go:build !linux

package websocket

// Without epoll, an EventLoop runs a goroutine per connection.
func newEventBackend(opts EventLoopOptions) (eventBackend, error) {
	b := newGoroutineBackend()
	b.partsAbove = opts.PartsAbove
	return b, nil
}

// fdConn is empty: served connections keep their net.Conn.
type fdConn struct{}

// shutdown is never called here: served connections are not in event mode.
func (ec *eventConn) shutdown() error { return ec.c.nc.Close() }
