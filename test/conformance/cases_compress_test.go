package conformance_test

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Groups 12 and 13 of the Autobahn TestSuite: permessage-deflate (RFC 7692).
// Every case sends messages of one size, one at a time, compressed and
// possibly auto-fragmented (the compressed payload cut into frames of a
// fixed size), and expects each echo before the next. Group 12 uses five
// data sets with the default offer; group 13 JSON with seven pairs of
// client offers and server accept functions. Message counts are scaled
// down (deflateCount); sizes and fragment sizes are the catalogue's.

// deflateSize is one row of the catalogue's MSG_SIZES: payload length and
// auto-fragment size (0: one frame).
type deflateSize struct{ size, frag int }

var deflateSizes = []deflateSize{
	{16, 0}, {64, 0}, {256, 0}, {1024, 0}, {4096, 0}, {8192, 0}, {16384, 0}, {32768, 0}, {65536, 0}, {131072, 0},
	{8192, 256}, {16384, 256}, {32768, 256}, {65536, 256}, {131072, 256}, {131072, 1024}, {131072, 4096}, {131072, 32768},
}

// deflateCount is how many messages a case sends instead of the
// catalogue's 1000: about 192 KiB per case, at least 3 so that every case
// reaches back into earlier messages under context takeover, at most 20.
func deflateCount(size int) int {
	return min(20, max(3, (192<<10)/size))
}

// deflateData is a data set of the catalogue, made here with the same
// character as its file (which the TestSuite ships and this suite does not
// download).
type deflateData struct {
	desc string
	op   byte
	data []byte
}

// pmdAccept is an accept function of the catalogue's group 13: given the
// client's offers it picks one and the parameters to ask of the client,
// or reports that none fits (the case would be UNIMPLEMENTED).
type pmdAccept struct {
	name string
	// each entry is tried in turn: (requestNoContextTakeover,
	// requestMaxWindowBits), and the acceptNoContextTakeover and
	// acceptMaxWindowBits the offer must announce for it.
	tries []pmdOffer
}

// deflateGroup is a subgroup 12.x or 13.x.
type deflateGroup struct {
	id     string // "12.1"
	data   deflateData
	offers []pmdOffer // what the Autobahn client offers (server role)
	accept pmdAccept  // what the Autobahn server accepts (client role)
}

var (
	accept1 = pmdAccept{"accept1 (False, 0)", []pmdOffer{{false, 0}}}
	accept2 = pmdAccept{"accept2 (True, 0)", []pmdOffer{{true, 0}}}
	accept3 = pmdAccept{"accept3 (False, 8)", []pmdOffer{{false, 8}}}
	accept4 = pmdAccept{"accept4 (False, 15)", []pmdOffer{{false, 15}}}
	accept5 = pmdAccept{"accept5 (True, 8)", []pmdOffer{{true, 8}}}
	accept6 = pmdAccept{"accept6 (True, 15)", []pmdOffer{{true, 15}}}
	accept7 = pmdAccept{"accept7 (True, 8), (True, 0), (False, 0)", []pmdOffer{{true, 8}, {true, 0}, {false, 0}}}
)

// deflateGroups lists groups 12.1–12.5 in the order the TestSuite's
// reports number them, then 13.1–13.7.
func deflateGroups() []deflateGroup {
	json, bmp, faust, html, pdf := deflateDataSets()
	def := []pmdOffer{{}}
	gs := []deflateGroup{
		{"12.1", json, def, accept1},
		{"12.2", bmp, def, accept1},
		{"12.3", faust, def, accept1},
		{"12.4", html, def, accept1},
		{"12.5", pdf, def, accept1},
		{"13.1", json, []pmdOffer{{false, 0}}, accept1},
		{"13.2", json, []pmdOffer{{true, 0}}, accept2},
		{"13.3", json, []pmdOffer{{false, 8}}, accept3},
		{"13.4", json, []pmdOffer{{false, 15}}, accept4},
		{"13.5", json, []pmdOffer{{true, 8}}, accept5},
		{"13.6", json, []pmdOffer{{true, 15}}, accept6},
		{"13.7", json, []pmdOffer{{true, 8}, {true, 0}, {false, 0}}, accept7},
	}
	return gs
}

// deflateCase is one case, e.g. 13.3.17.
type deflateCase struct {
	group deflateGroup
	n     int // 1..18
	deflateSize
}

func (c deflateCase) name() string {
	return "Case_" + strings.ReplaceAll(c.group.id, ".", "_") + "_" + strconv.Itoa(c.n)
}

func (c deflateCase) desc() string {
	return fmt.Sprintf("%s.%d: %d %s messages of %d bytes (catalogue: 1000) from %s, auto-fragment %d; offers %v / %s",
		c.group.id, c.n, deflateCount(c.size), opName(c.group.data.op), c.size, c.group.data.desc, c.frag, c.group.offers, c.group.accept.name)
}

// deflateCases returns the cases of group 12 or 13.
func deflateCases(major string) []deflateCase {
	var out []deflateCase
	for _, g := range deflateGroups() {
		if !strings.HasPrefix(g.id, major+".") {
			continue
		}
		for i, s := range deflateSizes {
			out = append(out, deflateCase{group: g, n: i + 1, deflateSize: s})
		}
	}
	return out
}

// message returns the i-th message of a case: consecutive slices of the
// data set, wrapping around at its end, as the TestSuite takes them.
func (c deflateCase) message(i int) []byte {
	d := c.group.data.data
	out := make([]byte, c.size)
	start := (i * c.size) % len(d)
	for n := 0; n < c.size; {
		n += copy(out[n:], d[(start+n)%len(d):])
	}
	return out
}

// deflateFrames encodes one compressed message: the payload cut into
// frames of frag bytes (all of it in one frame when frag is 0), RSV1 on
// the first frame only (RFC 7692 §6.1).
func deflateFrames(op byte, payload []byte, frag int, key func() *[4]byte) []byte {
	if frag <= 0 || len(payload) <= frag {
		return encodeFrame(true, rsv1, op, payload, key())
	}
	var b []byte
	for pos := 0; pos < len(payload); pos += frag {
		end := min(pos+frag, len(payload))
		fop, rsv := opCont, byte(0)
		if pos == 0 {
			fop, rsv = op, rsv1
		}
		b = append(b, encodeFrame(end == len(payload), rsv, fop, payload[pos:end], key())...)
	}
	return b
}

// readDeflated reads one message echoed by the implementation and
// returns its compressed payload. RSV1 must be on its first frame (the
// commands compress every message) and off on continuations.
func readDeflated(p *peer, op byte, what string) []byte {
	p.t.Helper()
	var got []byte
	for first := true; ; first = false {
		_ = p.nc.SetReadDeadline(time.Now().Add(p.guard))
		f, err := readWireFrame(p.br, p.maxLen)
		if err != nil {
			p.t.Fatalf("waiting for %s from the %s: %v", what, p.who(), describeReadErr(err))
		}
		switch {
		case f.masked != !p.client:
			p.t.Fatalf("%s: frame %v breaks the masking rule (RFC 6455 §5.1)", what, f)
		case first && (f.op != op || f.rsv != rsv1):
			p.t.Fatalf("%s: expected a %s frame with RSV1 alone set, got %v", what, opName(op), f)
		case !first && (f.op != opCont || f.rsv != 0):
			p.t.Fatalf("%s: expected a continuation frame without reserved bits (RFC 7692 §6.1), got %v", what, f)
		}
		got = append(got, f.payload...)
		if f.fin {
			return got
		}
	}
}

// runDeflateCase sends the case's messages with our side's parameters
// and checks every echo, then closes normally. ours/theirs are the
// parameters of what we send and what the implementation sends.
func runDeflateCase(p *peer, c deflateCase, ourBits int, ourTakeover bool, theirBits int, theirTakeover bool) {
	p.t.Helper()
	def := newDeflater(ourBits, ourTakeover)
	inf := newInflater(theirBits, theirTakeover)
	key := func() *[4]byte { return nil }
	if p.client {
		key = randomKey
	}
	op := c.group.data.op
	for i := range deflateCount(c.size) {
		msg := c.message(i)
		p.send(deflateFrames(op, def.compress(msg), c.frag, key))
		what := fmt.Sprintf("the echo of message %d (%d bytes)", i+1, c.size)
		got, err := inf.decompress(readDeflated(p, op, what))
		if err != nil {
			p.t.Fatalf("%s: %v", what, err)
		}
		if !bytes.Equal(got, msg) {
			p.t.Fatalf("%s differs: %s", what, diffSummary(got, msg))
		}
	}
	p.closeNormally()
}

// expectedAnswer is the exact Sec-WebSocket-Extensions `duplex echo
// --compress` gives the first offer the TestSuite makes: it keeps its own
// context takeover unless asked not to, takes the window asked for, and
// leaves the client's client_no_context_takeover hint out, so that the
// client may keep its context too (the TestSuite's client then does).
func expectedAnswer(o pmdOffer) string {
	s := "permessage-deflate"
	if o.requestNoTakeover {
		s += "; server_no_context_takeover"
	}
	if o.requestMaxBits != 0 {
		s += "; server_max_window_bits=" + strconv.Itoa(o.requestMaxBits)
	}
	return s
}

// checkAnswerRFC checks an answer against the offer it accepts, as RFC
// 7692 §7.1 lets a server answer, and that it keeps the server's context
// takeover wherever the offer allows it.
func checkAnswerRFC(answer string, o pmdOffer) (pmdParams, error) {
	exts, err := parseExtensions(answer)
	if err != nil {
		return pmdParams{}, err
	}
	if len(exts) != 1 || exts[0].name != "permessage-deflate" {
		return pmdParams{}, fmt.Errorf("answer %q is not one permessage-deflate", answer)
	}
	var pp pmdParams
	for k, v := range exts[0].params {
		switch k {
		case "server_no_context_takeover", "client_no_context_takeover":
			if v != "" {
				return pp, fmt.Errorf("%s has a value in %q", k, answer)
			}
			pp.serverNoTakeover = pp.serverNoTakeover || k == "server_no_context_takeover"
			pp.clientNoTakeover = pp.clientNoTakeover || k == "client_no_context_takeover"
		case "server_max_window_bits", "client_max_window_bits":
			n, err := windowParam(v)
			if err != nil {
				return pp, err
			}
			if k == "server_max_window_bits" {
				pp.serverMaxBits = n
			} else {
				pp.clientMaxBits = n
			}
		default:
			return pp, fmt.Errorf("unknown parameter %s in %q", k, answer)
		}
	}
	switch {
	case o.requestNoTakeover != pp.serverNoTakeover:
		return pp, fmt.Errorf("server_no_context_takeover in %q, but the offer asked for it: %v (takeover must be kept where allowed)", answer, o.requestNoTakeover)
	case o.requestMaxBits != 0 && (pp.serverMaxBits == 0 || pp.serverMaxBits > o.requestMaxBits):
		return pp, fmt.Errorf("answer %q does not honour server_max_window_bits=%d (RFC 7692 §7.1.2.1)", answer, o.requestMaxBits)
	case o.requestMaxBits == 0 && pp.serverMaxBits != 0:
		return pp, fmt.Errorf("answer %q limits the server's window unasked", answer)
	case pp.clientNoTakeover:
		return pp, fmt.Errorf("answer %q takes the client's context takeover away; the offer's client_no_context_takeover is only a hint", answer)
	}
	return pp, nil
}

// startCompressEchoServer starts `duplex echo --compress` with extra flags
// and returns its address.
func startCompressEchoServer(t *testing.T, flags ...string) string {
	t.Helper()
	return startEchoServer(t, append([]string{"--compress"}, flags...)...)
}

// dialDeflate opens a connection with the case's offers and returns the
// peer and the answer's parameters.
func dialDeflate(t *testing.T, addr string, offers []pmdOffer) (*peer, pmdParams) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, guardTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	p := newPeer(t, nc, bufio.NewReaderSize(nc, 64<<10), true)
	var offerStrs []string
	for _, o := range offers {
		offerStrs = append(offerStrs, o.String())
	}
	key := newKey()
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Extensions: " + strings.Join(offerStrs, ", ") + "\r\n\r\n"
	if err := p.write([]byte(req)); err != nil {
		t.Fatalf("sending the opening handshake: %v", err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(guardTimeout))
	resp, err := http.ReadResponse(p.br, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatalf("reading the handshake response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != acceptFor(key) {
		t.Fatalf("handshake answered %s with accept %q", resp.Status, resp.Header.Get("Sec-WebSocket-Accept"))
	}
	exts := resp.Header.Values("Sec-WebSocket-Extensions")
	if len(exts) != 1 {
		t.Fatalf("%d Sec-WebSocket-Extensions headers in the answer to %q, want 1: %q", len(exts), offerStrs, exts)
	}
	pp, err := checkAnswerRFC(exts[0], offers[0])
	if err != nil {
		t.Fatalf("answer to offers %q: %v", offerStrs, err)
	}
	if want := expectedAnswer(offers[0]); exts[0] != want {
		t.Fatalf("answer to offers %q is %q, want %q", offerStrs, exts[0], want)
	}
	return p, pp
}

// TestServerDeflate_Case_12 and TestServerDeflate_Case_13 run the
// permessage-deflate groups against `duplex echo --compress`, playing the
// TestSuite's client.
func TestServerDeflate_Case_12(t *testing.T) { runServerDeflate(t, "12") }

// TestServerDeflate_Case_13: see TestServerDeflate_Case_12.
func TestServerDeflate_Case_13(t *testing.T) { runServerDeflate(t, "13") }

// TestServerDeflateGoroutine_Case_12 and _13 run them against `duplex echo
// --compress --io goroutine`, where messages are inflated as they are read
// rather than once whole.
func TestServerDeflateGoroutine_Case_12(t *testing.T) { runServerDeflate(t, "12", "--io", "goroutine") }

// TestServerDeflateGoroutine_Case_13: see TestServerDeflateGoroutine_Case_12.
func TestServerDeflateGoroutine_Case_13(t *testing.T) { runServerDeflate(t, "13", "--io", "goroutine") }

func runServerDeflate(t *testing.T, major string, flags ...string) {
	addr := startCompressEchoServer(t, flags...)
	for _, c := range deflateCases(major) {
		t.Run(c.name(), func(t *testing.T) {
			t.Log(c.desc())
			p, pp := dialDeflate(t, addr, c.group.offers)
			runDeflateCase(p, c, bits(pp.clientMaxBits), !pp.clientNoTakeover, bits(pp.serverMaxBits), !pp.serverNoTakeover)
		})
	}
}

// deflateDataSets makes the five data sets, deterministically.
func deflateDataSets() (json, bmp, faust, html, pdf deflateData) {
	r := rand.New(rand.NewPCG(12, 13))
	words := []string{"der", "die", "das", "und", "nicht", "Faust", "Mephistopheles", "Gretchen", "Geist", "Welt",
		"Herz", "Natur", "schön", "Glück", "müssen", "über", "Tür", "Straße", "heiß", "Träume", "wär", "Gefühl", "Wissenschaft"}
	var b bytes.Buffer
	for b.Len() < 220<<10 {
		n := 4 + r.IntN(9)
		for i := range n {
			w := words[r.IntN(len(words))]
			if i == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			}
			b.WriteString(w)
			if i < n-1 {
				b.WriteByte(' ')
			}
		}
		b.WriteString([]string{".\n", "!\n", ",\n", "?\n"}[r.IntN(4)])
	}
	faust = deflateData{"German verse-like text (sent as binary, like Goethe's Faust I)", opBinary, bytes.Clone(b.Bytes())}

	b.Reset()
	b.WriteString("[")
	for i := 0; b.Len() < 190<<10; i++ {
		fmt.Fprintf(&b, `{"id":%d,"name":"user%d","active":%t,"score":%.3f,"tags":["t%d","t%d"],"address":{"city":"City%d","zip":"%05d"}},`+"\n",
			i, r.IntN(5000), r.IntN(2) == 0, r.Float64()*1000, r.IntN(40), r.IntN(40), r.IntN(300), r.IntN(100000))
	}
	b.WriteString("{}]")
	json = deflateData{"JSON records (text)", opText, bytes.Clone(b.Bytes())}

	b.Reset()
	b.WriteString("<!DOCTYPE html>\n<html><head><title>Report</title></head><body>\n<table>\n")
	for i := 0; b.Len() < 82<<10; i++ {
		fmt.Fprintf(&b, "<tr class=\"row%d\"><td><a href=\"/item/%d\">Item %d</a></td><td>%d</td><td>%s</td></tr>\n",
			i%2, r.IntN(100000), i, r.IntN(1000), words[r.IntN(4)])
	}
	b.WriteString("</table></body></html>\n")
	html = deflateData{"HTML table (text)", opText, bytes.Clone(b.Bytes())}

	// A 512x512 8-bit greyscale bitmap: smooth gradients with noise.
	img := make([]byte, 1078, 1078+512*512)
	copy(img, "BM")
	for y := range 512 {
		for x := range 512 {
			v := (x*x+y*y)/2048 + (x^y)&15 + r.IntN(6)
			img = append(img, byte(v))
		}
	}
	bmp = deflateData{"512x512 greyscale bitmap (binary)", opBinary, img}

	// A PDF-like file: text objects between incompressible streams.
	b.Reset()
	b.WriteString("%PDF-1.4\n")
	for i := 0; b.Len() < 300<<10; i++ {
		fmt.Fprintf(&b, "%d 0 obj\n<< /Type /Page /Length %d >>\nstream\n", i+1, 2048)
		noise := make([]byte, 2048)
		for j := range noise {
			noise[j] = byte(r.Uint32())
		}
		b.Write(noise)
		b.WriteString("\nendstream\nendobj\n")
	}
	pdf = deflateData{"PDF-like document with compressed streams (binary)", opBinary, bytes.Clone(b.Bytes())}
	return
}
