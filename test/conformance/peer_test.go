package conformance_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

// guardTimeout bounds every wait of a case so that a peer that never answers
// fails the case instead of hanging the suite. It is not a speed
// requirement: fail-fast behaviour is checked by order of events (the
// failure must come before we send anything more), never by the clock.
// CONFORMANCE_GUARD (a Go duration) shortens it when checking that the
// suite catches a deliberately broken build, where most waits end in it.
var guardTimeout = guardFromEnv()

func guardFromEnv() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("CONFORMANCE_GUARD")); err == nil && d > 0 {
		return d
	}
	return 20 * time.Second
}

// peer is our end of one WebSocket connection under test, speaking raw
// frames. It plays the client when testing our server (client true: our
// frames are masked and the server's must not be) and the server when
// testing our client.
type peer struct {
	t         testing.TB
	nc        net.Conn
	br        *bufio.Reader
	client    bool
	guard     time.Duration
	maxLen    uint64
	sentClose bool
}

func newPeer(t testing.TB, nc net.Conn, br *bufio.Reader, client bool) *peer {
	return &peer{t: t, nc: nc, br: br, client: client, guard: guardTimeout, maxLen: 64 << 20}
}

// who names the implementation under test.
func (p *peer) who() string {
	if p.client {
		return "server"
	}
	return "client"
}

// frame encodes a frame the way our role must: masked when we are the
// client.
func (p *peer) frame(fin bool, rsv, op byte, payload []byte) []byte {
	var key *[4]byte
	if p.client {
		key = randomKey()
	}
	return encodeFrame(fin, rsv, op, payload, key)
}

// wrongMaskFrame encodes a frame with the masking rule broken: unmasked
// from a client, masked from a server.
func (p *peer) wrongMaskFrame(op byte, payload []byte) []byte {
	var key *[4]byte
	if !p.client {
		key = randomKey()
	}
	return encodeFrame(true, 0, op, payload, key)
}

// header encodes only a frame header announcing length payload bytes, for
// frames whose payload is sent in pieces; pos 0 of the key applies to the
// first payload byte sent after it.
func (p *peer) header(fin bool, rsv, op byte, length uint64) ([]byte, *[4]byte) {
	var key *[4]byte
	if p.client {
		key = randomKey()
	}
	return appendHeader(nil, fin, rsv, op, length, key), key
}

// payloadPart masks (when we are the client) a piece of a frame's payload
// that starts at offset pos.
func payloadPart(key *[4]byte, pos int, b []byte) []byte {
	out := append([]byte(nil), b...)
	if key != nil {
		maskAt(*key, pos, out)
	}
	return out
}

func (p *peer) msg(op byte, payload []byte) []byte { return p.frame(true, 0, op, payload) }

func (p *peer) text(s string) []byte { return p.msg(opText, []byte(s)) }

func (p *peer) closeFrame(code int, reason string) []byte {
	return p.msg(opClose, closePayload(code, reason))
}

// write sends b in one write; a failure is returned, not fatal, since many
// cases expect the peer to drop the connection while we are still sending.
func (p *peer) write(b []byte) error {
	_ = p.nc.SetWriteDeadline(time.Now().Add(p.guard))
	_, err := p.nc.Write(b)
	return err
}

// send writes frames back to back in one write ("one chop").
func (p *peer) send(frames ...[]byte) {
	p.t.Helper()
	if err := p.write(bytes.Join(frames, nil)); err != nil {
		p.t.Logf("write: %v (the %s may have closed the connection already)", err, p.who())
	}
}

// sendEach writes each frame with its own write ("frame-wise chops").
func (p *peer) sendEach(frames ...[]byte) {
	p.t.Helper()
	for _, f := range frames {
		if err := p.write(f); err != nil {
			p.t.Logf("write: %v (the %s may have closed the connection already)", err, p.who())
			return
		}
	}
}

// sendChopped writes b in writes of chop bytes. Octet-wise writes pause a
// moment so that the peer really receives them one by one.
func (p *peer) sendChopped(b []byte, chop int) {
	p.t.Helper()
	for len(b) > 0 {
		n := min(chop, len(b))
		if err := p.write(b[:n]); err != nil {
			p.t.Logf("write: %v (the %s may have closed the connection already)", err, p.who())
			return
		}
		b = b[n:]
		if chop == 1 {
			time.Sleep(100 * time.Microsecond)
		}
	}
}

// nextFrame reads the next frame from the implementation under test and
// checks that its framing obeys RFC 6455 §5.
func (p *peer) nextFrame() (wireFrame, error) {
	_ = p.nc.SetReadDeadline(time.Now().Add(p.guard))
	f, err := readWireFrame(p.br, p.maxLen)
	if err != nil {
		return f, err
	}
	switch {
	case p.client && f.masked:
		return f, fmt.Errorf("the server sent a masked frame %v (RFC 6455 §5.1)", f)
	case !p.client && !f.masked:
		return f, fmt.Errorf("the client sent an unmasked frame %v (RFC 6455 §5.1)", f)
	case f.rsv != 0:
		return f, fmt.Errorf("frame %v has reserved bits set without an extension", f)
	case f.op >= 0x3 && f.op <= 0x7 || f.op >= 0xB:
		return f, fmt.Errorf("frame %v has a reserved opcode", f)
	case f.op >= 0x8 && !f.fin:
		return f, fmt.Errorf("control frame %v is fragmented", f)
	case f.op >= 0x8 && len(f.payload) > 125:
		return f, fmt.Errorf("control frame %v is over 125 bytes", f)
	}
	return f, nil
}

// next is nextFrame failing the test on any error.
func (p *peer) next(what string) wireFrame {
	p.t.Helper()
	f, err := p.nextFrame()
	if err != nil {
		p.t.Fatalf("waiting for %s from the %s: %v", what, p.who(), describeReadErr(err))
	}
	return f
}

func describeReadErr(err error) string {
	switch {
	case isTimeout(err):
		return fmt.Sprintf("nothing came within %v: %v", guardTimeout, err)
	case isClosed(err):
		return fmt.Sprintf("the connection was closed: %v", err)
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// isClosed reports an orderly or abortive end of the TCP connection.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

// expectMessage reads one whole message, fragmented or not, and compares it.
func (p *peer) expectMessage(op byte, want []byte) {
	p.t.Helper()
	what := fmt.Sprintf("the echo of a %d-byte %s message", len(want), opName(op))
	f := p.next(what)
	if f.op != op {
		p.t.Fatalf("expected %s, got frame %v", what, f)
	}
	got := f.payload
	for !f.fin {
		f = p.next(what + " (continuation)")
		if f.op != opCont {
			p.t.Fatalf("expected a continuation frame of %s, got %v", what, f)
		}
		got = append(got, f.payload...)
	}
	if !bytes.Equal(got, want) {
		p.t.Fatalf("%s differs: %s", what, diffSummary(got, want))
	}
}

func (p *peer) expectText(s string) {
	p.t.Helper()
	p.expectMessage(opText, []byte(s))
}

// expectPong reads the next frame, which must be a pong with payload.
func (p *peer) expectPong(payload []byte) {
	p.t.Helper()
	f := p.next("a pong")
	if f.op != opPong || !bytes.Equal(f.payload, payload) {
		p.t.Fatalf("expected a pong with payload %q, got %v", payload, f)
	}
}

// expectAlive sends a ping and waits for its pong: proof that the peer has
// processed, without failing, everything sent before.
func (p *peer) expectAlive() {
	p.t.Helper()
	payload := fmt.Appendf(nil, "alive-%d", rand.Uint32())
	p.send(p.msg(opPing, payload))
	p.expectPong(payload)
}

// noCode in a list of acceptable close codes accepts a close frame with an
// empty payload.
const noCode = -1

// expectClose reads the next frame, which must be a close frame with one of
// codes, and returns its code.
func (p *peer) expectClose(codes ...int) int {
	p.t.Helper()
	f := p.next(fmt.Sprintf("a close frame with code %v", codes))
	if f.op != opClose {
		p.t.Fatalf("expected a close frame with code %v, got %v", codes, f)
	}
	code := noCode
	switch len(f.payload) {
	case 0:
	case 1:
		p.t.Fatalf("close frame with a one-byte payload %v", f)
	default:
		code = int(f.payload[0])<<8 | int(f.payload[1])
		if !utf8.Valid(f.payload[2:]) {
			p.t.Fatalf("close frame reason is not valid UTF-8: %v", f)
		}
	}
	for _, c := range codes {
		if c == code {
			return code
		}
	}
	p.t.Fatalf("close frame code %d (reason %q), expected one of %v", code, reasonOf(f), codes)
	return code
}

func reasonOf(f wireFrame) string {
	if len(f.payload) < 2 {
		return ""
	}
	return string(f.payload[2:])
}

// finish ends a connection whose close frame from the peer has been read:
// nothing may follow it. As the server we answer the close (if we have not
// sent one) and close TCP first, as RFC 6455 §7.1.1 wants, and the client
// must then close too; as the client we wait for the server to close TCP.
func (p *peer) finish() {
	p.t.Helper()
	if !p.client {
		if !p.sentClose {
			_ = p.write(p.closeFrame(1000, ""))
			p.sentClose = true
		}
		if tc, ok := p.nc.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}
	p.expectEOF()
}

// halfClose ends our direction of the TCP connection (FIN) and keeps
// reading, so that what the peer does about the end can be seen.
func (p *peer) halfClose() {
	p.t.Helper()
	tc, ok := p.nc.(*net.TCPConn)
	if !ok {
		p.t.Fatalf("half close needs a TCP connection, have %T", p.nc)
	}
	if err := tc.CloseWrite(); err != nil {
		p.t.Fatalf("half close: %v", err)
	}
}

// expectEOF waits for the peer to close the TCP connection, with no frame
// before.
func (p *peer) expectEOF() {
	p.t.Helper()
	_ = p.nc.SetReadDeadline(time.Now().Add(p.guard))
	f, err := readWireFrame(p.br, p.maxLen)
	switch {
	case err == nil:
		p.t.Fatalf("expected the %s to close the connection, but it sent %v", p.who(), f)
	case isClosed(err):
	case isTimeout(err):
		p.t.Fatalf("the %s did not close the TCP connection within %v", p.who(), p.guard)
	default:
		p.t.Fatalf("expected the %s to close the connection, got %v", p.who(), err)
	}
}

// closeWith starts the closing handshake with code and reason and checks
// the answer: the same code or 1000 (RFC 6455 §5.5.1), and nothing after.
func (p *peer) closeWith(code int, reason string, answers ...int) {
	p.t.Helper()
	p.send(p.closeFrame(code, reason))
	p.sentClose = true
	if len(answers) == 0 {
		answers = []int{code, 1000}
	}
	p.expectClose(answers...)
	p.finish()
}

// closeNormally is the end of every case that expects the connection to
// survive: close with 1000, which must be echoed and be the next frame.
func (p *peer) closeNormally() {
	p.t.Helper()
	p.closeWith(1000, "", 1000)
}

// expectFailure expects the connection to be failed with code: a close
// frame with it as the next frame, then the end of the connection, all
// without our sending anything more.
func (p *peer) expectFailure(code int) {
	p.t.Helper()
	p.expectClose(code)
	p.finish()
}

// expectQuiet checks that nothing arrives for a short while. It can only
// miss a wrong early answer (never fail a correct peer), so it is used only
// where no ping can prove progress: between pieces of one frame.
func (p *peer) expectQuiet(d time.Duration) {
	p.t.Helper()
	_ = p.nc.SetReadDeadline(time.Now().Add(d))
	_, err := p.br.Peek(1)
	switch {
	case err == nil:
		f, _ := p.nextFrame()
		p.t.Fatalf("the %s answered before the message was complete: %v", p.who(), f)
	case isTimeout(err):
	default:
		p.t.Fatalf("the %s closed the connection early: %v", p.who(), err)
	}
}

func opName(op byte) string {
	switch op {
	case opText:
		return "text"
	case opBinary:
		return "binary"
	case opPing:
		return "ping"
	case opPong:
		return "pong"
	case opClose:
		return "close"
	case opCont:
		return "continuation"
	}
	return fmt.Sprintf("opcode %#x", op)
}

// diffSummary describes how got differs from want without dumping
// megabytes.
func diffSummary(got, want []byte) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %d bytes, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Sprintf("first difference at byte %d: got %#x, want %#x", i, got[i], want[i])
		}
	}
	return "equal"
}

// repeatTo returns n bytes of pattern repeated.
func repeatTo(pattern string, n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += copy(b[i:], pattern) {
	}
	return b
}
