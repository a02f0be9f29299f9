// Package server is the Duplex real-time messaging server: it speaks the
// client wire protocol of docs/protocol.md over WebSocket, verifies JWT
// connection and subscription tokens, enforces per-connection limits, and
// offers an HTTP API for backends, Prometheus metrics and health checks.
//
// Channels, fan-out, presence and history live in package hub; the server
// owns the sessions. Each connection has one reading goroutine, which handles
// its commands in order, and one writing goroutine, which drains a bounded
// send queue. A publication is encoded and framed once for all subscribers
// (hub.Push.Encode and websocket.PreparedMessage), so a fan-out to many
// connections costs one queue append per subscriber. A connection whose queue
// overflows is disconnected with code 4006 ("slow") rather than sent a stream
// with holes; it reconnects and recovers.
//
// A Server is an http.Handler:
//
//	srv, err := server.New(cfg) // cfg from DefaultConfig, a file, flags...
//	if err != nil { ... }
//	go http.Serve(ln, srv)
//	...
//	srv.Shutdown(ctx) // 4001 to every client, spread over the drain period
package server
