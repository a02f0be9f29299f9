package websocket

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Fuzz targets for the parsers that face the network: the frame reader
// (both roles), the server and client handshakes, the UTF-8 validator and
// masking. Run them with test/fuzz.sh; their seed corpora live in
// testdata/fuzz and run with every go test.
//
// The frame reader target is differential: an independent reference
// decoder, written from RFC 6455 alone, says what a conforming endpoint
// must do with the bytes (which messages it delivers, which pings it
// answers, and how the connection ends), and the Conn must do exactly that.

// fuzzReadLimit is small so that inputs can reach the read limit.
const fuzzReadLimit = 1 << 12

// halfPipe is an in-memory connection with half-close: the peer can end
// its direction (EOF for the Conn) while still reading what the Conn
// writes, as TCP allows and net.Pipe does not.
type halfPipe struct {
	r    *io.PipeReader
	w    *io.PipeWriter
	once sync.Once
}

func newHalfPipes() (conn, peer *halfPipe) {
	r1, w1 := io.Pipe() // peer → conn
	r2, w2 := io.Pipe() // conn → peer
	return &halfPipe{r: r1, w: w2}, &halfPipe{r: r2, w: w1}
}

func (p *halfPipe) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *halfPipe) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *halfPipe) Close() error {
	p.once.Do(func() {
		p.r.CloseWithError(net.ErrClosed)
		p.w.Close()
	})
	return nil
}
func (p *halfPipe) CloseWrite() error                { return p.w.Close() }
func (p *halfPipe) LocalAddr() net.Addr              { return pipeAddr{} }
func (p *halfPipe) RemoteAddr() net.Addr             { return pipeAddr{} }
func (p *halfPipe) SetDeadline(time.Time) error      { return nil }
func (p *halfPipe) SetReadDeadline(time.Time) error  { return nil }
func (p *halfPipe) SetWriteDeadline(time.Time) error { return nil }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// hijackRecorder is an http.ResponseWriter whose connection can be taken
// over, so that Accept runs without a server.
type hijackRecorder struct {
	*httptest.ResponseRecorder
	conn     net.Conn
	hijacked bool
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h.conn == nil {
		return nil, nil, errors.New("no connection")
	}
	h.hijacked = true
	return h.conn, bufio.NewReadWriter(bufio.NewReader(h.conn), bufio.NewWriter(h.conn)), nil
}

// fuzzAcceptKey is Sec-WebSocket-Accept computed independently of the
// package (RFC 6455 §4.2.2).
func fuzzAcceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

const fuzzKey = "dGhlIHNhbXBsZSBub25jZQ=="

// openOverPipe returns a Conn in the given role whose peer end is peer;
// out receives everything the Conn writes after the handshake, once the
// Conn has closed its side.
func openOverPipe(t *testing.T, client bool, data []byte) (c *Conn, out <-chan []byte) {
	t.Helper()
	cp, pp := newHalfPipes()
	outc := make(chan []byte, 1)
	if client {
		go func() {
			br := bufio.NewReader(pp)
			req, err := http.ReadRequest(br)
			if err != nil {
				pp.Close()
				outc <- nil
				return
			}
			resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
				fuzzAcceptKey(req.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
			go func() {
				_, _ = pp.Write(append([]byte(resp), data...))
				_ = pp.CloseWrite()
			}()
			b, _ := io.ReadAll(br)
			outc <- b
		}()
		opts := &DialOptions{ReadLimit: fuzzReadLimit, HandshakeTimeout: 10 * time.Second,
			NetDialContext: func(context.Context, string, string) (net.Conn, error) { return cp, nil }}
		conn, _, err := Dial(context.Background(), "ws://fuzz.example/", opts)
		if err != nil {
			t.Fatalf("Dial over the pipe: %v", err)
		}
		return conn, outc
	}
	go func() {
		br := bufio.NewReader(pp)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 101 {
			pp.Close()
			outc <- nil
			return
		}
		go func() {
			_, _ = pp.Write(data)
			_ = pp.CloseWrite()
		}()
		b, _ := io.ReadAll(br)
		outc <- b
	}()
	r := httptest.NewRequest(http.MethodGet, "http://fuzz.example/", nil)
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Sec-WebSocket-Key", fuzzKey)
	r.Header.Set("Sec-WebSocket-Version", "13")
	w := &hijackRecorder{ResponseRecorder: httptest.NewRecorder(), conn: cp}
	conn, err := Accept(w, r, &AcceptOptions{ReadLimit: fuzzReadLimit})
	if err != nil {
		t.Fatalf("Accept over the pipe: %v", err)
	}
	return conn, outc
}

// refMessage is a message the reference decoder delivers.
type refMessage struct {
	typ     MessageType
	payload []byte
}

// refOutcome is how a conforming endpoint must end the connection.
type refOutcome struct {
	msgs  []refMessage
	pongs [][]byte // payloads of the pings it must answer, in order
	// One of: the input ended (eof), the peer closed (peerCode, 1005 for
	// an empty close frame), or the endpoint fails with failCode.
	eof      bool
	peerCode StatusCode
	failCode StatusCode
}

// refDecode is the reference decoder: RFC 6455 §5 and §7 applied to the
// bytes a peer sends to an endpoint in the given role. It checks headers
// before payloads, and the read limit before the payload of a data frame,
// and checks UTF-8 as payload bytes arrive.
func refDecode(data []byte, client bool, limit int64) refOutcome {
	var out refOutcome
	inMsg, msgType := false, MessageType(0)
	var msg []byte
	fail := func(code StatusCode) refOutcome { out.failCode = code; return out }
	for {
		if len(data) < 2 {
			out.eof = true
			return out
		}
		fin, rsv, op := data[0]&0x80 != 0, data[0]&0x70, data[0]&0x0F
		masked, l7 := data[1]&0x80 != 0, uint64(data[1]&0x7F)
		hlen := 2
		switch l7 {
		case 126:
			hlen += 2
		case 127:
			hlen += 8
		}
		if masked {
			hlen += 4
		}
		if len(data) < hlen {
			out.eof = true
			return out
		}
		length := l7
		switch l7 {
		case 126:
			length = uint64(binary.BigEndian.Uint16(data[2:]))
		case 127:
			length = binary.BigEndian.Uint64(data[2:])
			if length>>63 != 0 {
				return fail(StatusProtocolError)
			}
		}
		var key []byte
		if masked {
			key = data[hlen-4 : hlen]
		}
		data = data[hlen:]
		control := op >= 8
		switch {
		case rsv != 0, masked == client:
			return fail(StatusProtocolError)
		case control && (op > 0xA || !fin || length > 125):
			return fail(StatusProtocolError)
		case !control && op > 2:
			return fail(StatusProtocolError)
		case op == 0 && !inMsg, (op == 1 || op == 2) && inMsg:
			return fail(StatusProtocolError)
		}
		if !control {
			if op != 0 {
				inMsg, msgType, msg = true, MessageType(op), []byte{}
			}
			if length > uint64(limit-int64(len(msg))) {
				return fail(StatusMessageTooBig)
			}
		}
		avail := min(length, uint64(len(data)))
		payload := append([]byte(nil), data[:avail]...)
		if masked {
			for i := range payload {
				payload[i] ^= key[i%4]
			}
		}
		data = data[avail:]
		if control {
			if avail < length {
				out.eof = true
				return out
			}
			switch op {
			case 0x9:
				out.pongs = append(out.pongs, payload)
			case 0x8:
				switch {
				case len(payload) == 0:
					out.peerCode = StatusNoStatusRcvd
				case len(payload) == 1:
					return fail(StatusProtocolError)
				default:
					code := int(payload[0])<<8 | int(payload[1])
					if !(code >= 1000 && code <= 1003 || code >= 1007 && code <= 1014 || code >= 3000 && code <= 4999) {
						return fail(StatusProtocolError)
					}
					if !utf8.Valid(payload[2:]) {
						return fail(StatusInvalidFramePayloadData)
					}
					out.peerCode = StatusCode(code)
				}
				return out
			}
			continue
		}
		msg = append(msg, payload...)
		if msgType == MessageText && !refValidPrefix(msg) {
			return fail(StatusInvalidFramePayloadData)
		}
		if avail < length {
			out.eof = true
			return out
		}
		if fin {
			if msgType == MessageText && !utf8.Valid(msg) {
				return fail(StatusInvalidFramePayloadData)
			}
			out.msgs = append(out.msgs, refMessage{msgType, msg})
			inMsg, msg = false, nil
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// refValidPrefix reports whether b can be extended into valid UTF-8. Only
// the byte after a lead byte has a range narrower than 0x80–0xBF (Unicode
// table 3-7), so trying each value for it followed by 0x80 fill finds a
// completion when there is one.
func refValidPrefix(b []byte) bool {
	if utf8.Valid(b) {
		return true
	}
	start := max(0, len(b)-3)
	for i := len(b) - 1; i >= start; i-- {
		if utf8.RuneStart(b[i]) {
			start = i
			break
		}
	}
	if !utf8.Valid(b[:start]) {
		return false
	}
	tail := b[start:]
	for n := 1; n <= 3; n++ {
		for c := 0x80; c <= 0xBF; c++ {
			ext := append(append([]byte(nil), tail...), byte(c))
			for range n - 1 {
				ext = append(ext, 0x80)
			}
			if utf8.Valid(ext) {
				return true
			}
		}
	}
	return false
}

// parseOutput splits what the Conn wrote into frames, checking that each
// is well formed and masked exactly when the Conn is a client.
func parseOutput(t *testing.T, b []byte, client bool) (pongs [][]byte, closeFrame []byte, sentClose bool) {
	t.Helper()
	for len(b) > 0 {
		if len(b) < 2 {
			t.Fatalf("the Conn wrote a truncated frame header % x", b)
		}
		op, masked, l := b[0]&0x0F, b[1]&0x80 != 0, int(b[1]&0x7F)
		if b[0]&0x70 != 0 || b[0]&0x80 == 0 || masked != client || l > 125 {
			t.Fatalf("the Conn wrote a bad control frame header % x", b[:2])
		}
		h := 2
		if masked {
			h += 4
		}
		if len(b) < h+l {
			t.Fatalf("the Conn wrote a truncated frame % x", b)
		}
		p := append([]byte(nil), b[h:h+l]...)
		if masked {
			for i := range p {
				p[i] ^= b[2+i%4]
			}
		}
		b = b[h+l:]
		switch op {
		case byte(opPong):
			if sentClose {
				t.Fatalf("the Conn sent a pong after its close frame")
			}
			pongs = append(pongs, p)
		case byte(opClose):
			if sentClose {
				t.Fatalf("the Conn sent two close frames")
			}
			closeFrame, sentClose = p, true
		default:
			t.Fatalf("the Conn wrote an unexpected frame with opcode %#x", op)
		}
	}
	return pongs, closeFrame, sentClose
}

// checkFrameReader runs data through a Conn in the given role and checks
// it against the reference decoder.
func checkFrameReader(t *testing.T, data []byte, client bool) {
	want := refDecode(data, client, fuzzReadLimit)
	c, outc := openOverPipe(t, client, data)
	var got []refMessage
	var rerr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			typ, p, err := c.Read(context.Background())
			if err != nil {
				rerr = err
				return
			}
			got = append(got, refMessage{typ, p})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.CloseNow()
		t.Fatalf("Read did not return within 10s on % x", data)
	}
	c.CloseNow()
	out := <-outc

	if len(got) != len(want.msgs) {
		t.Fatalf("delivered %d messages, want %d (err %v)", len(got), len(want.msgs), rerr)
	}
	for i := range got {
		if got[i].typ != want.msgs[i].typ || !bytes.Equal(got[i].payload, want.msgs[i].payload) {
			t.Fatalf("message %d: %v %q, want %v %q", i, got[i].typ, got[i].payload, want.msgs[i].typ, want.msgs[i].payload)
		}
	}
	pongs, closeFrame, sentClose := parseOutput(t, out, client)
	if len(pongs) != len(want.pongs) {
		t.Fatalf("answered %d pings, want %d", len(pongs), len(want.pongs))
	}
	for i := range pongs {
		if !bytes.Equal(pongs[i], want.pongs[i]) {
			t.Fatalf("pong %d carries %q, want %q", i, pongs[i], want.pongs[i])
		}
	}
	var sentCode StatusCode = StatusNoStatusRcvd
	if len(closeFrame) >= 2 {
		sentCode = StatusCode(binary.BigEndian.Uint16(closeFrame))
	}
	switch {
	case want.eof:
		if sentClose {
			t.Fatalf("sent close %v although the input just ended", sentCode)
		}
		if !errors.Is(rerr, io.ErrUnexpectedEOF) {
			t.Fatalf("error %v, want one wrapping io.ErrUnexpectedEOF", rerr)
		}
	case want.failCode != 0:
		if !sentClose || sentCode != want.failCode {
			t.Fatalf("closed with %v (sent %v), want failure with %v; error %v", sentCode, sentClose, want.failCode, rerr)
		}
		var sentinel error
		switch want.failCode {
		case StatusProtocolError:
			sentinel = ErrProtocol
		case StatusInvalidFramePayloadData:
			sentinel = ErrInvalidUTF8
		case StatusMessageTooBig:
			sentinel = ErrReadLimit
		}
		if !errors.Is(rerr, sentinel) {
			t.Fatalf("error %v, want one wrapping %v", rerr, sentinel)
		}
	default:
		if !sentClose || sentCode != want.peerCode || len(closeFrame) > 2 {
			t.Fatalf("answered the peer's close %v with % x, want its code echoed", want.peerCode, closeFrame)
		}
		if CloseStatus(rerr) != want.peerCode {
			t.Fatalf("error %v, want a CloseError with %v", rerr, want.peerCode)
		}
	}
}

// fuzzFrame encodes a frame for the seeds, masked with a fixed key when
// masked is set.
func fuzzFrame(fin bool, rsv byte, op opcode, payload []byte, masked bool) []byte {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b := appendHeader(nil, fin, rsv, op, int64(len(payload)), masked, key)
	p := append([]byte(nil), payload...)
	if masked {
		for i := range p {
			p[i] ^= key[i%4]
		}
	}
	return append(b, p...)
}

// frameSeeds are frame sequences as a peer of the given role would send
// them (masked when the peer is a client, that is when the Conn is not).
func frameSeeds(connIsClient bool) [][]byte {
	m := !connIsClient
	cat := func(fs ...[]byte) []byte { return bytes.Join(fs, nil) }
	closeP := func(code int, reason string) []byte {
		return append([]byte{byte(code >> 8), byte(code)}, reason...)
	}
	return [][]byte{
		cat(fuzzFrame(true, 0, opText, []byte("Hello"), m), fuzzFrame(true, 0, opClose, closeP(1000, ""), m)),
		cat(fuzzFrame(false, 0, opText, []byte("frag"), m), fuzzFrame(true, 0, opPing, []byte("p"), m), fuzzFrame(true, 0, opContinuation, []byte("ment"), m)),
		cat(fuzzFrame(true, 0, opBinary, bytes.Repeat([]byte{0xfe}, 300), m), fuzzFrame(true, 0, opClose, nil, m)),
		fuzzFrame(true, 0, opBinary, bytes.Repeat([]byte{1}, fuzzReadLimit+1), m),
		cat(fuzzFrame(false, 0, opBinary, bytes.Repeat([]byte{1}, 3000), m), fuzzFrame(true, 0, opContinuation, bytes.Repeat([]byte{2}, 2000), m)),
		fuzzFrame(true, 0, opText, []byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"), m),
		cat(fuzzFrame(false, 0, opText, []byte("\xce\xba\xe1"), m), fuzzFrame(true, 0, opContinuation, []byte("\xbd\xb9"), m)),
		fuzzFrame(true, bitRSV1, opText, []byte("x"), m),
		fuzzFrame(true, 0, opcode(3), nil, m),
		fuzzFrame(true, 0, opcode(0xB), nil, m),
		fuzzFrame(true, 0, opPing, bytes.Repeat([]byte{0xfe}, 126), m),
		fuzzFrame(false, 0, opPing, nil, m),
		fuzzFrame(true, 0, opContinuation, []byte("nothing to continue"), m),
		cat(fuzzFrame(false, 0, opText, nil, m), fuzzFrame(true, 0, opText, nil, m)),
		fuzzFrame(true, 0, opClose, []byte{3}, m),
		fuzzFrame(true, 0, opClose, closeP(1005, ""), m),
		fuzzFrame(true, 0, opClose, closeP(4999, "bye"), m),
		fuzzFrame(true, 0, opClose, closeP(1000, "\xff"), m),
		fuzzFrame(true, 0, opClose, closeP(1000, strings.Repeat("*", 124)), m),
		fuzzFrame(true, 0, opText, []byte("wrong mask"), !m),
		append([]byte{0x82, 0xFF | byte(boolInt(m))<<7, 0x80, 0, 0, 0, 0, 0, 0, 5}, "\x00\x00\x00\x00Hello"[:4*boolInt(m)+5]...),
		[]byte{0x81},
		fuzzFrame(true, 0, opText, []byte("trunc"), m)[:5],
	}
}

func FuzzFrameReader(f *testing.F) {
	for _, client := range []bool{false, true} {
		for _, s := range frameSeeds(client) {
			f.Add(s, client)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, client bool) {
		if len(data) > 64<<10 {
			return
		}
		checkFrameReader(t, data, client)
	})
}

// FuzzAccept feeds arbitrary request heads to Accept. It must never panic,
// must accept only requests that follow RFC 6455 §4.2.1, and must answer
// them exactly as §4.2.2 says; everything else gets an HTTP error and a
// *HandshakeError.
func FuzzAccept(f *testing.F) {
	base := "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	for _, extra := range []string{
		"", "Origin: http://server.example.com\r\n", "Origin: https://app.example.org\r\n", "Origin: http://evil.example\r\n",
		"Sec-WebSocket-Protocol: chat, superchat\r\n", "Sec-WebSocket-Protocol: x\r\nSec-WebSocket-Protocol: superchat\r\n",
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
		"Sec-WebSocket-Version: 8\r\n", "Sec-WebSocket-Key: AAAA\r\n", "Connection: keep-alive\r\n",
	} {
		f.Add(base + extra + "\r\n")
	}
	f.Add("POST / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	f.Add("GET / HTTP/1.0\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n\r\n")
	f.Fuzz(func(t *testing.T, head string) {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
		if err != nil {
			return
		}
		cp, pp := newHalfPipes()
		out := make(chan []byte, 1)
		go func() { b, _ := io.ReadAll(pp); out <- b }()
		w := &hijackRecorder{ResponseRecorder: httptest.NewRecorder(), conn: cp}
		opts := &AcceptOptions{Subprotocols: []string{"superchat", "chat"}, OriginPatterns: []string{"*.example.org"}}
		c, err := Accept(w, r, opts)
		if err != nil {
			cp.Close()
			<-out
			var he *HandshakeError
			switch {
			case errors.As(err, &he):
				if he.Status < 400 || w.Code != he.Status || w.hijacked {
					t.Fatalf("refusal with status %d, recorded %d, hijacked %v", he.Status, w.Code, w.hijacked)
				}
			case r.Method == http.MethodConnect || errors.Is(err, ErrNotHijackable):
			default:
				t.Fatalf("Accept failed with %v, not a *HandshakeError", err)
			}
			return
		}
		c.CloseNow()
		resp := string(<-out)
		key := strings.TrimSpace(r.Header.Get("Sec-WebSocket-Key"))
		raw, kerr := base64.StdEncoding.DecodeString(key)
		switch {
		case r.Method != http.MethodGet:
			t.Fatalf("accepted method %q", r.Method)
		case !r.ProtoAtLeast(1, 1):
			t.Fatalf("accepted %s", r.Proto)
		case !fuzzHasToken(r.Header.Values("Upgrade"), "websocket"):
			t.Fatalf("accepted Upgrade %q", r.Header.Values("Upgrade"))
		case !fuzzHasToken(r.Header.Values("Connection"), "upgrade"):
			t.Fatalf("accepted Connection %q", r.Header.Values("Connection"))
		case len(r.Header.Values("Sec-WebSocket-Version")) != 1 || strings.TrimSpace(r.Header.Get("Sec-WebSocket-Version")) != "13":
			t.Fatalf("accepted Sec-WebSocket-Version %q", r.Header.Values("Sec-WebSocket-Version"))
		case len(r.Header.Values("Sec-WebSocket-Key")) != 1 || kerr != nil || len(raw) != 16:
			t.Fatalf("accepted Sec-WebSocket-Key %q", r.Header.Values("Sec-WebSocket-Key"))
		case !strings.HasPrefix(resp, "HTTP/1.1 101 "):
			t.Fatalf("accepted but answered %q", resp)
		case !strings.Contains(resp, "\r\nSec-WebSocket-Accept: "+fuzzAcceptKey(key)+"\r\n"):
			t.Fatalf("answer %q lacks the accept key for %q", resp, key)
		}
		if o := r.Header.Get("Origin"); o != "" {
			u, err := url.Parse(o)
			if err != nil {
				t.Fatalf("accepted unparsable Origin %q", o)
			}
			if !strings.EqualFold(u.Host, r.Host) && !strings.HasSuffix(strings.ToLower(u.Host), ".example.org") {
				t.Fatalf("accepted Origin %q for Host %q", o, r.Host)
			}
		}
		if i := strings.Index(resp, "Sec-WebSocket-Protocol: "); i >= 0 {
			chosen := resp[i+len("Sec-WebSocket-Protocol: "):]
			chosen = chosen[:strings.Index(chosen, "\r\n")]
			if !fuzzHasToken(r.Header.Values("Sec-WebSocket-Protocol"), chosen) || (chosen != "chat" && chosen != "superchat") {
				t.Fatalf("chose subprotocol %q from offer %q", chosen, r.Header.Values("Sec-WebSocket-Protocol"))
			}
		}
		if strings.Contains(resp, "Sec-WebSocket-Extensions") {
			t.Fatalf("negotiated an extension without compression enabled: %q", resp)
		}
	})
}

func fuzzHasToken(values []string, token string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// FuzzDialResponse answers Dial's request with arbitrary bytes, in which
// "{ACCEPT}" is replaced by the right Sec-WebSocket-Accept. Dial must not
// panic or hang, and must succeed only on an answer that passes every check
// of RFC 6455 §4.1.
func FuzzDialResponse(f *testing.F) {
	ok := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n"
	for _, s := range []string{
		ok + "\r\n",
		ok + "Sec-WebSocket-Protocol: chat\r\n\r\n",
		ok + "Sec-WebSocket-Protocol: other\r\n\r\n",
		ok + "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
		ok + "\r\n\x81\x05hello",
		"HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\nsec-websocket-accept: {ACCEPT}\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n",
		"HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope!",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.0 101 Switching Protocols\r\n\r\n",
		"garbage",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, answer string) {
		cp, pp := newHalfPipes()
		go func() {
			br := bufio.NewReader(pp)
			req, err := http.ReadRequest(br)
			if err == nil {
				a := strings.ReplaceAll(answer, "{ACCEPT}", fuzzAcceptKey(req.Header.Get("Sec-WebSocket-Key")))
				_, _ = pp.Write([]byte(a))
			}
			pp.Close()
		}()
		opts := &DialOptions{Subprotocols: []string{"chat", "superchat"}, HandshakeTimeout: 10 * time.Second,
			NetDialContext: func(context.Context, string, string) (net.Conn, error) { return cp, nil }}
		c, resp, err := Dial(context.Background(), "ws://fuzz.example/", opts)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Dial hung until its timeout: %v", err)
			}
			if errors.Is(err, ErrBadHandshake) {
				if resp == nil {
					t.Fatal("ErrBadHandshake without the response")
				}
				if _, err := io.ReadAll(resp.Body); err != nil {
					t.Fatalf("the failed response's body cannot be read: %v", err)
				}
			}
			return
		}
		defer c.CloseNow()
		switch {
		case resp.StatusCode != 101:
			t.Fatalf("accepted status %d", resp.StatusCode)
		case !fuzzHasToken(resp.Header.Values("Upgrade"), "websocket"):
			t.Fatalf("accepted Upgrade %q", resp.Header.Values("Upgrade"))
		case !fuzzHasToken(resp.Header.Values("Connection"), "upgrade"):
			t.Fatalf("accepted Connection %q", resp.Header.Values("Connection"))
		case !strings.Contains(answer, "{ACCEPT}"):
			t.Fatalf("accepted an answer without the right Sec-WebSocket-Accept: %q", answer)
		case strings.Trim(strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ""), " \t,") != "":
			t.Fatalf("accepted extensions %q that were not offered", resp.Header.Values("Sec-WebSocket-Extensions"))
		case c.Subprotocol() != "" && c.Subprotocol() != "chat" && c.Subprotocol() != "superchat":
			t.Fatalf("accepted subprotocol %q that was not offered", c.Subprotocol())
		case c.Subprotocol() == "" && len(resp.Header.Values("Sec-WebSocket-Protocol")) > 0:
			t.Fatalf("ignored the chosen subprotocol %q", resp.Header.Values("Sec-WebSocket-Protocol"))
		}
	})
}

// FuzzUTF8 checks the incremental validator against unicode/utf8 for any
// input cut into any chunks: it must agree on validity, and must report
// the failure in the chunk that holds the first byte after which the input
// can no longer become valid UTF-8, never earlier and never later.
func FuzzUTF8(f *testing.F) {
	for _, s := range []string{
		"", "hello", "κόσμε", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited", "\xed\xa0\x80", "\xed\x9f\xbf",
		"\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xef\xbf\xbe", "\xf0\x9f\x98\x80 ok",
		"\x80", "\xc2", "\xe0\xa0", "abcdefgh\xffabcdefgh", "12345678901234567890\xf0\x90\x80",
	} {
		f.Add([]byte(s), uint64(0x0102030405060708))
		f.Add([]byte(s), uint64(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, cuts uint64) {
		bad := len(data) // index of the first byte that makes it hopeless
		for k := 1; k <= len(data); k++ {
			if !refValidPrefix(data[:k]) {
				bad = k - 1
				break
			}
		}
		// Chunk sizes come from the bytes of cuts: 1 to 16 each, cycling.
		var v utf8Validator
		off, i := 0, 0
		for off < len(data) {
			n := int(cuts>>(8*(i%8))&0x0F) + 1
			i++
			end := min(off+n, len(data))
			okChunk := v.write(data[off:end])
			if holdsBad := bad < end; okChunk == holdsBad {
				t.Fatalf("chunk [%d:%d) of % x: write = %v, but the first hopeless byte is at %d", off, end, data, okChunk, bad)
			}
			if !okChunk {
				return
			}
			off = end
		}
		if v.complete() != utf8.Valid(data) {
			t.Fatalf("complete() = %v after all of % x, utf8.Valid = %v", v.complete(), data, utf8.Valid(data))
		}
	})
}

// FuzzMask checks the word-at-a-time masking against the definition of
// RFC 6455 §5.3 (byte i XOR key[(pos+i) mod 4]) at every offset.
func FuzzMask(f *testing.F) {
	f.Add([]byte("Hello, world! This is long enough to take the wide path."), uint32(0x37fa213d), uint8(3))
	f.Add([]byte{}, uint32(1), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, k uint32, pos8 uint8) {
		pos := int(pos8)
		var key [4]byte
		binary.LittleEndian.PutUint32(key[:], k)
		got := append([]byte(nil), data...)
		next := maskBytes(key, pos, got)
		p := pos & 3
		for i := range data {
			if want := data[i] ^ key[(p+i)&3]; got[i] != want {
				t.Fatalf("byte %d of %d at pos %d: %#x, want %#x", i, len(data), pos, got[i], want)
			}
		}
		if next != (p+len(data))&3 {
			t.Fatalf("next position %d, want %d", next, (p+len(data))&3)
		}
	})
}

// TestFuzzHelpers keeps the reference decoder honest on inputs whose
// outcome is known from the RFC, so that the differential target cannot
// agree with the Conn on a wrong answer.
func TestFuzzHelpers(t *testing.T) {
	m := true // a client's frames, read by a server Conn
	for _, tc := range []struct {
		name string
		in   []byte
		want refOutcome
	}{
		{"echo_then_close", bytes.Join([][]byte{fuzzFrame(true, 0, opText, []byte("hi"), m), fuzzFrame(true, 0, opClose, []byte{3, 0xe8}, m)}, nil),
			refOutcome{msgs: []refMessage{{MessageText, []byte("hi")}}, peerCode: 1000}},
		{"unmasked", fuzzFrame(true, 0, opText, []byte("hi"), false), refOutcome{failCode: 1002}},
		{"rsv", fuzzFrame(true, bitRSV2, opBinary, nil, m), refOutcome{failCode: 1002}},
		{"limit", fuzzFrame(true, 0, opBinary, make([]byte, fuzzReadLimit+1), m), refOutcome{failCode: 1009}},
		{"utf8_fail_fast_in_truncated_frame", fuzzFrame(true, 0, opText, []byte("ab\xffcd"), m)[:9], refOutcome{failCode: 1007}},
		{"utf8_incomplete_at_end", fuzzFrame(true, 0, opText, []byte("ab\xe2\x82"), m), refOutcome{failCode: 1007}},
		{"utf8_truncated_valid_prefix", fuzzFrame(true, 0, opText, []byte("ab\xe2\x82\xac"), m)[:10], refOutcome{eof: true}},
		{"ping_answered", fuzzFrame(true, 0, opPing, []byte("x"), m), refOutcome{pongs: [][]byte{[]byte("x")}, eof: true}},
		{"close_code_1005", fuzzFrame(true, 0, opClose, []byte{0x03, 0xed}, m), refOutcome{failCode: 1002}},
		{"close_reason_bad_utf8", fuzzFrame(true, 0, opClose, []byte{0x03, 0xe8, 0xff}, m), refOutcome{failCode: 1007}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := refDecode(tc.in, false, fuzzReadLimit)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("refDecode = %+v, want %+v", got, tc.want)
			}
		})
	}
}
