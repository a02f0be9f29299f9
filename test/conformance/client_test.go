package conformance_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestClient runs every case against `duplex echo-client`, the command
// reviewers point at the Autobahn TestSuite's fuzzingserver. We play that
// server: the same protocol (/getCaseCount, /runCase?case=N&agent=A,
// /updateReports?agent=A), the opening handshake answered by hand, and
// each case's frames written unmasked, byte for byte.
func TestClient(t *testing.T) {
	var cases []wsCase
	for _, c := range allCases() {
		if c.appliesTo(false) {
			cases = append(cases, c)
		}
	}
	fs := startFuzzServer(t, cases)
	proc := startDuplex(t, "echo-client", "--url", "ws://"+fs.ln.Addr().String(), "--agent", "conformance")

	for i, c := range cases {
		ran := false
		t.Run(c.name(), func(t *testing.T) {
			t.Log(c.desc)
			ran = true
			fs.assign[i] <- true
			var in incoming
			select {
			case in = <-fs.conns[i]:
			case <-proc.exited:
				t.Fatalf("echo-client exited (%v) before case %d; stderr:\n%s", proc.waitErr, i+1, proc.stderr.String())
			case <-time.After(guardTimeout):
				t.Fatalf("echo-client did not open case %d within %v", i+1, guardTimeout)
			}
			defer in.nc.Close()
			if in.problem != nil {
				t.Errorf("opening handshake of case %d: %v", i+1, in.problem)
			}
			c.run(newPeer(t, in.nc, in.br, false))
		})
		if !ran {
			fs.assign[i] <- false // filtered out by -run: the harness closes it
		}
	}

	select {
	case <-fs.reported:
	case <-proc.exited:
	case <-time.After(guardTimeout):
		t.Errorf("echo-client did not ask for /updateReports within %v", guardTimeout)
	}
	select {
	case <-proc.exited:
	case <-time.After(guardTimeout):
		t.Fatalf("echo-client did not exit within %v after the last case", guardTimeout)
	}
	if proc.waitErr != nil {
		t.Errorf("echo-client exited with %v; stderr:\n%s", proc.waitErr, proc.stderr.String())
	}
	if want := fmt.Sprintf("ran %d cases", len(cases)); !strings.Contains(proc.stdout.String(), want) {
		t.Errorf("echo-client stdout %q does not say %q", proc.stdout.String(), want)
	}
	if s := proc.stderr.String(); strings.Contains(s, "case ") {
		t.Errorf("echo-client reported failures on stderr:\n%s", s)
	}
	for _, err := range fs.problems() {
		t.Error(err)
	}
}

// incoming is a case connection handed from the harness to its subtest.
type incoming struct {
	nc      net.Conn
	br      *bufio.Reader
	problem error // what was wrong with the client's opening handshake
}

// fuzzServer speaks the fuzzing-server protocol of the Autobahn TestSuite.
// The client runs the cases one at a time in order; the subtest of case i
// tells the harness (assign[i]) whether it runs, and receives the
// connection (conns[i]) once the handshake is answered.
type fuzzServer struct {
	ln       net.Listener
	cases    []wsCase
	assign   []chan bool
	conns    []chan incoming
	reported chan struct{}

	mu   sync.Mutex
	errs []error
}

func startFuzzServer(t *testing.T, cases []wsCase) *fuzzServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs := &fuzzServer{ln: ln, cases: cases, reported: make(chan struct{})}
	for range cases {
		fs.assign = append(fs.assign, make(chan bool, 1))
		fs.conns = append(fs.conns, make(chan incoming, 1))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fs.serve()
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, ch := range fs.conns {
			select {
			case in := <-ch:
				in.nc.Close()
			default:
			}
		}
	})
	return fs
}

func (fs *fuzzServer) errorf(format string, args ...any) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.errs = append(fs.errs, fmt.Errorf(format, args...))
}

func (fs *fuzzServer) problems() []error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]error(nil), fs.errs...)
}

// serve handles connections one at a time, as the client makes them.
func (fs *fuzzServer) serve() {
	for {
		nc, err := fs.ln.Accept()
		if err != nil {
			return
		}
		fs.handle(nc)
	}
}

func (fs *fuzzServer) handle(nc net.Conn) {
	br := bufio.NewReaderSize(nc, 64<<10)
	_ = nc.SetReadDeadline(time.Now().Add(guardTimeout))
	req, err := http.ReadRequest(br)
	if err != nil {
		fs.errorf("reading an opening handshake: %v", err)
		nc.Close()
		return
	}
	_ = nc.SetReadDeadline(time.Time{})
	key, problem := checkClientRequest(req)
	if problem != nil && key == "" {
		fs.errorf("%s: %v", req.URL, problem)
		_, _ = nc.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		nc.Close()
		return
	}
	if problem != nil {
		fs.errorf("%s: %v", req.URL, problem)
	}
	switch req.URL.Path {
	case "/getCaseCount":
		fs.simpleSession(nc, br, key, func(w func([]byte) error) error {
			return w(encodeFrame(true, 0, opText, []byte(strconv.Itoa(len(fs.cases))), nil))
		}, false)
	case "/updateReports":
		fs.simpleSession(nc, br, key, func(w func([]byte) error) error {
			return w(encodeFrame(true, 0, opClose, closePayload(1000, ""), nil))
		}, true)
		select {
		case <-fs.reported:
		default:
			close(fs.reported)
		}
	case "/runCase":
		n, err := strconv.Atoi(req.URL.Query().Get("case"))
		if err != nil || n < 1 || n > len(fs.cases) {
			fs.errorf("%s: no such case", req.URL)
			nc.Close()
			return
		}
		if req.URL.Query().Get("agent") != "conformance" {
			fs.errorf("%s: agent %q, want the --agent given", req.URL, req.URL.Query().Get("agent"))
		}
		var run bool
		select {
		case run = <-fs.assign[n-1]:
		case <-time.After(guardTimeout):
			fs.errorf("case %d: its subtest never started", n)
		}
		resp := []byte(handshakeResponse(key))
		if run && fs.cases[n-1].withHandshake != nil {
			resp = append(resp, fs.cases[n-1].withHandshake(&peer{client: false})...)
		}
		if _, err := nc.Write(resp); err != nil || !run {
			nc.Close()
			return
		}
		fs.conns[n-1] <- incoming{nc: nc, br: br, problem: problem}
	default:
		fs.errorf("unexpected request for %s", req.URL)
		_, _ = nc.Write([]byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		nc.Close()
	}
}

// simpleSession answers the handshake, sends what first writes, and
// completes the closing handshake: as the side that closes first when
// weClose, or answering the client's close otherwise.
func (fs *fuzzServer) simpleSession(nc net.Conn, br *bufio.Reader, key string, first func(func([]byte) error) error, weClose bool) {
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(guardTimeout))
	write := func(b []byte) error { _, err := nc.Write(b); return err }
	if err := write([]byte(handshakeResponse(key))); err != nil {
		fs.errorf("%v", err)
		return
	}
	if err := first(write); err != nil {
		fs.errorf("%v", err)
		return
	}
	f, err := readWireFrame(br, 1<<20)
	if err != nil {
		fs.errorf("waiting for the client's close frame: %v", err)
		return
	}
	if f.op != opClose || !f.masked {
		fs.errorf("expected a masked close frame from the client, got %v", f)
		return
	}
	if !weClose {
		_ = write(encodeFrame(true, 0, opClose, f.payload[:min(2, len(f.payload))], nil))
	}
}

func handshakeResponse(key string) string {
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + acceptFor(key) + "\r\n\r\n"
}

// checkClientRequest checks an opening handshake as RFC 6455 §4.1 requires
// a client to send it, and returns its key.
func checkClientRequest(r *http.Request) (string, error) {
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return "", fmt.Errorf("%d Sec-WebSocket-Key headers, want 1", len(keys))
	}
	key := keys[0]
	var errs []error
	if raw, err := base64Decode(key); err != nil || len(raw) != 16 {
		errs = append(errs, fmt.Errorf("Sec-WebSocket-Key %q is not 16 bytes in base64", key))
	}
	if r.Method != http.MethodGet {
		errs = append(errs, fmt.Errorf("method %s, want GET", r.Method))
	}
	if r.ProtoMajor != 1 || r.ProtoMinor != 1 {
		errs = append(errs, fmt.Errorf("protocol %s, want HTTP/1.1", r.Proto))
	}
	if r.Host == "" {
		errs = append(errs, errors.New("no Host header"))
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		errs = append(errs, fmt.Errorf("Upgrade %q, want websocket", r.Header.Get("Upgrade")))
	}
	if !hasToken(r.Header.Values("Connection"), "upgrade") {
		errs = append(errs, fmt.Errorf("Connection %q does not hold Upgrade", r.Header.Values("Connection")))
	}
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || v[0] != "13" {
		errs = append(errs, fmt.Errorf("Sec-WebSocket-Version %q, want 13", v))
	}
	if ext := r.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		errs = append(errs, fmt.Errorf("offers extensions %q although echo-client runs without --compress", ext))
	}
	return key, errors.Join(errs...)
}

func hasToken(values []string, token string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
