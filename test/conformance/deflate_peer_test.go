package conformance_test

import (
	"bytes"
	stdflate "compress/flate"
	"fmt"
	"io"
	"strconv"
	"strings"

	kflate "github.com/klauspost/compress/flate"
)

// pmdParams are the negotiated parameters of permessage-deflate (RFC 7692
// §7.1): window bits 0 means the parameter was absent (15 applies).
type pmdParams struct {
	serverNoTakeover bool
	clientNoTakeover bool
	serverMaxBits    int
	clientMaxBits    int
}

// bits returns n, or 15 when the parameter was absent.
func bits(n int) int {
	if n == 0 {
		return 15
	}
	return n
}

// pmdOffer is one offer as the Autobahn TestSuite's client makes it:
// it always announces client_no_context_takeover and client_max_window_bits
// (acceptNoContextTakeover, acceptMaxWindowBits) and may ask the server for
// no context takeover and a window.
type pmdOffer struct {
	requestNoTakeover bool
	requestMaxBits    int
}

func (o pmdOffer) String() string {
	s := "permessage-deflate; client_no_context_takeover; client_max_window_bits"
	if o.requestNoTakeover {
		s += "; server_no_context_takeover"
	}
	if o.requestMaxBits != 0 {
		s += "; server_max_window_bits=" + strconv.Itoa(o.requestMaxBits)
	}
	return s
}

// parsedOffer is one element of a Sec-WebSocket-Extensions header: its
// name and parameters (value "" for a parameter without one).
type parsedOffer struct {
	name   string
	params map[string]string
	order  []string
}

// parseExtensions parses a Sec-WebSocket-Extensions value (RFC 6455 §9.1),
// without quoted strings, which permessage-deflate never needs.
func parseExtensions(v string) ([]parsedOffer, error) {
	var out []parsedOffer
	for _, ext := range strings.Split(v, ",") {
		parts := strings.Split(ext, ";")
		o := parsedOffer{name: strings.TrimSpace(parts[0]), params: map[string]string{}}
		if o.name == "" {
			return nil, fmt.Errorf("empty extension in %q", v)
		}
		for _, p := range parts[1:] {
			k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
			k = strings.TrimSpace(k)
			if _, dup := o.params[k]; dup {
				return nil, fmt.Errorf("parameter %s repeated in %q (RFC 7692 §7)", k, ext)
			}
			o.params[k] = strings.TrimSpace(val)
			o.order = append(o.order, k)
		}
		out = append(out, o)
	}
	return out, nil
}

// windowParam reads a max_window_bits value, 8 to 15.
func windowParam(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 8 || n > 15 || strconv.Itoa(n) != v {
		return 0, fmt.Errorf("max_window_bits value %q is not 8..15 (RFC 7692 §7.1.2)", v)
	}
	return n, nil
}

// deflater compresses messages the way one side of a permessage-deflate
// connection does: one flate stream across messages with context
// takeover, a fresh one per message without.
type deflater struct {
	buf bytes.Buffer
	w   interface {
		io.Writer
		Flush() error
		Reset(io.Writer)
	}
	takeover bool
}

// newDeflater makes a compressor whose window is 2^windowBits. The
// standard library's writer cannot be limited below 32 KiB, so smaller
// windows use klauspost's windowed writer, which can.
func newDeflater(windowBits int, takeover bool) *deflater {
	d := &deflater{takeover: takeover}
	if windowBits >= 15 {
		w, _ := stdflate.NewWriter(&d.buf, stdflate.BestSpeed)
		d.w = w
	} else {
		w, err := kflate.NewWriterWindow(&d.buf, 1<<windowBits)
		if err != nil {
			panic(err)
		}
		d.w = w
	}
	return d
}

// compress returns the message's compressed payload, the trailing
// 00 00 ff ff of the sync flush removed (RFC 7692 §7.2.1).
func (d *deflater) compress(msg []byte) []byte {
	d.buf.Reset()
	if !d.takeover {
		d.w.Reset(&d.buf)
	}
	_, _ = d.w.Write(msg)
	_ = d.w.Flush()
	out := bytes.Clone(d.buf.Bytes())
	if !bytes.HasSuffix(out, []byte{0, 0, 0xff, 0xff}) {
		panic("sync flush did not end in 00 00 ff ff")
	}
	return out[:len(out)-4]
}

// inflater decompresses messages of one direction. With context takeover
// the previous output (up to the window the sender may use) is the
// dictionary of the next message; without, each message stands alone, so
// a sender that refers back across messages fails here.
type inflater struct {
	takeover bool
	window   int
	history  []byte
}

func newInflater(windowBits int, takeover bool) *inflater {
	return &inflater{takeover: takeover, window: 1 << windowBits}
}

// decompress appends 00 00 ff ff (RFC 7692 §7.2.2) and a final empty
// stored block so that the reader ends cleanly, and checks that the
// message's data ends exactly there.
func (f *inflater) decompress(payload []byte) ([]byte, error) {
	in := append(bytes.Clone(payload), 0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff)
	var dict []byte
	if f.takeover {
		dict = f.history
	}
	r := stdflate.NewReaderDict(bytes.NewReader(in), dict)
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("inflating a %d-byte payload (dictionary %d bytes): %w", len(payload), len(dict), err)
	}
	if f.takeover {
		f.history = append(f.history, out...)
		if len(f.history) > f.window {
			f.history = bytes.Clone(f.history[len(f.history)-f.window:])
		}
	}
	return out, nil
}
