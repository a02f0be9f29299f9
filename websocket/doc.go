// Package websocket implements the WebSocket protocol (RFC 6455) for servers and
// clients, with permessage-deflate (RFC 7692).
//
// A server upgrades an HTTP request with [Accept]; a client connects with [Dial].
// Both return a [*Conn] that reads and writes whole messages ([Conn.Read],
// [Conn.Write]) or streams them ([Conn.Reader], [Conn.Writer]).
//
// The defaults are safe: text messages are checked to be valid UTF-8 as they
// arrive, messages are limited to [DefaultReadLimit] bytes, the Origin of a
// browser request must match the Host unless allowed by
// [AcceptOptions.OriginPatterns], and handshakes and close handshakes time out.
//
// Every Conn method may be called from several goroutines at once, except that
// only one goroutine may read at a time. Control frames (ping, pong, close) are
// answered by the reading goroutine, so an application that only writes must
// still read (or call [Conn.CloseRead]) for pings to be answered and for the
// close handshake to complete.
//
// Small messages written while the reader still has input buffered leave
// together, when the reader has used that input up: a client that sends
// sixteen messages at once gets the sixteen answers in one system call
// (see [Conn.Write]). An [EventLoop] does the same for the connections it
// serves.
package websocket
