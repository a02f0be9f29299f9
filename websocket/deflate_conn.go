package websocket

import (
	"context"
	"errors"
	"net/http"
)

// Wiring of permessage-deflate into the connection's read and write paths.

// deflater is the compression state of a MessageWriter.
type deflater struct{}

func (w *MessageWriter) startDeflate()                      {}
func (w *MessageWriter) deflating() bool                    { return false }
func (w *MessageWriter) deflateWrite(p []byte) (int, error) { return 0, errors.New("websocket: compression not negotiated") }
func (w *MessageWriter) deflateFinish() error               { return nil }

func (c *Conn) compressMessage(n int) bool { return false }

func (c *Conn) writeCompressed(ctx context.Context, typ MessageType, p []byte) error {
	return errors.New("websocket: compression not negotiated")
}

func (c *Conn) beginInflate() {}
func (c *Conn) endInflate()   {}
func (c *Conn) inflate(p []byte) (int, error) {
	return 0, errors.New("websocket: compression not negotiated")
}

// negotiateServer answers the client's permessage-deflate offers when o
// enables compression, and returns the Sec-WebSocket-Extensions response.
func (cfg *connConfig) negotiateServer(r *http.Request, o *CompressionOptions) (string, error) {
	return "", nil
}

// negotiateClient checks the server's answer to our offer.
func (cfg *connConfig) negotiateClient(answers []string, o *CompressionOptions) (string, error) {
	if len(answers) > 0 && o == nil {
		return "", errors.New("the server answered with extensions although none were offered")
	}
	return "", nil
}
