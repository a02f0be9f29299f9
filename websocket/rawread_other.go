//go:build !unix

package websocket

import "net"

// rawReader is not used where descriptors cannot be read directly: a
// connection then holds its read buffer while it waits.
type rawReader struct {
	size int32 // read by Conn.sizeReadBuffer, which is only reached when a rawReader is in use
}

func newRawReader(*rawReader, net.Conn, int) *rawReader { return nil }

func (r *rawReader) read() (bp *[]byte, n int, err error) { panic("unreachable") }

func (r *rawReader) grow() {}
