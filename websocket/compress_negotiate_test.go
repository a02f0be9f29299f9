package websocket

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestNegotiateDeflateServer(t *testing.T) {
	takeover := &CompressionOptions{Mode: CompressionContextTakeover}
	shared := &CompressionOptions{}
	tests := []struct {
		name     string
		offers   []string
		opts     *CompressionOptions
		response string // "" means declined
		params   deflateParams
	}{
		{"compression off", []string{"permessage-deflate"}, nil, "", deflateParams{}},
		{"no header", nil, takeover, "", deflateParams{}},
		{"plain offer, takeover", []string{"permessage-deflate"}, takeover,
			"permessage-deflate", deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 15}},
		{"plain offer, no-takeover mode", []string{"permessage-deflate"}, shared,
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
			deflateParams{true, true, 15, 15}},
		{"chromium offer", []string{"permessage-deflate; client_max_window_bits"}, takeover,
			"permessage-deflate", deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 15}},
		{"server_no_context_takeover granted", []string{"permessage-deflate; server_no_context_takeover"}, takeover,
			"permessage-deflate; server_no_context_takeover", deflateParams{serverNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15}},
		{"client_no_context_takeover hint not echoed, takeover kept", []string{"permessage-deflate; client_no_context_takeover"}, takeover,
			"permessage-deflate", deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 15}},
		{"all four params", []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11"}, takeover,
			"permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11",
			deflateParams{true, false, 10, 11}},
		{"quoted values", []string{`permessage-deflate; server_max_window_bits="12"; client_max_window_bits="9"`}, takeover,
			"permessage-deflate; server_max_window_bits=12; client_max_window_bits=9", deflateParams{serverMaxWindowBits: 12, clientMaxWindowBits: 9}},
		{"extra whitespace", []string{"  permessage-deflate ;server_max_window_bits = 10 ; client_max_window_bits  "}, takeover,
			"permessage-deflate; server_max_window_bits=10", deflateParams{serverMaxWindowBits: 10, clientMaxWindowBits: 15}},
		{"option limits the server window", []string{"permessage-deflate"}, &CompressionOptions{Mode: CompressionContextTakeover, ServerMaxWindowBits: 11},
			"permessage-deflate; server_max_window_bits=11", deflateParams{serverMaxWindowBits: 11, clientMaxWindowBits: 15}},
		{"option below the request wins", []string{"permessage-deflate; server_max_window_bits=13"}, &CompressionOptions{Mode: CompressionContextTakeover, ServerMaxWindowBits: 10},
			"permessage-deflate; server_max_window_bits=10", deflateParams{serverMaxWindowBits: 10, clientMaxWindowBits: 15}},
		{"request below the option wins", []string{"permessage-deflate; server_max_window_bits=9"}, &CompressionOptions{Mode: CompressionContextTakeover, ServerMaxWindowBits: 12},
			"permessage-deflate; server_max_window_bits=9", deflateParams{serverMaxWindowBits: 9, clientMaxWindowBits: 15}},
		{"client window limited by option", []string{"permessage-deflate; client_max_window_bits"}, &CompressionOptions{Mode: CompressionContextTakeover, ClientMaxWindowBits: 10},
			"permessage-deflate; client_max_window_bits=10", deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 10}},
		{"client hint below option", []string{"permessage-deflate; client_max_window_bits=9"}, &CompressionOptions{Mode: CompressionContextTakeover, ClientMaxWindowBits: 12},
			"permessage-deflate; client_max_window_bits=9", deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 9}},
		{"client limit 8 goes out as 9", []string{"permessage-deflate; client_max_window_bits"}, &CompressionOptions{Mode: CompressionContextTakeover, ClientMaxWindowBits: 8},
			"permessage-deflate; client_max_window_bits=9", deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 9}},
		{"client's own 8 is echoed", []string{"permessage-deflate; client_max_window_bits=8"}, takeover,
			"permessage-deflate; client_max_window_bits=8", deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 8}},
		{"client limit needs client support", []string{"permessage-deflate"}, &CompressionOptions{Mode: CompressionContextTakeover, ClientMaxWindowBits: 10},
			"permessage-deflate", deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 15}},
		{"options force no takeover per direction", []string{"permessage-deflate"}, &CompressionOptions{Mode: CompressionContextTakeover, ServerNoContextTakeover: true},
			"permessage-deflate; server_no_context_takeover", deflateParams{serverNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15}},
		{"bools ignored outside takeover mode", []string{"permessage-deflate"}, &CompressionOptions{ServerNoContextTakeover: false},
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover", deflateParams{true, true, 15, 15}},

		{"several offers in one header, first good", []string{"permessage-deflate; server_max_window_bits=10, permessage-deflate"}, takeover,
			"permessage-deflate; server_max_window_bits=10", deflateParams{serverMaxWindowBits: 10, clientMaxWindowBits: 15}},
		{"several offers, first declined", []string{"permessage-deflate; server_max_window_bits=7, permessage-deflate; client_max_window_bits"}, takeover,
			"permessage-deflate", deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 15}},
		{"offers across headers", []string{"permessage-deflate; foo", "permessage-deflate; server_no_context_takeover"}, takeover,
			"permessage-deflate; server_no_context_takeover", deflateParams{serverNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15}},
		{"unknown extensions ignored", []string{"x-webkit-deflate-frame, foo; bar=1", "mux; quota=\"a,b\", permessage-deflate"}, takeover,
			"permessage-deflate", deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 15}},
		{"malformed element skipped", []string{`permessage-deflate; server_max_window_bits="10, permessage-deflate`}, takeover, "", deflateParams{}},
		{"malformed element, next one used", []string{`permessage-deflate; =1, permessage-deflate`}, takeover,
			"permessage-deflate", deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 15}},
		{"empty list elements", []string{", ,permessage-deflate,"}, takeover,
			"permessage-deflate", deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 15}},
		{"extension name is case sensitive", []string{"Permessage-Deflate"}, takeover, "", deflateParams{}},
	}
	// Each window size the client may ask for is honoured exactly.
	for bits := 8; bits <= 15; bits++ {
		tests = append(tests, struct {
			name     string
			offers   []string
			opts     *CompressionOptions
			response string
			params   deflateParams
		}{
			fmt.Sprintf("server_max_window_bits=%d", bits),
			[]string{fmt.Sprintf("permessage-deflate; server_max_window_bits=%d; client_max_window_bits=%d", bits, bits)},
			takeover,
			fmt.Sprintf("permessage-deflate; server_max_window_bits=%d", bits) + map[bool]string{true: fmt.Sprintf("; client_max_window_bits=%d", bits), false: ""}[bits < 15],
			deflateParams{serverMaxWindowBits: bits, clientMaxWindowBits: bits},
		})
	}
	// Offers RFC 7692 §7.1 requires us to decline.
	for _, bad := range []string{
		"server_max_window_bits=7", "server_max_window_bits=16", "server_max_window_bits=abc",
		"server_max_window_bits=", "server_max_window_bits", "server_max_window_bits=08",
		"server_max_window_bits=+9", "server_max_window_bits=-9", "server_max_window_bits=9.0",
		"client_max_window_bits=7", "client_max_window_bits=16", "client_max_window_bits=abc",
		"client_max_window_bits=", `client_max_window_bits=""`, "client_max_window_bits=015",
		"server_no_context_takeover=1", "client_no_context_takeover=true", `server_no_context_takeover=""`,
		"server_no_context_takeover; server_no_context_takeover",
		"client_no_context_takeover; client_no_context_takeover",
		"server_max_window_bits=10; server_max_window_bits=10",
		"client_max_window_bits; client_max_window_bits=10",
		"unknown_param", "x=1", "Server_No_Context_Takeover",
	} {
		tests = append(tests, struct {
			name     string
			offers   []string
			opts     *CompressionOptions
			response string
			params   deflateParams
		}{"declines " + bad, []string{"permessage-deflate; " + bad}, takeover, "", deflateParams{}})
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, resp, ok := negotiateDeflateServer(tt.offers, tt.opts)
			if want := tt.response != ""; ok != want {
				t.Fatalf("ok = %v, want %v (response %q)", ok, want, resp)
			}
			if resp != tt.response {
				t.Errorf("response = %q, want %q", resp, tt.response)
			}
			if p != tt.params {
				t.Errorf("params = %+v, want %+v", p, tt.params)
			}
			if !ok {
				return
			}
			// A client that offered exactly this must accept our answer.
			if _, err := parseDeflateParams(mustOneElement(t, resp).params, true); err != nil {
				t.Errorf("our response does not parse as a response: %v", err)
			}
		})
	}
}

func mustOneElement(t *testing.T, h string) extElement {
	t.Helper()
	els := extParseHeader(h)
	if len(els) != 1 || els[0].err != nil {
		t.Fatalf("%q: want one well-formed element, got %+v", h, els)
	}
	return els[0]
}

func TestDeflateClientOffer(t *testing.T) {
	tests := []struct {
		opts *CompressionOptions
		want string
	}{
		{&CompressionOptions{}, "permessage-deflate; client_no_context_takeover; server_no_context_takeover; client_max_window_bits, " +
			"permessage-deflate; client_no_context_takeover; client_max_window_bits"},
		{&CompressionOptions{Mode: CompressionContextTakeover}, "permessage-deflate; client_max_window_bits"},
		{&CompressionOptions{Mode: CompressionContextTakeover, ClientMaxWindowBits: 10}, "permessage-deflate; client_max_window_bits=10"},
		{&CompressionOptions{Mode: CompressionContextTakeover, ServerMaxWindowBits: 8, ClientNoContextTakeover: true},
			"permessage-deflate; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits, " +
				"permessage-deflate; client_max_window_bits"},
		// The conformance driver's offer: every server-side choice of
		// Autobahn groups 12 and 13 finds an offer it can accept.
		{&CompressionOptions{Mode: CompressionContextTakeover, ClientNoContextTakeover: true},
			"permessage-deflate; client_no_context_takeover; client_max_window_bits, permessage-deflate; client_max_window_bits"},
		{&CompressionOptions{Mode: CompressionContextTakeover, ServerNoContextTakeover: true, ServerMaxWindowBits: 12, ClientMaxWindowBits: 9},
			"permessage-deflate; server_no_context_takeover; server_max_window_bits=12; client_max_window_bits=9, " +
				"permessage-deflate; client_max_window_bits=9"},
	}
	for _, tt := range tests {
		if got := deflateClientOffer(tt.opts); got != tt.want {
			t.Errorf("offer(%+v) =\n %q, want\n %q", *tt.opts, got, tt.want)
		}
		// Our own server must accept our own offer, and we its answer.
		_, resp, ok := negotiateDeflateServer([]string{deflateClientOffer(tt.opts)}, &CompressionOptions{Mode: CompressionContextTakeover})
		if !ok {
			t.Errorf("own server declined %q", tt.want)
			continue
		}
		if _, ok, err := acceptDeflateResponse([]string{resp}, tt.opts); !ok || err != nil {
			t.Errorf("own answer %q to %q rejected: ok=%v err=%v", resp, tt.want, ok, err)
		}
	}
}

func TestAcceptDeflateResponse(t *testing.T) {
	takeover := &CompressionOptions{Mode: CompressionContextTakeover}
	limited := &CompressionOptions{Mode: CompressionContextTakeover, ServerMaxWindowBits: 10, ClientMaxWindowBits: 12}
	askNoTakeover := &CompressionOptions{Mode: CompressionContextTakeover, ServerNoContextTakeover: true}
	tests := []struct {
		name      string
		responses []string
		opts      *CompressionOptions
		ok        bool
		params    deflateParams
		errPart   string // non-empty: an error containing this is expected
	}{
		{"not accepted", nil, takeover, false, deflateParams{}, ""},
		{"empty header", []string{""}, takeover, false, deflateParams{}, ""},
		{"plain", []string{"permessage-deflate"}, takeover, true, deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 15}, ""},
		{"python websockets server", []string{"permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"}, takeover, true,
			deflateParams{serverMaxWindowBits: 12, clientMaxWindowBits: 12}, ""},
		{"autobahn: server_no_context_takeover alone", []string{"permessage-deflate; server_no_context_takeover"}, takeover, true,
			deflateParams{serverNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15}, ""},
		{"server adds client_no_context_takeover", []string{"permessage-deflate; client_no_context_takeover"}, takeover, true,
			deflateParams{clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15}, ""},
		{"quoted value", []string{`permessage-deflate; server_max_window_bits="9"`}, takeover, true,
			deflateParams{serverMaxWindowBits: 9, clientMaxWindowBits: 15}, ""},
		{"smaller server window than asked", []string{"permessage-deflate; server_max_window_bits=9"}, limited, true,
			deflateParams{serverMaxWindowBits: 9, clientMaxWindowBits: 12}, ""},
		{"server window as asked, smaller client window", []string{"permessage-deflate; server_max_window_bits=10; client_max_window_bits=8"}, limited, true,
			deflateParams{serverMaxWindowBits: 10, clientMaxWindowBits: 8}, ""},
		{"fallback offer: server ignores the window request", []string{"permessage-deflate"}, limited, true,
			deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 12}, ""},
		{"fallback offer: server ignores no-takeover request", []string{"permessage-deflate"}, askNoTakeover, true,
			deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 15}, ""},
		{"no-takeover mode keeps our side without takeover", []string{"permessage-deflate; server_no_context_takeover"}, &CompressionOptions{}, true,
			deflateParams{true, true, 15, 15}, ""},
		{"split over two headers", []string{"", "permessage-deflate; client_max_window_bits=10"}, takeover, true,
			deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 10}, ""},

		{"compression not offered", []string{"permessage-deflate"}, nil, false, deflateParams{}, "not offered"},
		{"other extension", []string{"x-webkit-deflate-frame"}, takeover, false, deflateParams{}, "not offered"},
		{"other extension next to ours", []string{"permessage-deflate, foo"}, takeover, false, deflateParams{}, "not offered"},
		{"accepted twice", []string{"permessage-deflate, permessage-deflate"}, takeover, false, deflateParams{}, "2 times"},
		{"accepted twice across headers", []string{"permessage-deflate", "permessage-deflate"}, takeover, false, deflateParams{}, "2 times"},
		{"unknown param", []string{"permessage-deflate; foo"}, takeover, false, deflateParams{}, "unknown parameter foo"},
		{"duplicate param", []string{"permessage-deflate; server_no_context_takeover; server_no_context_takeover"}, takeover, false, deflateParams{}, "twice"},
		{"value on no-takeover", []string{"permessage-deflate; client_no_context_takeover=1"}, takeover, false, deflateParams{}, "takes no value"},
		{"client window without value", []string{"permessage-deflate; client_max_window_bits"}, takeover, false, deflateParams{}, "needs a value"},
		{"server window without value", []string{"permessage-deflate; server_max_window_bits"}, takeover, false, deflateParams{}, "needs a value"},
		{"server window 7", []string{"permessage-deflate; server_max_window_bits=7"}, takeover, false, deflateParams{}, "8 to 15"},
		{"server window 16", []string{"permessage-deflate; server_max_window_bits=16"}, takeover, false, deflateParams{}, "8 to 15"},
		{"client window abc", []string{"permessage-deflate; client_max_window_bits=abc"}, takeover, false, deflateParams{}, "8 to 15"},
		{"server window above request fits the fallback offer", []string{"permessage-deflate; server_max_window_bits=11; server_no_context_takeover"}, &CompressionOptions{Mode: CompressionContextTakeover, ServerMaxWindowBits: 10, ServerNoContextTakeover: true}, true,
			deflateParams{serverNoContextTakeover: true, serverMaxWindowBits: 11, clientMaxWindowBits: 15}, ""},
		{"client window above offer", []string{"permessage-deflate; client_max_window_bits=13"}, limited, false, deflateParams{}, "exceeds the 12 offered"},
		{"syntax error", []string{`permessage-deflate; server_max_window_bits="10`}, takeover, false, deflateParams{}, "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok, err := acceptDeflateResponse(tt.responses, tt.opts)
			if tt.errPart != "" {
				if err == nil || !errors.Is(err, errDeflateResponse) || !strings.Contains(err.Error(), tt.errPart) {
					t.Fatalf("err = %v, want errDeflateResponse containing %q", err, tt.errPart)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if ok != tt.ok || p != tt.params {
				t.Errorf("got ok=%v %+v, want ok=%v %+v", ok, p, tt.ok, tt.params)
			}
		})
	}
}

func TestDeflateParamsDirections(t *testing.T) {
	p := deflateParams{serverNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 12}
	if w, tk := p.sendParams(true); w != 10 || tk {
		t.Errorf("server send = %d,%v; want 10,false", w, tk)
	}
	if w, tk := p.receiveParams(true); w != 12 || !tk {
		t.Errorf("server receive = %d,%v; want 12,true", w, tk)
	}
	if w, tk := p.sendParams(false); w != 12 || !tk {
		t.Errorf("client send = %d,%v; want 12,true", w, tk)
	}
	if w, tk := p.receiveParams(false); w != 10 || tk {
		t.Errorf("client receive = %d,%v; want 10,false", w, tk)
	}
}

func TestCompressionOptionsValidate(t *testing.T) {
	good := []CompressionOptions{{}, {Level: 9, ServerMaxWindowBits: 8, ClientMaxWindowBits: 15, Mode: CompressionContextTakeover, Threshold: -1}}
	for _, o := range good {
		if err := o.validate(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	bad := []CompressionOptions{{Level: -1}, {Level: 10}, {ServerMaxWindowBits: 7}, {ClientMaxWindowBits: 16}, {Mode: 5}}
	for _, o := range bad {
		if err := o.validate(); !errors.Is(err, errCompressionOptions) {
			t.Errorf("%+v: err = %v, want errCompressionOptions", o, err)
		}
	}
	var nilOpts *CompressionOptions
	if err := nilOpts.validate(); err != nil {
		t.Errorf("nil options: %v", err)
	}
	if c := (&CompressionOptions{}).config(); c.level != 1 || c.serverMaxWindow != 15 || !c.serverNoTakeover || !c.clientNoTakeover {
		t.Errorf("defaults = %+v", c)
	}
	p := deflateParams{serverNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15}
	for _, tt := range []struct {
		opts     *CompressionOptions
		isServer bool
		n        int
		want     bool
	}{
		{&CompressionOptions{}, true, 159, false},
		{&CompressionOptions{}, true, 160, true},
		{&CompressionOptions{}, false, 31, false}, // the client's direction keeps takeover
		{&CompressionOptions{}, false, 32, true},
		{&CompressionOptions{Threshold: -1}, true, 0, true},
		{&CompressionOptions{Threshold: 1000}, false, 999, false},
		{&CompressionOptions{Threshold: 1000}, true, 1000, true},
	} {
		c := p.newCompressor(tt.isServer, tt.opts)
		if got := c.shouldCompress(tt.n); got != tt.want {
			t.Errorf("Threshold %d, server %v: shouldCompress(%d) = %v", tt.opts.Threshold, tt.isServer, tt.n, got)
		}
	}
}

// responseFits is what enforces the server-directed requests of an offer;
// with a fallback offer present it is not reachable through
// acceptDeflateResponse, so it is tested directly.
func TestResponseFits(t *testing.T) {
	tests := []struct {
		offer, resp deflateOffer
		errPart     string
	}{
		{deflateOffer{serverMaxWindow: 10}, deflateOffer{serverMaxWindow: 10}, ""},
		{deflateOffer{serverMaxWindow: 10}, deflateOffer{serverMaxWindow: 8}, ""},
		{deflateOffer{serverMaxWindow: 10}, deflateOffer{serverMaxWindow: 11}, "exceeds the 10 requested"},
		{deflateOffer{serverMaxWindow: 10}, deflateOffer{}, "not answered"},
		{deflateOffer{serverNoTakeover: true}, deflateOffer{}, "not granted"},
		{deflateOffer{serverNoTakeover: true}, deflateOffer{serverNoTakeover: true, clientNoTakeover: true}, ""},
		{deflateOffer{}, deflateOffer{serverMaxWindow: 12, serverNoTakeover: true}, ""},
		{deflateOffer{}, deflateOffer{hasClientWindow: true, clientMaxWindow: 10}, "not offered"},
		{deflateOffer{hasClientWindow: true}, deflateOffer{hasClientWindow: true, clientMaxWindow: 15}, ""},
		{deflateOffer{hasClientWindow: true, clientMaxWindow: 9}, deflateOffer{hasClientWindow: true, clientMaxWindow: 10}, "exceeds the 9 offered"},
	}
	for _, tt := range tests {
		err := responseFits(tt.offer, tt.resp)
		if (err == nil) != (tt.errPart == "") || (err != nil && !strings.Contains(err.Error(), tt.errPart)) {
			t.Errorf("responseFits(%+v, %+v) = %v, want %q", tt.offer, tt.resp, err, tt.errPart)
		}
	}
}
