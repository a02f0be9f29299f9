//go:build !unix

package websocket

import "net"

// rawReader is not used where descriptors cannot be read directly: a
// connection then holds its read buffer while it waits.
type rawReader struct{}

func newRawReader(*rawReader, net.Conn, int) *rawReader { return nil }

func (r *rawReader) read() (bp *[]byte, n int, err error) { panic("unreachable") }

func (r *rawReader) grow() {}
