// Package uring submits sends and receives on many sockets in one system
// call through Linux's io_uring, for the event loops of the websocket
// package and of the load generator. It does only that: every operation
// is non-blocking (MSG_DONTWAIT) and completes within the call.
package uring
