package main

import (
	"net"

	"github.com/lxzan/gws"
)

func init() { register("gws", runGws) }

type gwsEcho struct{ gws.BuiltinEventHandler }

func (gwsEcho) OnPing(c *gws.Conn, payload []byte) { _ = c.WritePong(payload) }

func (gwsEcho) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close() // returns the pooled buffer
	work()
	_ = c.WriteMessage(m.Opcode, m.Bytes())
}

// runGws uses gws's own server (gws.NewServer), which parses the upgrade
// request itself with pooled readers instead of going through net/http.
// ParallelEnabled stays off: an echo must keep message order.
func runGws(cfg config) error {
	opt := &gws.ServerOption{
		ReadMaxPayloadSize:  readLimit,
		WriteMaxPayloadSize: readLimit,
	}
	if cfg.compress {
		opt.PermessageDeflate = gws.PermessageDeflate{
			Enabled:               true,
			Level:                 compressLevel,
			Threshold:             compressThreshold,
			ServerContextTakeover: false,
			ClientContextTakeover: false,
			ServerMaxWindowBits:   15,
			ClientMaxWindowBits:   15,
		}
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := gws.NewServer(gwsEcho{}, opt)
	srv.OnError = func(net.Conn, error) {}
	return srv.RunListener(ln)
}
