package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/duplexws/duplex/server"
)

func init() {
	register(&command{name: "serve", short: "run the real-time messaging server (WebSocket protocol, HTTP API, demo chat)", run: runServe})
}

const serveAbout = `
Runs the Duplex server: the client protocol on /connection/websocket, the
HTTP API on /api/*, the demo chat and browser client on /, /metrics,
/healthz and /readyz (docs/protocol.md, docs/operations.md).

Configuration comes from, lowest precedence first: the defaults, the JSON
file given with --config, environment variables DUPLEX_<FLAG> (for
--api-key: DUPLEX_API_KEY), and the flags. Namespaces are configured in
the file. The configuration is checked at start; every problem is listed.

Without --config the server runs in demo mode, a development setup: a
"chat" namespace as the demo page expects, anonymous connections, a
/demo/token endpoint that gives anyone a token, and a generated token
secret and API key (printed at start) unless given. Never expose demo mode.

On SIGINT or SIGTERM the server drains: clients get a disconnect (4001,
reconnect; close 1001) spread over --drain, then it exits.`

const serveExamples = `  duplex serve                                  # demo mode on :8080
  duplex serve --addr 127.0.0.1:9000 --config duplex.json
  DUPLEX_API_KEY=s3cr3t-key duplex serve --config duplex.json --drain 10s`

// serveOption is a configuration option settable by flag and environment.
type serveOption struct {
	name  string
	usage string
	bool  bool
	get   func(*server.Config) string
	set   func(*server.Config, string) error
}

// optValue is the flag.Value of a serveOption: it records what was given.
type optValue struct {
	def    string
	val    string
	isBool bool
	set    bool
}

func (v *optValue) String() string     { return v.def }
func (v *optValue) Set(s string) error { v.val, v.set = s, true; return nil }
func (v *optValue) IsBoolFlag() bool   { return v.isBool }

func envName(flagName string) string {
	return "DUPLEX_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func intOpt(name, usage string, field func(*server.Config) *int) serveOption {
	return serveOption{name: name, usage: usage,
		get: func(c *server.Config) string { return strconv.Itoa(*field(c)) },
		set: func(c *server.Config, s string) error {
			n, err := strconv.Atoi(s)
			if err != nil {
				return fmt.Errorf("want an integer, got %q", s)
			}
			*field(c) = n
			return nil
		}}
}

func floatOpt(name, usage string, field func(*server.Config) *float64) serveOption {
	return serveOption{name: name, usage: usage,
		get: func(c *server.Config) string { return strconv.FormatFloat(*field(c), 'g', -1, 64) },
		set: func(c *server.Config, s string) error {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return fmt.Errorf("want a number, got %q", s)
			}
			*field(c) = f
			return nil
		}}
}

func durationOpt(name, usage string, field func(*server.Config) *server.Duration) serveOption {
	return serveOption{name: name, usage: usage,
		get: func(c *server.Config) string { return field(c).String() },
		set: func(c *server.Config, s string) error {
			d, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("want a duration such as 30s or 1m, got %q", s)
			}
			*field(c) = server.Duration(d)
			return nil
		}}
}

func stringOpt(name, usage string, field func(*server.Config) *string) serveOption {
	return serveOption{name: name, usage: usage,
		get: func(c *server.Config) string { return *field(c) },
		set: func(c *server.Config, s string) error { *field(c) = s; return nil }}
}

func boolOpt(name, usage string, field func(*server.Config) *bool) serveOption {
	return serveOption{name: name, usage: usage, bool: true,
		get: func(c *server.Config) string { return strconv.FormatBool(*field(c)) },
		set: func(c *server.Config, s string) error {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return fmt.Errorf("want true or false, got %q", s)
			}
			*field(c) = b
			return nil
		}}
}

// keyFileOpt reads a PEM file into a key field.
func keyFileOpt(name, usage string, field func(*server.Config) *string) serveOption {
	return serveOption{name: name, usage: usage,
		get: func(*server.Config) string { return "" },
		set: func(c *server.Config, s string) error {
			b, err := os.ReadFile(s)
			if err != nil {
				return err
			}
			*field(c) = string(b)
			return nil
		}}
}

// serveOptions lists the options of "duplex serve", each a flag and an
// environment variable.
func serveOptions() []serveOption {
	return []serveOption{
		stringOpt("api-key", "`key` of the HTTP API (header \"Authorization: apikey KEY\"); empty turns the API off", func(c *server.Config) *string { return &c.APIKey }),
		stringOpt("token-hmac-secret", "`secret` verifying HS256/384/512 tokens", func(c *server.Config) *string { return &c.Token.HMACSecret }),
		keyFileOpt("token-rsa-public-key", "PEM `file` of the RSA public key verifying RS*/PS* tokens", func(c *server.Config) *string { return &c.Token.RSAPublicKey }),
		keyFileOpt("token-ecdsa-public-key", "PEM `file` of the EC public key verifying ES* tokens", func(c *server.Config) *string { return &c.Token.ECDSAPublicKey }),
		stringOpt("token-audience", "required aud claim of tokens (`audience`)", func(c *server.Config) *string { return &c.Token.Audience }),
		stringOpt("token-issuer", "required iss claim of tokens (`issuer`)", func(c *server.Config) *string { return &c.Token.Issuer }),
		boolOpt("anonymous", "accept connections without a token", func(c *server.Config) *bool { return &c.Anonymous }),
		{name: "allowed-origins", usage: "comma-separated `hosts` (patterns such as *.example.com) whose pages may connect, besides the server's own",
			get: func(c *server.Config) string { return strings.Join(c.AllowedOrigins, ",") },
			set: func(c *server.Config, s string) error {
				c.AllowedOrigins = nil
				for _, o := range strings.Split(s, ",") {
					if o = strings.TrimSpace(o); o != "" {
						c.AllowedOrigins = append(c.AllowedOrigins, o)
					}
				}
				return nil
			}},
		boolOpt("compression", "negotiate permessage-deflate with clients that offer it", func(c *server.Config) *bool { return &c.Compression }),
		intOpt("max-message-size", "largest client message in `bytes` (4010 beyond)", func(c *server.Config) *int { return &c.Limits.MaxMessageSize }),
		intOpt("max-publication-size", "largest publication data in `bytes`", func(c *server.Config) *int { return &c.Limits.MaxPublicationSize }),
		intOpt("max-channels", "`channels` per connection", func(c *server.Config) *int { return &c.Limits.MaxChannels }),
		intOpt("max-connections-per-user", "`connections` per user; 0 means unlimited", func(c *server.Config) *int { return &c.Limits.MaxConnectionsPerUser }),
		floatOpt("publish-rate", "`publishes` per second per connection", func(c *server.Config) *float64 { return &c.Limits.PublishRate }),
		intOpt("publish-burst", "publish burst per connection (`publishes`)", func(c *server.Config) *int { return &c.Limits.PublishBurst }),
		floatOpt("command-rate", "`commands` per second per connection", func(c *server.Config) *float64 { return &c.Limits.CommandRate }),
		intOpt("command-burst", "command burst per connection (`commands`)", func(c *server.Config) *int { return &c.Limits.CommandBurst }),
		intOpt("queue-size", "`bytes` a connection's send queue may hold before the client is disconnected as slow (4006)", func(c *server.Config) *int { return &c.Limits.QueueSize }),
		intOpt("history-limit", "`publications` per history reply", func(c *server.Config) *int { return &c.Limits.HistoryLimit }),
		intOpt("recovery-max", "`publications` one subscribe may recover", func(c *server.Config) *int { return &c.Limits.RecoveryMax }),
		intOpt("api-body-size", "largest HTTP API request body in `bytes` (413 beyond)", func(c *server.Config) *int { return &c.Limits.APIBodySize }),
		intOpt("broadcast-channels", "`channels` one /api/broadcast may name", func(c *server.Config) *int { return &c.Limits.BroadcastChannels }),
		durationOpt("ping", "`interval` of the server's JSON pings (whole seconds; 0 for none)", func(c *server.Config) *server.Duration { return &c.Ping }),
		durationOpt("pong", "`time` a client has to answer a ping", func(c *server.Config) *server.Duration { return &c.Pong }),
		durationOpt("connect-timeout", "`time` a client has to send connect", func(c *server.Config) *server.Duration { return &c.ConnectTimeout }),
		durationOpt("write-timeout", "longest write (`duration`) to a client's socket before it is cut as slow", func(c *server.Config) *server.Duration { return &c.WriteTimeout }),
		durationOpt("drain", "`period` over which a shutdown spreads its disconnects", func(c *server.Config) *server.Duration { return &c.Drain }),
	}
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newCommandFlags("serve", "serve [flags]", serveAbout, serveExamples, stdout, stderr)
	addr := fs.String("addr", ":8080", "`address` to listen on, HOST:PORT (env DUPLEX_ADDR)")
	configPath := fs.String("config", "", "JSON configuration `file` (env DUPLEX_CONFIG); without it the server runs in demo mode")
	demo := fs.Bool("demo", true, "demo mode when no --config is given: chat namespace, /demo/token, generated secrets (env DUPLEX_DEMO); --demo=false to turn it off")
	logLevel := fs.String("log-level", "info", "`level`: debug, info, warn or error (env DUPLEX_LOG_LEVEL)")
	logFormat := fs.String("log-format", "text", "`format`: text or json (env DUPLEX_LOG_FORMAT)")

	defaults := server.DefaultConfig()
	opts := serveOptions()
	values := make([]*optValue, len(opts))
	for i, o := range opts {
		values[i] = &optValue{def: o.get(&defaults), isBool: o.bool}
		if o.bool && values[i].def == "false" {
			values[i].def = "" // like the flag package, say nothing of a false default
		}
		fs.Var(values[i], o.name, o.usage+" (env "+envName(o.name)+")")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fs, "unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	// Environment variables fill in what the command line did not give.
	for _, name := range []string{"addr", "config", "demo", "log-level", "log-format"} {
		if v, ok := os.LookupEnv(envName(name)); ok && !set[name] {
			if err := fs.Set(name, v); err != nil {
				return fmt.Errorf("%s: %w", envName(name), err)
			}
			set[name] = true
		}
	}

	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	cfg := server.DefaultConfig()
	if *configPath != "" {
		if cfg, err = server.LoadConfig(*configPath); err != nil {
			return err
		}
	}
	for i, o := range opts {
		v, from := values[i].val, "--"+o.name
		if !values[i].set {
			env, ok := os.LookupEnv(envName(o.name))
			if !ok {
				continue
			}
			v, from = env, envName(o.name)
		}
		if err := o.set(&cfg, v); err != nil {
			return fmt.Errorf("%s: %w", from, err)
		}
	}
	demoMode := *configPath == "" && *demo
	var demoNotes []string
	if demoMode {
		if demoNotes, err = applyDemo(&cfg); err != nil {
			return err
		}
	}
	srv, err := server.New(cfg, server.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("%w\n(see \"duplex serve --help\" and docs/operations.md)", err)
	}
	ln, err := listen(ctx, *addr, "--addr")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	url := browseURL(ln.Addr())
	for _, note := range demoNotes {
		fmt.Fprintln(stdout, "duplex serve: "+note)
	}
	if demoMode {
		fmt.Fprintf(stdout, "duplex serve: open %s in a browser for the demo chat\n", url)
	}
	// Last, so that a reader waiting for this line has seen the others.
	fmt.Fprintf(stdout, "duplex serve: listening on %s (WebSocket %sconnection/websocket, metrics %smetrics)\n", ln.Addr(), strings.Replace(url, "http", "ws", 1), url)
	log.Info("server started", "addr", ln.Addr().String(), "demo", demoMode, "namespaces", len(cfg.Namespaces), "api", cfg.APIKey != "")
	if demoMode {
		log.Warn("demo mode is a development setup: anyone can get a token at /demo/token; run with --config in production")
	}

	select {
	case err := <-served:
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
	}
	drain := time.Duration(cfg.Drain)
	log.Info("shutting down: draining connections", "drain", drain.String())
	sctx, cancel := context.WithTimeout(context.Background(), drain+10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("drain incomplete", "err", err)
	}
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("HTTP shutdown incomplete", "err", err)
	}
	log.Info("stopped")
	return nil
}

// applyDemo turns cfg into the development setup the demo page needs and
// returns what to tell the user about it.
func applyDemo(cfg *server.Config) ([]string, error) {
	cfg.Demo = true
	cfg.Anonymous = true
	if len(cfg.Namespaces) == 0 {
		cfg.Namespaces = map[string]server.Namespace{"chat": server.DemoNamespace()}
	}
	notes := []string{"DEMO MODE, a development setup: anyone can get a token at /demo/token. Use --config for production."}
	if cfg.Token.HMACSecret == "" {
		s, err := randomHex(32)
		if err != nil {
			return nil, err
		}
		cfg.Token.HMACSecret = s
		notes = append(notes, fmt.Sprintf("generated token HMAC secret: %s (pass --token-hmac-secret to keep tokens valid across restarts)", s))
	}
	if cfg.APIKey == "" {
		k, err := randomHex(16)
		if err != nil {
			return nil, err
		}
		cfg.APIKey = k
		notes = append(notes, fmt.Sprintf("generated API key: %s (header \"Authorization: apikey %s\")", k, k))
	}
	return notes, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating a secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// browseURL is the http:// URL for a listener: a wildcard address becomes
// localhost.
func browseURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String() + "/"
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: want debug, info, warn or error, got %q", level)
	}
	hopts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	}
	return nil, fmt.Errorf("--log-format: want text or json, got %q", format)
}
