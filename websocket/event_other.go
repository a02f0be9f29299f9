//go:build !linux

package websocket

// Without epoll, an EventLoop runs a goroutine per connection.
func newEventBackend(EventLoopOptions) (eventBackend, error) {
	return newGoroutineBackend(), nil
}

// shutdown is never called here: served connections are not in event mode.
func (ec *eventConn) shutdown() error { return ec.c.nc.Close() }
