package websocket

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Negotiation of permessage-deflate (RFC 7692 §7.1).

const deflateExtension = "permessage-deflate"

// The four parameters of RFC 7692 §7.1.
const (
	paramServerNoTakeover = "server_no_context_takeover"
	paramClientNoTakeover = "client_no_context_takeover"
	paramServerMaxWindow  = "server_max_window_bits"
	paramClientMaxWindow  = "client_max_window_bits"
)

// deflateParams is the outcome of a negotiation, as agreed on the wire.
// Window sizes are always 8..15 (15 when the parameter was absent).
type deflateParams struct {
	serverNoContextTakeover bool
	clientNoContextTakeover bool
	serverMaxWindowBits     int
	clientMaxWindowBits     int
}

// sendParams is how the side that isServer says compresses its messages.
func (p deflateParams) sendParams(isServer bool) (windowBits int, takeover bool) {
	if isServer {
		return p.serverMaxWindowBits, !p.serverNoContextTakeover
	}
	return p.clientMaxWindowBits, !p.clientNoContextTakeover
}

// receiveParams is how the peer compresses the messages this side reads.
func (p deflateParams) receiveParams(isServer bool) (windowBits int, takeover bool) {
	return p.sendParams(!isServer)
}

// newCompressor returns the compressor for this side's messages, with the
// level and size threshold of o.
func (p deflateParams) newCompressor(isServer bool, o *CompressionOptions) *deflateCompressor {
	cfg := o.config()
	w, t := p.sendParams(isServer)
	c := newDeflateCompressor(cfg.level, w, t)
	c.threshold = cfg.thresholdFor(t)
	return c
}

// newDecompressor returns the decompressor for the peer's messages.
func (p deflateParams) newDecompressor(isServer bool) *deflateDecompressor {
	w, t := p.receiveParams(isServer)
	return newDeflateDecompressor(w, t)
}

// deflateOffer is the parameter set of one permessage-deflate element, an
// offer or a response. Zero window fields mean the parameter was absent.
type deflateOffer struct {
	serverNoTakeover bool
	clientNoTakeover bool
	serverMaxWindow  int
	clientMaxWindow  int  // 0 when absent or given without a value
	hasClientWindow  bool // client_max_window_bits present, with or without a value
}

// errDeflateParams is wrapped by every rejection of a permessage-deflate
// element's parameters.
var errDeflateParams = errors.New("invalid permessage-deflate parameters")

// parseDeflateParams checks one element's parameters: known names only, each
// at most once, values where RFC 7692 wants them (decimal 8..15 without a
// leading zero) and none where it forbids them. In a response
// client_max_window_bits needs a value; in an offer it may stand alone.
func parseDeflateParams(params []extParam, response bool) (deflateOffer, error) {
	var d deflateOffer
	seen := map[string]bool{}
	for _, p := range params {
		if seen[p.name] {
			return d, fmt.Errorf("%w: %s appears twice", errDeflateParams, p.name)
		}
		seen[p.name] = true
		switch p.name {
		case paramServerNoTakeover, paramClientNoTakeover:
			if p.hasValue {
				return d, fmt.Errorf("%w: %s takes no value, got %q", errDeflateParams, p.name, p.value)
			}
			if p.name == paramServerNoTakeover {
				d.serverNoTakeover = true
			} else {
				d.clientNoTakeover = true
			}
		case paramServerMaxWindow:
			bits, err := parseWindowBits(p)
			if err != nil {
				return d, err
			}
			d.serverMaxWindow = bits
		case paramClientMaxWindow:
			d.hasClientWindow = true
			if !p.hasValue && !response {
				continue
			}
			bits, err := parseWindowBits(p)
			if err != nil {
				return d, err
			}
			d.clientMaxWindow = bits
		default:
			return d, fmt.Errorf("%w: unknown parameter %s", errDeflateParams, p.name)
		}
	}
	return d, nil
}

// parseWindowBits accepts exactly "8" … "15".
func parseWindowBits(p extParam) (int, error) {
	if !p.hasValue || p.value == "" {
		return 0, fmt.Errorf("%w: %s needs a value from 8 to 15", errDeflateParams, p.name)
	}
	v := p.value
	if v[0] < '1' || v[0] > '9' || len(v) > 2 {
		return 0, fmt.Errorf("%w: %s=%q is not a number from 8 to 15", errDeflateParams, p.name, v)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 8 || n > 15 {
		return 0, fmt.Errorf("%w: %s=%q is not a number from 8 to 15", errDeflateParams, p.name, v)
	}
	return n, nil
}

// negotiateDeflateServer picks the first acceptable permessage-deflate offer
// among the values of all Sec-WebSocket-Extensions request headers, in
// order. An offer with an unknown, duplicated or invalid parameter is
// declined and the next one is tried (RFC 7692 §7.1); other extensions are
// skipped. ok is false when no offer is acceptable or o is nil; the caller
// then answers without permessage-deflate.
//
// Every window size the client asks for, 8 to 15, is honoured exactly: the
// compressor can use a 256-byte window. Context takeover is kept unless the
// offer or the options forbid it.
func negotiateDeflateServer(offers []string, o *CompressionOptions) (p deflateParams, response string, ok bool) {
	if o == nil {
		return p, "", false
	}
	cfg := o.config()
	for _, h := range offers {
		for _, e := range extParseHeader(h) {
			if e.err != nil || e.name != deflateExtension {
				continue
			}
			offer, err := parseDeflateParams(e.params, false)
			if err != nil {
				continue
			}
			p, response = answerDeflateOffer(offer, cfg)
			return p, response, true
		}
	}
	return p, "", false
}

// answerDeflateOffer builds the accepting response to one valid offer.
func answerDeflateOffer(offer deflateOffer, cfg deflateConfig) (deflateParams, string) {
	// A client_no_context_takeover in the offer is a hint (RFC 7692
	// §7.1.1.2): the client says it can do without context takeover, and
	// the server may answer with or without it. Echoing it would give up
	// the compression ratio of takeover for nothing when takeover is
	// allowed, and some clients (Autobahn's) do use takeover when the
	// answer leaves the parameter out; so it is answered only when our own
	// configuration asks for it.
	p := deflateParams{
		serverNoContextTakeover: offer.serverNoTakeover || cfg.serverNoTakeover,
		clientNoContextTakeover: cfg.clientNoTakeover,
		serverMaxWindowBits:     cfg.serverMaxWindow,
		clientMaxWindowBits:     15,
	}
	// server_max_window_bits: the smaller of what the client asks and what
	// we allow. An offer that asks must get an answer; when it does not ask
	// we still announce a smaller window, which RFC 7692 §7.1.2.1 permits,
	// so that the client may keep less memory.
	if offer.serverMaxWindow != 0 && offer.serverMaxWindow < p.serverMaxWindowBits {
		p.serverMaxWindowBits = offer.serverMaxWindow
	}
	sendServerWindow := offer.serverMaxWindow != 0 || p.serverMaxWindowBits < 15

	// client_max_window_bits may only be answered when offered. The
	// client's own value is binding on it, so the window is the smaller of
	// that and our limit. Our limit of 8 goes out as 9: zlib cannot
	// compress raw deflate with a 256-byte window and would fail.
	sendClientWindow := false
	if offer.hasClientWindow {
		limit := cfg.clientMaxWindow
		if limit == 8 {
			limit = 9
		}
		p.clientMaxWindowBits = limit
		if offer.clientMaxWindow != 0 && offer.clientMaxWindow < limit {
			p.clientMaxWindowBits = offer.clientMaxWindow
		}
		sendClientWindow = p.clientMaxWindowBits < 15
	}

	var b strings.Builder
	b.WriteString(deflateExtension)
	if p.serverNoContextTakeover {
		b.WriteString("; " + paramServerNoTakeover)
	}
	if p.clientNoContextTakeover {
		b.WriteString("; " + paramClientNoTakeover)
	}
	if sendServerWindow {
		b.WriteString("; " + paramServerMaxWindow + "=" + strconv.Itoa(p.serverMaxWindowBits))
	}
	if sendClientWindow {
		b.WriteString("; " + paramClientMaxWindow + "=" + strconv.Itoa(p.clientMaxWindowBits))
	}
	return p, b.String()
}

// deflateClientOffers is what a client offers, most wanted first. When the
// first offer asks something of the server (no context takeover, a smaller
// window), a second one without those requests follows: RFC 7692 lets a
// server decline parameters it does not support, and compression with the
// server's defaults beats no compression.
func deflateClientOffers(o *CompressionOptions) []deflateOffer {
	cfg := o.config()
	first := deflateOffer{
		serverNoTakeover: cfg.serverNoTakeover,
		clientNoTakeover: cfg.clientNoTakeover,
		hasClientWindow:  true,
	}
	if cfg.serverMaxWindow < 15 {
		first.serverMaxWindow = cfg.serverMaxWindow
	}
	if cfg.clientMaxWindow < 15 {
		first.clientMaxWindow = cfg.clientMaxWindow
	}
	offers := []deflateOffer{first}
	takeoverHint := o != nil && o.Mode == CompressionContextTakeover && first.clientNoTakeover
	if first.serverNoTakeover || first.serverMaxWindow != 0 || takeoverHint {
		// A fallback that asks nothing of the server, for one that
		// declines the first offer. Under takeover it also drops the
		// client_no_context_takeover hint, so that a server picking
		// among offers (as conformance suites do) finds both kinds.
		fallback := first
		fallback.serverNoTakeover = false
		fallback.serverMaxWindow = 0
		if takeoverHint {
			fallback.clientNoTakeover = false
		}
		offers = append(offers, fallback)
	}
	return offers
}

// deflateClientOffer is the Sec-WebSocket-Extensions value a client sends,
// for example
//
//	permessage-deflate; client_no_context_takeover; server_no_context_takeover; client_max_window_bits, permessage-deflate; client_no_context_takeover; client_max_window_bits
func deflateClientOffer(o *CompressionOptions) string {
	var b strings.Builder
	for i, d := range deflateClientOffers(o) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(deflateExtension)
		if d.clientNoTakeover {
			b.WriteString("; " + paramClientNoTakeover)
		}
		if d.serverNoTakeover {
			b.WriteString("; " + paramServerNoTakeover)
		}
		if d.serverMaxWindow != 0 {
			b.WriteString("; " + paramServerMaxWindow + "=" + strconv.Itoa(d.serverMaxWindow))
		}
		b.WriteString("; " + paramClientMaxWindow)
		if d.clientMaxWindow != 0 {
			b.WriteString("=" + strconv.Itoa(d.clientMaxWindow))
		}
	}
	return b.String()
}

// errDeflateResponse is wrapped by every rejection of a server's answer. A
// client that gets it must fail the connection (RFC 7692 §7.1).
var errDeflateResponse = errors.New("websocket: the server's Sec-WebSocket-Extensions answer is not acceptable")

// acceptDeflateResponse checks the server's Sec-WebSocket-Extensions values
// against what deflateClientOffer(o) offered. ok is false, with a nil error,
// when the server did not accept compression. Since permessage-deflate is
// the only extension a client offers, any other extension in the answer is
// an error, as are a second permessage-deflate, unknown, duplicated or
// invalid parameters, and anything none of our offers allowed (a
// client_max_window_bits above the one offered; a server_max_window_bits
// above the one asked or a missing server_no_context_takeover, unless the
// fallback offer without those requests fits). Everything else RFC 7692
// lets a server answer is accepted: an added client_no_context_takeover or
// server_no_context_takeover, a smaller window.
func acceptDeflateResponse(responses []string, o *CompressionOptions) (p deflateParams, ok bool, err error) {
	var found []extElement
	for _, h := range responses {
		for _, e := range extParseHeader(h) {
			if e.err != nil {
				return p, false, fmt.Errorf("%w: %w", errDeflateResponse, e.err)
			}
			if o == nil || e.name != deflateExtension {
				return p, false, fmt.Errorf("%w: it accepted %q, which was not offered; check the server's extension configuration", errDeflateResponse, e.name)
			}
			found = append(found, e)
		}
	}
	switch len(found) {
	case 0:
		return p, false, nil
	case 1:
	default:
		return p, false, fmt.Errorf("%w: permessage-deflate accepted %d times, expected once", errDeflateResponse, len(found))
	}
	resp, err := parseDeflateParams(found[0].params, true)
	if err != nil {
		return p, false, fmt.Errorf("%w: %w", errDeflateResponse, err)
	}
	var why error
	for _, offer := range deflateClientOffers(o) {
		if why = responseFits(offer, resp); why == nil {
			break
		}
	}
	if why != nil {
		return p, false, fmt.Errorf("%w: %w", errDeflateResponse, why)
	}
	cfg := o.config()
	p = deflateParams{
		serverNoContextTakeover: resp.serverNoTakeover,
		clientNoContextTakeover: resp.clientNoTakeover || cfg.clientNoTakeover,
		serverMaxWindowBits:     15,
		clientMaxWindowBits:     cfg.clientMaxWindow,
	}
	if resp.serverMaxWindow != 0 {
		p.serverMaxWindowBits = resp.serverMaxWindow
	}
	if resp.clientMaxWindow != 0 && resp.clientMaxWindow < p.clientMaxWindowBits {
		p.clientMaxWindowBits = resp.clientMaxWindow
	}
	return p, true, nil
}

// responseFits reports why resp is not a valid acceptance of offer, or nil.
func responseFits(offer, resp deflateOffer) error {
	if offer.serverNoTakeover && !resp.serverNoTakeover {
		return fmt.Errorf("server_no_context_takeover was requested and not granted")
	}
	if offer.serverMaxWindow != 0 {
		if resp.serverMaxWindow == 0 {
			return fmt.Errorf("server_max_window_bits=%d was requested and not answered", offer.serverMaxWindow)
		}
		if resp.serverMaxWindow > offer.serverMaxWindow {
			return fmt.Errorf("server_max_window_bits=%d exceeds the %d requested", resp.serverMaxWindow, offer.serverMaxWindow)
		}
	}
	if resp.hasClientWindow {
		if !offer.hasClientWindow {
			return fmt.Errorf("client_max_window_bits was not offered")
		}
		if offer.clientMaxWindow != 0 && resp.clientMaxWindow > offer.clientMaxWindow {
			return fmt.Errorf("client_max_window_bits=%d exceeds the %d offered", resp.clientMaxWindow, offer.clientMaxWindow)
		}
	}
	return nil
}
