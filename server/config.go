package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/duplexws/duplex/hub"
)

// Config configures a Server. Start from DefaultConfig, which holds the
// defaults of docs/protocol.md section 12, and change what you need; New
// validates it. The JSON names are those of the configuration file.
type Config struct {
	// Namespaces maps a namespace name ("chat" for "chat:lobby") to its
	// options. Channels of other namespaces are refused with error 102.
	Namespaces map[string]Namespace `json:"namespaces,omitempty"`
	// Default configures channels without a namespace ("news"); nil means
	// such channels are refused.
	Default *Namespace `json:"default_namespace,omitempty"`

	// Anonymous lets clients connect without a token, as user "".
	Anonymous bool `json:"anonymous,omitempty"`
	// Token says how connection and subscription tokens are verified.
	Token TokenConfig `json:"token"`
	// APIKey protects the HTTP API (header "Authorization: apikey KEY");
	// empty turns the API off.
	APIKey string `json:"api_key,omitempty"`
	// AllowedOrigins lists hosts (path.Match patterns, "example.com" or
	// "*.example.com", or "https://example.com") that browser pages may
	// connect from, besides the server's own host.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`

	// Limits bound what one connection may do.
	Limits Limits `json:"limits"`

	// Ping is the interval of the server's JSON pings; 0 sends none.
	Ping Duration `json:"ping"`
	// Pong is how long a client has to answer a ping.
	Pong Duration `json:"pong"`
	// ConnectTimeout is how long a client has to send connect after the
	// WebSocket handshake.
	ConnectTimeout Duration `json:"connect_timeout"`
	// WriteTimeout bounds one write to a client's socket; a client whose
	// socket accepts nothing for that long is disconnected.
	WriteTimeout Duration `json:"write_timeout"`
	// Drain is the period over which a graceful shutdown spreads the
	// disconnects of its clients.
	Drain Duration `json:"drain"`
	// Compression negotiates permessage-deflate with clients that offer it.
	Compression bool `json:"compression,omitempty"`

	// Demo serves GET /demo/token?user=NAME, which mints a connection token
	// for anyone. Only for development: never enable it in production.
	Demo bool `json:"demo,omitempty"`
}

// Namespace holds the options of one namespace (docs/protocol.md section 4).
type Namespace struct {
	HistorySize    int      `json:"history_size,omitempty"`
	HistoryTTL     Duration `json:"history_ttl,omitempty"`
	HistoryMetaTTL Duration `json:"history_meta_ttl,omitempty"`
	Presence       bool     `json:"presence,omitempty"`
	JoinLeave      bool     `json:"join_leave,omitempty"`
	AllowPublish   bool     `json:"allow_publish,omitempty"`
	AllowAnonymous bool     `json:"allow_anonymous,omitempty"`
	AllowHistory   bool     `json:"allow_history,omitempty"`
	AllowPresence  bool     `json:"allow_presence,omitempty"`
	// Private requires a subscription token to subscribe.
	Private bool `json:"private,omitempty"`
}

// Recoverable reports whether channels of the namespace keep a stream
// (history with offsets) that clients can recover from.
func (n Namespace) Recoverable() bool { return n.HistorySize > 0 && n.HistoryTTL > 0 }

func (n Namespace) hubOptions() hub.NamespaceOptions {
	return hub.NamespaceOptions{
		HistorySize:    n.HistorySize,
		HistoryTTL:     time.Duration(n.HistoryTTL),
		HistoryMetaTTL: time.Duration(n.HistoryMetaTTL),
		Presence:       n.Presence,
		JoinLeave:      n.JoinLeave,
		AllowPublish:   n.AllowPublish,
		AllowAnonymous: n.AllowAnonymous,
		AllowHistory:   n.AllowHistory,
		AllowPresence:  n.AllowPresence,
	}
}

// TokenConfig holds the keys that verify JWTs. Any combination may be set;
// a token's alg picks the key. With no key, only anonymous connections work.
type TokenConfig struct {
	// HMACSecret verifies HS256, HS384 and HS512 tokens.
	HMACSecret string `json:"hmac_secret,omitempty"`
	// RSAPublicKey is a PEM RSA public key verifying RS* and PS* tokens.
	RSAPublicKey string `json:"rsa_public_key,omitempty"`
	// ECDSAPublicKey is a PEM EC public key verifying ES* tokens.
	ECDSAPublicKey string `json:"ecdsa_public_key,omitempty"`
	// RSAPublicKeyFile and ECDSAPublicKeyFile name PEM files to read the
	// keys from instead; LoadConfig resolves them relative to the file.
	RSAPublicKeyFile   string `json:"rsa_public_key_file,omitempty"`
	ECDSAPublicKeyFile string `json:"ecdsa_public_key_file,omitempty"`
	// Audience and Issuer, when set, must match the aud and iss claims.
	Audience string `json:"audience,omitempty"`
	Issuer   string `json:"issuer,omitempty"`
}

// Limits bound one connection (docs/protocol.md section 12).
type Limits struct {
	// MaxMessageSize is the largest client message in bytes; a larger one
	// disconnects with 4010.
	MaxMessageSize int `json:"max_message_size"`
	// MaxPublicationSize bounds the encoded data of one publication
	// (error 106).
	MaxPublicationSize int `json:"max_publication_size"`
	// MaxChannels is the number of channels one connection may subscribe
	// to (error 106).
	MaxChannels int `json:"max_channels"`
	// MaxConnectionsPerUser bounds the connections of one non-anonymous
	// user; 0 means unlimited.
	MaxConnectionsPerUser int `json:"max_connections_per_user"`
	// PublishRate and PublishBurst bound publish commands per connection
	// (per second, and bursts); error 109 beyond.
	PublishRate  float64 `json:"publish_rate"`
	PublishBurst int     `json:"publish_burst"`
	// CommandRate and CommandBurst bound all commands per connection.
	CommandRate  float64 `json:"command_rate"`
	CommandBurst int     `json:"command_burst"`
	// QueueSize is the most bytes waiting in a connection's send queue;
	// beyond it the client is too slow and is disconnected with 4006.
	QueueSize int `json:"queue_size"`
	// HistoryLimit caps the publications of one history reply.
	HistoryLimit int `json:"history_limit"`
	// RecoveryMax caps the publications one subscribe recovers; more
	// missed ones answer recovered: false.
	RecoveryMax int `json:"recovery_max"`
	// APIBodySize bounds HTTP API request bodies.
	APIBodySize int `json:"api_body_size"`
	// BroadcastChannels caps the channels of one /api/broadcast.
	BroadcastChannels int `json:"broadcast_channels"`
}

// DefaultConfig returns the defaults of docs/protocol.md section 12, with
// no namespace, no token key and no API key.
func DefaultConfig() Config {
	return Config{
		Limits: Limits{
			MaxMessageSize:     65536,
			MaxPublicationSize: 65536,
			MaxChannels:        128,
			PublishRate:        20,
			PublishBurst:       40,
			CommandRate:        100,
			CommandBurst:       200,
			QueueSize:          1 << 20,
			HistoryLimit:       1000,
			RecoveryMax:        1000,
			APIBodySize:        1 << 20,
			BroadcastChannels:  1000,
		},
		Ping:           Duration(25 * time.Second),
		Pong:           Duration(10 * time.Second),
		ConnectTimeout: Duration(10 * time.Second),
		WriteTimeout:   Duration(10 * time.Second),
		Drain:          Duration(5 * time.Second),
	}
}

// DemoNamespace is the "chat" namespace the demo page expects: presence,
// join and leave, 100 publications of history for an hour, and every allow
// flag on.
func DemoNamespace() Namespace {
	return Namespace{
		HistorySize:    100,
		HistoryTTL:     Duration(time.Hour),
		Presence:       true,
		JoinLeave:      true,
		AllowPublish:   true,
		AllowAnonymous: true,
		AllowHistory:   true,
		AllowPresence:  true,
	}
}

// LoadConfig reads a JSON configuration file over DefaultConfig. Unknown
// fields are errors, so that a misspelt option does not go unnoticed; key
// files are read relative to the file's directory. The result is not yet
// validated: call Validate (New does).
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	if err := cfg.decode(b); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	if err := cfg.Token.readKeyFiles(filepath.Dir(path)); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// decode overlays the JSON document b on cfg.
func (cfg *Config) decode(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(b[:min(int(se.Offset), len(b))], []byte("\n"))
			return fmt.Errorf("line %d: %w", line, err)
		}
		return fmt.Errorf("%w (see docs/operations.md for the options)", err)
	}
	return nil
}

// readKeyFiles loads the *_file keys, relative to dir when not absolute.
func (t *TokenConfig) readKeyFiles(dir string) error {
	read := func(name string, dst *string) error {
		if name == "" {
			return nil
		}
		if !filepath.IsAbs(name) && dir != "" {
			name = filepath.Join(dir, name)
		}
		b, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("reading token key: %w", err)
		}
		*dst = string(b)
		return nil
	}
	if err := read(t.RSAPublicKeyFile, &t.RSAPublicKey); err != nil {
		return err
	}
	return read(t.ECDSAPublicKeyFile, &t.ECDSAPublicKey)
}

var namespaceNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate checks the configuration and returns every problem found, each
// naming the option as it is spelt in the configuration file.
func (cfg *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	names := make([]string, 0, len(cfg.Namespaces))
	for name := range cfg.Namespaces {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !namespaceNameRE.MatchString(name) {
			bad("namespaces: %q is not a valid namespace name: use 1 to 64 of A-Z a-z 0-9 _ -", name)
			continue
		}
		cfg.Namespaces[name].validate("namespaces."+name, bad)
	}
	if cfg.Default != nil {
		cfg.Default.validate("default_namespace", bad)
	}

	t := cfg.Token
	if t.HMACSecret != "" && len(t.HMACSecret) < 16 {
		bad("token.hmac_secret is %d bytes: use at least 16 random bytes (32 recommended)", len(t.HMACSecret))
	}
	if _, err := newVerifier(t); err != nil {
		bad("token: %v", err)
	}
	if !cfg.Anonymous && t.HMACSecret == "" && t.RSAPublicKey == "" && t.ECDSAPublicKey == "" {
		bad("no way to connect: set token.hmac_secret (--token-hmac-secret), a token public key, or anonymous (--anonymous)")
	}
	if cfg.APIKey != "" && len(cfg.APIKey) < 8 {
		bad("api_key is %d bytes: use at least 8 (or leave it empty to turn the HTTP API off)", len(cfg.APIKey))
	}
	if strings.ContainsAny(cfg.APIKey, " \t\r\n") {
		bad("api_key must not contain white space")
	}

	l := cfg.Limits
	atLeast := func(name string, v, lo int) {
		if v < lo {
			bad("limits.%s is %d: it must be at least %d", name, v, lo)
		}
	}
	atLeast("max_message_size", l.MaxMessageSize, 512)
	atLeast("max_publication_size", l.MaxPublicationSize, 1)
	atLeast("max_channels", l.MaxChannels, 1)
	atLeast("max_connections_per_user", l.MaxConnectionsPerUser, 0)
	atLeast("publish_burst", l.PublishBurst, 1)
	atLeast("command_burst", l.CommandBurst, 1)
	atLeast("queue_size", l.QueueSize, 4096)
	atLeast("history_limit", l.HistoryLimit, 1)
	atLeast("recovery_max", l.RecoveryMax, 1)
	atLeast("api_body_size", l.APIBodySize, 1024)
	atLeast("broadcast_channels", l.BroadcastChannels, 1)
	if !(l.PublishRate > 0) {
		bad("limits.publish_rate is %v: it must be above 0 (publishes per second)", l.PublishRate)
	}
	if !(l.CommandRate > 0) {
		bad("limits.command_rate is %v: it must be above 0 (commands per second)", l.CommandRate)
	}
	if l.QueueSize > 0 && l.QueueSize < l.MaxMessageSize {
		bad("limits.queue_size (%d) is smaller than limits.max_message_size (%d): a reply to one message might not fit", l.QueueSize, l.MaxMessageSize)
	}

	if cfg.Ping < 0 || (cfg.Ping > 0 && cfg.Ping < Duration(time.Second)) {
		bad("ping is %v: use 0 (no pings) or at least 1s", cfg.Ping)
	}
	if cfg.Ping > 0 && cfg.Pong < Duration(time.Second) {
		bad("pong is %v: with pings on it must be at least 1s", cfg.Pong)
	}
	if cfg.Ping%Duration(time.Second) != 0 || cfg.Pong%Duration(time.Second) != 0 {
		bad("ping and pong must be whole seconds (the protocol sends them as integers)")
	}
	if cfg.ConnectTimeout < Duration(100*time.Millisecond) {
		bad("connect_timeout is %v: it must be at least 100ms", cfg.ConnectTimeout)
	}
	if cfg.WriteTimeout < Duration(100*time.Millisecond) {
		bad("write_timeout is %v: it must be at least 100ms", cfg.WriteTimeout)
	}
	if cfg.Drain < 0 {
		bad("drain is %v: it must not be negative", cfg.Drain)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration:\n  %w", joinLines(errs))
	}
	return nil
}

func (n Namespace) validate(where string, bad func(string, ...any)) {
	switch {
	case n.HistorySize < 0 || n.HistoryTTL < 0 || n.HistoryMetaTTL < 0:
		bad("%s: history_size, history_ttl and history_meta_ttl must not be negative", where)
	case (n.HistorySize > 0) != (n.HistoryTTL > 0):
		bad("%s: set both history_size and history_ttl to keep history, or neither", where)
	}
}

// lines joins errors one per line.
type lines []error

// Error implements error.
func (l lines) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n  ")
}

// Unwrap returns the errors, for errors.Is and errors.As.
func (l lines) Unwrap() []error { return l }

func joinLines(errs []error) error { return lines(errs) }
