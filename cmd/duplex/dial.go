package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/duplexws/duplex/websocket"
	"golang.org/x/term"
)

func init() {
	register(&command{name: "dial", short: "connect to a WebSocket server: interactive client, pipe, one-shot", run: runDial})
}

const dialAbout = `
Connects to a WebSocket server. On a terminal it is interactive: each line
typed is sent as a text message and received messages are shown as they
arrive ("< " in front); lines starting with "/" are commands:

  /ping               send a ping and show the round trip time
  /close [CODE [REASON]]  close the connection (default 1000)
  /binary HEX         send a binary message given in hex
  /quit               close with 1000 and exit (also Ctrl-D or Ctrl-C)
  /help               list the commands ("//text" sends "/text")

With a pipe on standard input, every line is sent as a text message (a
line that is not UTF-8 as a binary one; --binary: every chunk read as a
binary message) and every message
received is printed on its own line: text as is, binary in hex (or
--binary-format base64). At the end of the input the connection is closed
with 1000 (after --linger, for servers that answer late) and the command
exits once the server answered the close.
--send MSG sends MSG --count times, waits for as many messages, and closes.

Exit status: 0 when the connection ended with a close handshake (started
by this side, or by the server with 1000, 1001 or no code); 3 when the
server closed with another code; 1 when the connection failed or was lost
without a close frame, a message was over --max-message, or --send got
fewer than --expect replies within --wait; 2 for a usage error.`

const dialExamples = `  duplex dial ws://127.0.0.1:9001/
  printf 'hello\nworld\n' | duplex dial ws://127.0.0.1:9001/
  duplex dial --send '{"id":1,"method":"connect"}' ws://127.0.0.1:8000/connection/websocket
  duplex dial -H 'Authorization: Bearer TOKEN' --subprotocol chat.v1 wss://example.org/ws
  duplex dial --cacert ca.pem --cert client.pem --key client-key.pem wss://127.0.0.1:8443/
  duplex dial --proxy http://127.0.0.1:3128 ws://example.org/ws`

// dialOptions are the parsed flags of "duplex dial".
type dialOptions struct {
	url          string
	headers      multiFlag
	subprotocols multiFlag
	origin       string
	auth         string
	insecure     bool
	caFile       string
	certFile     string
	keyFile      string
	proxy        string
	noProxy      bool
	compress     bool
	binary       bool
	binaryFormat string
	send         string
	sendSet      bool
	count        int
	expect       int
	wait         time.Duration
	showControl  bool
	pingInterval time.Duration
	maxMessage   int64
	timeout      time.Duration
	interactive  string
	linger       time.Duration
}

func runDial(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newCommandFlags("dial", "dial [flags] URL", dialAbout, dialExamples, stdout, stderr)
	o := &dialOptions{}
	fs.Var(&o.headers, "H", "request header `\"NAME: VALUE\"` (repeatable)")
	fs.Var(&o.subprotocols, "subprotocol", "`name` of a subprotocol to offer (repeatable, most preferred first)")
	fs.StringVar(&o.origin, "origin", "", "Origin header (`URL`), as a browser page at that origin would send")
	fs.StringVar(&o.auth, "auth", "", "HTTP basic authentication as `USER:PASSWORD`")
	fs.BoolVar(&o.insecure, "insecure", false, "do not verify the server's TLS certificate")
	fs.StringVar(&o.caFile, "cacert", "", "PEM `file` of CA certificates to verify the server with (instead of the system's)")
	fs.StringVar(&o.certFile, "cert", "", "PEM `file` of the client certificate (with --key)")
	fs.StringVar(&o.keyFile, "key", "", "PEM `file` of the client certificate's private key")
	fs.StringVar(&o.proxy, "proxy", "", "HTTP proxy `URL` such as http://127.0.0.1:3128 (default: HTTPS_PROXY, HTTP_PROXY and NO_PROXY from the environment)")
	fs.BoolVar(&o.noProxy, "no-proxy", false, "connect directly, ignoring proxy settings in the environment")
	fs.BoolVar(&o.compress, "compress", true, "offer permessage-deflate (--compress=false to turn it off)")
	fs.BoolVar(&o.binary, "binary", false, "send standard input as binary messages, one per chunk read (default: text, one per line)")
	fs.StringVar(&o.binaryFormat, "binary-format", "hex", "`format` of received binary messages: hex or base64")
	fs.StringVar(&o.send, "send", "", "one-shot: send this `message` --count times, wait for as many replies, close")
	fs.IntVar(&o.count, "count", 1, "one-shot: send --send `n` times")
	fs.IntVar(&o.expect, "expect", -1, "one-shot: wait for `n` messages before closing (default: --count; 0: close at once)")
	fs.DurationVar(&o.wait, "wait", 10*time.Second, "one-shot: longest wait for the replies")
	fs.BoolVar(&o.showControl, "show-control", false, "show pings and pongs (both ways) and close frames (on standard error in pipe mode)")
	fs.DurationVar(&o.pingInterval, "ping-interval", 0, "send a ping every `interval` (shown with --show-control; a pong missing after 10s is reported)")
	fs.Int64Var(&o.maxMessage, "max-message", websocket.DefaultReadLimit, "largest message accepted, in `bytes` (a larger one closes the connection with 1009)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "longest `time` to connect, proxy and TLS included")
	fs.DurationVar(&o.linger, "linger", 250*time.Millisecond, "pipe mode: at the end of the input, wait until no message came for this `duration` before closing, so that replies in flight are printed (0: close at once)")
	fs.StringVar(&o.interactive, "interactive", "auto", "`mode`: auto (interactive when standard input and output are a terminal), always or never")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(fs, "give exactly one URL, such as ws://127.0.0.1:9001/")
	}
	if o.url, err = wsURL(pos[0]); err != nil {
		return usageError(fs, "%v", err)
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "send" {
			o.sendSet = true
		}
	})
	if o.binaryFormat != "hex" && o.binaryFormat != "base64" {
		return usageError(fs, "--binary-format must be hex or base64")
	}
	if o.count < 1 {
		return usageError(fs, "--count must be at least 1")
	}
	if o.expect < 0 {
		o.expect = o.count
	}
	switch o.interactive {
	case "auto", "always", "never":
	default:
		return usageError(fs, "--interactive must be auto, always or never")
	}
	opts, err := o.dialOptions()
	if err != nil {
		var fe *fileError
		if errors.As(err, &fe) {
			return err // a file that cannot be read: not a usage problem
		}
		return usageError(fs, "%v", err)
	}
	s := newDialSession(o, stdout, stderr)
	opts.OnPing, opts.OnPong = s.onPing, s.onPong
	conn, resp, err := websocket.Dial(ctx, o.url, opts)
	if err != nil {
		return explainDialError(o.url, proxyFor(o.url, opts), o.proxy == "", resp, err)
	}
	s.conn = conn
	switch {
	case o.sendSet:
		return s.oneShot(ctx)
	case o.interactive == "always" || (o.interactive == "auto" && isTerminal(os.Stdin) && isTerminal(stdout)):
		return s.interactive(ctx)
	default:
		return s.pipe(ctx, os.Stdin)
	}
}

func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// dialOptions turns the flags into websocket.DialOptions.
func (o *dialOptions) dialOptions() (*websocket.DialOptions, error) {
	h, err := headerFlags(o.headers)
	if err != nil {
		return nil, err
	}
	if o.origin != "" {
		h.Set("Origin", o.origin)
	}
	if o.auth != "" {
		if !strings.Contains(o.auth, ":") {
			return nil, errors.New("--auth must be USER:PASSWORD")
		}
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(o.auth)))
	}
	var protos []string
	for _, p := range o.subprotocols {
		for _, q := range strings.Split(p, ",") {
			if q = strings.TrimSpace(q); q != "" {
				protos = append(protos, q)
			}
		}
	}
	opts := &websocket.DialOptions{Header: h, Subprotocols: protos, HandshakeTimeout: o.timeout, ReadLimit: o.maxMessage}
	if o.compress {
		opts.Compression = &websocket.CompressionOptions{}
	}
	tlsCfg, err := o.tlsConfig()
	if err != nil {
		return nil, err
	}
	opts.TLSConfig = tlsCfg
	switch {
	case o.noProxy:
		opts.Proxy = websocket.NoProxy
	case o.proxy != "":
		pu, err := url.Parse(o.proxy)
		if err != nil || pu.Host == "" {
			return nil, fmt.Errorf("--proxy %q is not a URL such as http://127.0.0.1:3128", o.proxy)
		}
		opts.Proxy = http.ProxyURL(pu)
	}
	return opts, nil
}

func (o *dialOptions) tlsConfig() (*tls.Config, error) {
	if !o.insecure && o.caFile == "" && o.certFile == "" && o.keyFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{InsecureSkipVerify: o.insecure}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, &fileError{fmt.Errorf("reading --cacert: %w", err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &fileError{fmt.Errorf("--cacert %s holds no PEM certificate", o.caFile)}
		}
		cfg.RootCAs = pool
	}
	if (o.certFile == "") != (o.keyFile == "") {
		return nil, errors.New("--cert and --key go together")
	}
	if o.certFile != "" {
		cert, err := tls.LoadX509KeyPair(o.certFile, o.keyFile)
		if err != nil {
			return nil, &fileError{fmt.Errorf("loading --cert and --key: %w", err)}
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// fileError is a flag naming a file that cannot be used.
type fileError struct{ err error }

func (e *fileError) Error() string { return e.err.Error() }
func (e *fileError) Unwrap() error { return e.err }

// proxyFor returns the proxy Dial goes through for rawURL, or nil.
func proxyFor(rawURL string, opts *websocket.DialOptions) *url.URL {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	}
	fn := opts.Proxy
	if fn == nil {
		fn = http.ProxyFromEnvironment
	}
	p, err := fn(&http.Request{URL: u, Header: http.Header{}})
	if err != nil {
		return nil
	}
	return p
}

// explainDialError turns a failed dial into one line that says what
// happened and what to do.
func explainDialError(rawURL string, proxy *url.URL, proxyFromEnv bool, resp *http.Response, err error) error {
	via, envHint := "", ""
	if proxy != nil {
		via = " through the proxy " + proxy.Redacted()
		if proxyFromEnv {
			envHint = " (the proxy comes from the environment; --no-proxy connects directly)"
		}
	}
	switch {
	case resp != nil && errors.Is(err, websocket.ErrBadHandshake):
		if resp.StatusCode == http.StatusSwitchingProtocols {
			// A 101 with something wrong in it: the library says what.
			return fmt.Errorf("%s answered with an invalid WebSocket handshake: %w", rawURL, err)
		}
		msg := fmt.Sprintf("%s answered %s instead of switching to WebSocket", rawURL, resp.Status)
		if body := bodyLine(resp); body != "" {
			msg += fmt.Sprintf(": %q", body)
		}
		switch resp.StatusCode {
		case http.StatusNotFound:
			msg += " (is the path right?)"
		case http.StatusUnauthorized:
			msg += " (credentials: --auth USER:PASSWORD or -H 'Authorization: ...')"
		case http.StatusForbidden:
			msg += " (if the server checks the origin: --origin URL)"
		}
		return errors.New(msg)
	case proxy != nil && errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("nothing is listening at the proxy %s (connection refused): is it running?%s", proxy.Redacted(), envHint)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("nothing is listening at %s (connection refused): is the server running?", rawURL)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("connecting to %s%s timed out (raise --timeout, or check the address)%s", rawURL, via, envHint)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		what := "the host"
		if proxy != nil && dnsErr.Name == proxy.Hostname() {
			what = "the proxy's host"
		}
		return fmt.Errorf("cannot resolve %s %s: %s%s", what, dnsErr.Name, dnsErr.Err, envHint)
	}
	var recErr tls.RecordHeaderError
	if errors.As(err, &recErr) {
		return fmt.Errorf("%s does not speak TLS (for a server without TLS, use ws:// instead of wss://): %w", rawURL, err)
	}
	var certErr *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	if errors.As(err, &certErr) || errors.As(err, &hostErr) || errors.As(err, &authErr) {
		return fmt.Errorf("the server's certificate is not trusted (use --cacert FILE, or --insecure to skip the check): %w", err)
	}
	return err
}

// bodyLine returns the first line of a refused handshake's body when it is
// short text, which servers use to say why.
func bodyLine(resp *http.Response) string {
	if resp.Body == nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	line = strings.TrimSpace(line)
	if len(line) > 200 || !utf8.ValidString(line) || strings.ContainsAny(line, "<>\x00") {
		return ""
	}
	return line
}
