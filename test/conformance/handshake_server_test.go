package conformance_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/duplexws/duplex/websocket"
)

// acceptServer serves websocket.Accept with opts in process and echoes
// messages; it returns the host:port and a channel receiving every error
// Accept returned.
func acceptServer(t *testing.T, opts *websocket.AcceptOptions) (string, chan error) {
	t.Helper()
	errs := make(chan error, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, opts)
		if err != nil {
			errs <- err
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		for {
			typ, p, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, p); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), errs
}

// rawExchange sends a hand-written request and returns the response with
// its body read, and the connection for further use.
func rawExchange(t *testing.T, addr, req string) (*http.Response, string, net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, guardTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(guardTimeout))
	if _, err := io.WriteString(nc, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = nc.SetDeadline(time.Time{})
	return resp, string(body), nc, br
}

// request builds an opening handshake; headers override or remove
// (empty value) the standard ones, in order, and extra lines are added.
func request(method, target, addr string, lines ...string) string {
	std := []string{
		"Host: " + addr,
		"Upgrade: websocket",
		"Connection: Upgrade",
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
		"Sec-WebSocket-Version: 13",
	}
	for _, l := range lines {
		name, _, _ := strings.Cut(l, ":")
		replaced := false
		for i, s := range std {
			if sn, _, _ := strings.Cut(s, ":"); strings.EqualFold(sn, name) && !strings.HasPrefix(l, "+") {
				std[i] = l
				replaced = true
				break
			}
		}
		if !replaced {
			std = append(std, strings.TrimPrefix(l, "+"))
		}
	}
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\n")
	for _, s := range std {
		if name, v, _ := strings.Cut(s, ":"); strings.TrimSpace(v) == "" && !strings.EqualFold(name, "Origin") {
			continue // a header given with no value is removed
		}
		b.WriteString(s + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// TestAccept checks the server side of the opening handshake (RFC 6455
// §4.2): what it accepts, how it answers, and every way it refuses.
func TestAccept(t *testing.T) {
	t.Run("RFC6455_1_3_accept_key_of_the_rfc_example", func(t *testing.T) {
		addr, _ := acceptServer(t, nil)
		resp, _, _, _ := rawExchange(t, addr, request("GET", "/chat", addr))
		if resp.StatusCode != 101 {
			t.Fatalf("status %d, want 101", resp.StatusCode)
		}
		// The example of RFC 6455 §1.3.
		if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
			t.Errorf("Sec-WebSocket-Accept %q, want the RFC's s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", got)
		}
		if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") || !hasToken(resp.Header.Values("Connection"), "upgrade") {
			t.Errorf("Upgrade %q, Connection %q; want websocket, Upgrade", resp.Header.Get("Upgrade"), resp.Header.Values("Connection"))
		}
		for _, h := range []string{"Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions"} {
			if v := resp.Header.Get(h); v != "" {
				t.Errorf("%s: %q chosen although nothing was offered", h, v)
			}
		}
	})

	// Variants that must be accepted: header names and tokens are
	// case-insensitive, Connection and Upgrade are comma lists and may be
	// repeated (RFC 9110 §5.3, §7.6.1, §7.8).
	for _, tc := range []struct{ name, req string }{
		{"upgrade_token_any_case", "Upgrade: WebSocket"},
		{"connection_token_any_case", "Connection: UPGRADE"},
		{"connection_list", "Connection: keep-alive, Upgrade"},
		{"connection_list_no_spaces", "Connection: keep-alive,Upgrade,foo"},
		{"connection_repeated", "Connection: keep-alive\r\nConnection: Upgrade"},
		{"upgrade_list", "Upgrade: foo/2, websocket"},
		{"header_names_lower_case", "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ=="},
		{"version_with_spaces", "Sec-WebSocket-Version:   13  "},
		{"query_string", ""},
	} {
		t.Run("RFC6455_4_2_1_accepts_"+tc.name, func(t *testing.T) {
			addr, _ := acceptServer(t, nil)
			resp, body, _, _ := rawExchange(t, addr, request("GET", "/chat?room=1", addr, tc.req))
			if resp.StatusCode != 101 {
				t.Fatalf("status %d (%s), want 101", resp.StatusCode, body)
			}
			if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
				t.Errorf("Sec-WebSocket-Accept %q", got)
			}
		})
	}

	// Every rejection: status, the header the RFC asks for, and a
	// *websocket.HandshakeError for the handler.
	for _, tc := range []struct {
		name         string
		method       string
		lines        []string
		proto        string
		status       int
		header, want string
	}{
		{name: "method_post", method: "POST", status: 405, header: "Allow", want: "GET"},
		{name: "method_put", method: "PUT", status: 405, header: "Allow", want: "GET"},
		{name: "http_1_0", method: "GET", proto: "HTTP/1.0", status: 505},
		{name: "no_upgrade", method: "GET", lines: []string{"Upgrade:"}, status: 426, header: "Upgrade", want: "websocket"},
		{name: "upgrade_other_protocol", method: "GET", lines: []string{"Upgrade: h2c"}, status: 426, header: "Upgrade", want: "websocket"},
		{name: "no_connection_upgrade", method: "GET", lines: []string{"Connection: keep-alive"}, status: 426, header: "Upgrade", want: "websocket"},
		{name: "no_version", method: "GET", lines: []string{"Sec-WebSocket-Version:"}, status: 426, header: "Sec-WebSocket-Version", want: "13"},
		{name: "version_8", method: "GET", lines: []string{"Sec-WebSocket-Version: 8"}, status: 426, header: "Sec-WebSocket-Version", want: "13"},
		{name: "version_14", method: "GET", lines: []string{"Sec-WebSocket-Version: 14"}, status: 426, header: "Sec-WebSocket-Version", want: "13"},
		{name: "version_list", method: "GET", lines: []string{"Sec-WebSocket-Version: 13, 8"}, status: 426, header: "Sec-WebSocket-Version", want: "13"},
		{name: "version_repeated", method: "GET", lines: []string{"+Sec-WebSocket-Version: 8"}, status: 426, header: "Sec-WebSocket-Version", want: "13"},
		{name: "no_key", method: "GET", lines: []string{"Sec-WebSocket-Key:"}, status: 400},
		{name: "key_not_base64", method: "GET", lines: []string{"Sec-WebSocket-Key: not base64 at all!"}, status: 400},
		{name: "key_15_bytes", method: "GET", lines: []string{"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA"}, status: 400},
		{name: "key_17_bytes", method: "GET", lines: []string{"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA="}, status: 400},
		{name: "key_repeated", method: "GET", lines: []string{"+Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA=="}, status: 400},
		{name: "cross_origin", method: "GET", lines: []string{"Origin: http://evil.example"}, status: 403},
		{name: "null_origin", method: "GET", lines: []string{"Origin: null"}, status: 403},
	} {
		t.Run("RFC6455_4_2_1_rejects_"+tc.name, func(t *testing.T) {
			addr, errs := acceptServer(t, nil)
			req := request(tc.method, "/", addr, tc.lines...)
			if tc.proto != "" {
				req = strings.Replace(req, "HTTP/1.1", tc.proto, 1)
			}
			resp, body, _, _ := rawExchange(t, addr, req)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, body, tc.status)
			}
			if tc.header != "" && !hasToken(resp.Header.Values(tc.header), tc.want) {
				t.Errorf("%s: %q, want %q", tc.header, resp.Header.Values(tc.header), tc.want)
			}
			if resp.Header.Get("Sec-WebSocket-Accept") != "" {
				t.Errorf("a refusal carries Sec-WebSocket-Accept %q", resp.Header.Get("Sec-WebSocket-Accept"))
			}
			select {
			case err := <-errs:
				var he *websocket.HandshakeError
				if !errors.As(err, &he) || he.Status != tc.status {
					t.Errorf("Accept returned %v, want a *HandshakeError with status %d", err, tc.status)
				}
			case <-time.After(guardTimeout):
				t.Error("Accept did not return")
			}
		})
	}

	// Origin rules (RFC 6455 §10.2): a browser's Origin must be the
	// server's own host or match a pattern; non-browser clients send none.
	for _, tc := range []struct {
		name     string
		patterns []string
		origin   func(addr string) string
		status   int
	}{
		{"no_origin_allowed", nil, func(string) string { return "" }, 101},
		{"same_host_allowed", nil, func(a string) string { return "http://" + a }, 101},
		{"same_host_other_scheme_allowed", nil, func(a string) string { return "https://" + a }, 101},
		{"other_port_refused", nil, func(string) string { return "http://127.0.0.1:1" }, 403},
		{"pattern_match_allowed", []string{"*.example.com"}, func(string) string { return "https://app.example.com" }, 101},
		{"pattern_match_any_case", []string{"*.example.com"}, func(string) string { return "https://APP.Example.COM" }, 101},
		{"pattern_miss_refused", []string{"*.example.com"}, func(string) string { return "https://example.org" }, 403},
		{"pattern_with_scheme", []string{"https://app.example.com"}, func(string) string { return "https://app.example.com" }, 101},
		{"pattern_with_scheme_wrong_scheme", []string{"https://app.example.com"}, func(string) string { return "http://app.example.com" }, 403},
	} {
		t.Run("RFC6455_10_2_origin_"+tc.name, func(t *testing.T) {
			addr, _ := acceptServer(t, &websocket.AcceptOptions{OriginPatterns: tc.patterns})
			var lines []string
			if o := tc.origin(addr); o != "" {
				lines = append(lines, "Origin: "+o)
			}
			resp, body, _, _ := rawExchange(t, addr, request("GET", "/", addr, lines...))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, body, tc.status)
			}
		})
	}
	t.Run("RFC6455_10_2_origin_host_any_case", func(t *testing.T) {
		addr, _ := acceptServer(t, nil)
		port := addr[strings.LastIndex(addr, ":"):]
		resp, body, _, _ := rawExchange(t, addr, request("GET", "/", addr, "Host: LocalHost"+port, "Origin: http://localhost"+port))
		if resp.StatusCode != 101 {
			t.Fatalf("status %d (%q), want 101: host names compare without case", resp.StatusCode, body)
		}
	})
	t.Run("RFC6455_10_2_origin_check_off", func(t *testing.T) {
		addr, _ := acceptServer(t, &websocket.AcceptOptions{InsecureSkipVerify: true})
		resp, _, _, _ := rawExchange(t, addr, request("GET", "/", addr, "Origin: http://evil.example"))
		if resp.StatusCode != 101 {
			t.Fatalf("status %d, want 101 with InsecureSkipVerify", resp.StatusCode)
		}
	})

	// Subprotocols (RFC 6455 §4.2.2 /subprotocol/): the server picks one
	// the client offered, by its own preference, or none.
	for _, tc := range []struct {
		name   string
		server []string
		lines  []string
		want   string
	}{
		{"server_preference_wins", []string{"chat", "superchat"}, []string{"Sec-WebSocket-Protocol: superchat, chat"}, "chat"},
		{"only_common_one", []string{"chat", "superchat"}, []string{"Sec-WebSocket-Protocol: foo, superchat"}, "superchat"},
		{"repeated_header", []string{"chat"}, []string{"Sec-WebSocket-Protocol: foo", "+Sec-WebSocket-Protocol: chat"}, "chat"},
		{"none_common", []string{"chat"}, []string{"Sec-WebSocket-Protocol: foo, bar"}, ""},
		{"none_offered", []string{"chat"}, nil, ""},
		{"server_has_none", nil, []string{"Sec-WebSocket-Protocol: chat"}, ""},
		{"case_sensitive", []string{"chat"}, []string{"Sec-WebSocket-Protocol: CHAT"}, ""},
	} {
		t.Run("RFC6455_4_2_2_subprotocol_"+tc.name, func(t *testing.T) {
			addr, _ := acceptServer(t, &websocket.AcceptOptions{Subprotocols: tc.server})
			resp, body, _, _ := rawExchange(t, addr, request("GET", "/", addr, tc.lines...))
			if resp.StatusCode != 101 {
				t.Fatalf("status %d (%q), want 101", resp.StatusCode, body)
			}
			if got := resp.Header.Values("Sec-WebSocket-Protocol"); strings.Join(got, ",") != tc.want {
				t.Errorf("Sec-WebSocket-Protocol %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("RFC6455_9_1_extension_offer_ignored_without_compression", func(t *testing.T) {
		addr, _ := acceptServer(t, nil)
		resp, _, nc, br := rawExchange(t, addr, request("GET", "/", addr, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-unknown"))
		if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Extensions") != "" {
			t.Fatalf("status %d, extensions %q; want 101 and none", resp.StatusCode, resp.Header.Get("Sec-WebSocket-Extensions"))
		}
		// RSV1 without a negotiated extension is still a protocol error.
		p := newPeer(t, nc, br, true)
		p.send(p.frame(true, rsv1, opText, []byte("compressed?")))
		p.expectFailure(1002)
	})
	t.Run("RFC6455_4_2_2_response_header_option", func(t *testing.T) {
		addr, _ := acceptServer(t, &websocket.AcceptOptions{ResponseHeader: http.Header{
			"Set-Cookie": {"session=1"},
			"X-Split":    {"a\r\nInjected: yes"},
		}})
		resp, _, _, _ := rawExchange(t, addr, request("GET", "/", addr))
		if resp.StatusCode != 101 || resp.Header.Get("Set-Cookie") != "session=1" {
			t.Fatalf("status %d, Set-Cookie %q; want 101 and session=1", resp.StatusCode, resp.Header.Get("Set-Cookie"))
		}
		if resp.Header.Get("Injected") != "" {
			t.Error("a response header value with CRLF split the response")
		}
	})
}
