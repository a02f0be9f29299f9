package conformance_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestClientDeflate_Case_12 and TestClientDeflate_Case_13 run the
// permessage-deflate groups against `duplex echo-client --compress`,
// playing the TestSuite's fuzzing server: each case answers the client's
// offers with the catalogue's accept function.
func TestClientDeflate_Case_12(t *testing.T) { runClientDeflate(t, "12") }

// TestClientDeflate_Case_13: see TestClientDeflate_Case_12.
func TestClientDeflate_Case_13(t *testing.T) { runClientDeflate(t, "13") }

// deflateConn is a case connection handed to its subtest.
type deflateConn struct {
	nc      net.Conn
	br      *bufio.Reader
	offers  string
	params  pmdParams
	problem error
}

func runClientDeflate(t *testing.T, major string) {
	cases := deflateCases(major)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs := &fuzzServer{ln: ln, reported: make(chan struct{})}
	assign := make([]chan bool, len(cases))
	conns := make([]chan deflateConn, len(cases))
	for i := range cases {
		assign[i], conns[i] = make(chan bool, 1), make(chan deflateConn, 1)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			handleDeflateRequest(fs, nc, cases, assign, conns)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, ch := range conns {
			select {
			case in := <-ch:
				in.nc.Close()
			default:
			}
		}
	})
	proc := startDuplex(t, "echo-client", "--url", "ws://"+ln.Addr().String(), "--agent", "conformance", "--compress")

	for i, c := range cases {
		ran := false
		t.Run(c.name(), func(t *testing.T) {
			t.Log(c.desc())
			ran = true
			assign[i] <- true
			var in deflateConn
			select {
			case in = <-conns[i]:
			case <-proc.exited:
				t.Fatalf("echo-client exited (%v) before case %d; stderr:\n%s", proc.waitErr, i+1, proc.stderr.String())
			case <-time.After(guardTimeout):
				t.Fatalf("echo-client did not open case %d within %v", i+1, guardTimeout)
			}
			defer in.nc.Close()
			if in.problem != nil {
				t.Fatalf("offers %q: %v", in.offers, in.problem)
			}
			p := newPeer(t, in.nc, in.br, false)
			pp := in.params
			t.Logf("offers %q, negotiated %+v", in.offers, pp)
			runDeflateCase(p, c, bits(pp.serverMaxBits), !pp.serverNoTakeover, bits(pp.clientMaxBits), !pp.clientNoTakeover)
		})
		if !ran {
			assign[i] <- false
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
	if s := proc.stderr.String(); strings.Contains(s, "case ") {
		t.Errorf("echo-client reported failures on stderr:\n%s", s)
	}
	for _, err := range fs.problems() {
		t.Error(err)
	}
}

// handleDeflateRequest serves one connection of the fuzzing-server
// protocol for the compression cases.
func handleDeflateRequest(fs *fuzzServer, nc net.Conn, cases []deflateCase, assign []chan bool, conns []chan deflateConn) {
	br := bufio.NewReaderSize(nc, 64<<10)
	_ = nc.SetReadDeadline(time.Now().Add(guardTimeout))
	req, err := http.ReadRequest(br)
	if err != nil {
		fs.errorf("reading an opening handshake: %v", err)
		nc.Close()
		return
	}
	_ = nc.SetReadDeadline(time.Time{})
	offers := strings.Join(req.Header.Values("Sec-WebSocket-Extensions"), ", ")
	plain := req.Clone(req.Context())
	plain.Header.Del("Sec-WebSocket-Extensions")
	key, problem := checkClientRequest(plain)
	if problem != nil {
		fs.errorf("%s: %v", req.URL, problem)
		if key == "" {
			nc.Close()
			return
		}
	}
	switch req.URL.Path {
	case "/getCaseCount":
		fs.simpleSession(nc, br, key, func(w func([]byte) error) error {
			return w(encodeFrame(true, 0, opText, []byte(strconv.Itoa(len(cases))), nil))
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
		if err != nil || n < 1 || n > len(cases) {
			fs.errorf("%s: no such case", req.URL)
			nc.Close()
			return
		}
		var run bool
		select {
		case run = <-assign[n-1]:
		case <-time.After(guardTimeout):
			fs.errorf("case %d: its subtest never started", n)
		}
		resp := handshakeResponse(key)
		params, answer, perr := acceptDeflate(offers, cases[n-1].group.accept)
		if perr == nil {
			resp = strings.TrimSuffix(resp, "\r\n") + "Sec-WebSocket-Extensions: " + answer + "\r\n\r\n"
		}
		if !run {
			// Filtered out by -run: answer and close normally at once.
			_, _ = nc.Write(append([]byte(resp), encodeFrame(true, 0, opClose, closePayload(1000, ""), nil)...))
			_ = nc.SetReadDeadline(time.Now().Add(guardTimeout))
			_, _ = readWireFrame(br, 1<<10)
			nc.Close()
			return
		}
		if _, err := nc.Write([]byte(resp)); err != nil {
			nc.Close()
			return
		}
		conns[n-1] <- deflateConn{nc: nc, br: br, offers: offers, params: params, problem: perr}
	default:
		fs.errorf("unexpected request for %s", req.URL)
		nc.Close()
	}
}

// acceptDeflate does what the TestSuite's accept function does with the
// client's offers: pick the first permessage-deflate offer that announces
// what the function needs to ask (client_no_context_takeover,
// client_max_window_bits), and answer it, keeping the server parameters
// the offer asked for. No fitting offer would make the case
// UNIMPLEMENTED, which is an error here.
func acceptDeflate(header string, a pmdAccept) (pmdParams, string, error) {
	if header == "" {
		return pmdParams{}, "", fmt.Errorf("echo-client --compress offered no extension")
	}
	exts, err := parseExtensions(header)
	if err != nil {
		return pmdParams{}, "", err
	}
	for _, try := range a.tries {
		for _, e := range exts {
			if e.name != "permessage-deflate" {
				continue
			}
			var pp pmdParams
			_, acceptNoTakeover := e.params["client_no_context_takeover"]
			cmwb, acceptMaxBits := e.params["client_max_window_bits"]
			if acceptMaxBits && cmwb != "" {
				if _, err := windowParam(cmwb); err != nil {
					return pp, "", err
				}
			}
			_, pp.serverNoTakeover = e.params["server_no_context_takeover"]
			if v, ok := e.params["server_max_window_bits"]; ok {
				if pp.serverMaxBits, err = windowParam(v); err != nil {
					return pp, "", err
				}
			}
			if try.requestNoTakeover && !acceptNoTakeover || try.requestMaxBits != 0 && !acceptMaxBits {
				continue
			}
			pp.clientNoTakeover = try.requestNoTakeover
			pp.clientMaxBits = try.requestMaxBits
			s := "permessage-deflate"
			if pp.serverNoTakeover {
				s += "; server_no_context_takeover"
			}
			if pp.serverMaxBits != 0 {
				s += "; server_max_window_bits=" + strconv.Itoa(pp.serverMaxBits)
			}
			if pp.clientNoTakeover {
				s += "; client_no_context_takeover"
			}
			if pp.clientMaxBits != 0 {
				s += "; client_max_window_bits=" + strconv.Itoa(pp.clientMaxBits)
			}
			return pp, s, nil
		}
	}
	return pmdParams{}, "", fmt.Errorf("%s finds no offer it can accept in %q: the case would be UNIMPLEMENTED", a.name, header)
}
