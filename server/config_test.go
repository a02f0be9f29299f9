package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	if err := func() error { c := testConfig(); return c.Validate() }(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no way to connect", func(c *Config) { c.Token = TokenConfig{} }, "no way to connect"},
		{"short secret", func(c *Config) { c.Token.HMACSecret = "short" }, "token.hmac_secret is 5 bytes"},
		{"bad RSA key", func(c *Config) { c.Token.RSAPublicKey = "not a key" }, "rsa_public_key"},
		{"bad EC key", func(c *Config) {
			c.Token.ECDSAPublicKey = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
		}, "ecdsa_public_key"},
		{"short API key", func(c *Config) { c.APIKey = "abc" }, "api_key is 3 bytes"},
		{"bad namespace name", func(c *Config) { c.Namespaces["a:b"] = Namespace{} }, `"a:b" is not a valid namespace name`},
		{"history size without ttl", func(c *Config) { c.Namespaces["x"] = Namespace{HistorySize: 10} }, "namespaces.x: set both history_size and history_ttl"},
		{"negative ttl", func(c *Config) { c.Default = &Namespace{HistoryTTL: -1} }, "default_namespace: history_size, history_ttl"},
		{"zero message size", func(c *Config) { c.Limits.MaxMessageSize = 0 }, "limits.max_message_size is 0"},
		{"zero channels", func(c *Config) { c.Limits.MaxChannels = 0 }, "limits.max_channels is 0"},
		{"zero publish rate", func(c *Config) { c.Limits.PublishRate = 0 }, "limits.publish_rate"},
		{"tiny queue", func(c *Config) { c.Limits.QueueSize = 100 }, "limits.queue_size is 100"},
		{"queue below message size", func(c *Config) { c.Limits.QueueSize = 8192; c.Limits.MaxMessageSize = 16384 }, "smaller than limits.max_message_size"},
		{"fractional ping", func(c *Config) { c.Ping = Duration(1500 * time.Millisecond) }, "whole seconds"},
		{"negative drain", func(c *Config) { c.Drain = -1 }, "drain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
			if _, err := New(c, Options{}); err == nil {
				t.Fatal("New accepted an invalid configuration")
			}
		})
	}
	// Every problem is reported, not only the first.
	c := testConfig()
	c.Limits.MaxChannels = 0
	c.Limits.HistoryLimit = 0
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "max_channels") || !strings.Contains(err.Error(), "history_limit") {
		t.Fatalf("Validate() = %v, want both problems", err)
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("ec.pem", publicPEM(t, mustECKey(t)))
	good := write("good.json", `{
		"namespaces": {"chat": {"history_size": 50, "history_ttl": "30m", "presence": true, "allow_publish": true}},
		"token": {"hmac_secret": "0123456789abcdef", "ecdsa_public_key_file": "ec.pem"},
		"limits": {"max_channels": 16},
		"ping": 20,
		"drain": "2s"
	}`)
	cfg, err := LoadConfig(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ns := cfg.Namespaces["chat"]
	if ns.HistorySize != 50 || ns.HistoryTTL != Duration(30*time.Minute) || !ns.Presence || !ns.Recoverable() {
		t.Fatalf("namespace %+v", ns)
	}
	if cfg.Limits.MaxChannels != 16 || cfg.Limits.MaxMessageSize != 65536 {
		t.Fatalf("limits %+v: set ones changed, others default", cfg.Limits)
	}
	if cfg.Ping != Duration(20*time.Second) || cfg.Drain != Duration(2*time.Second) || !strings.Contains(cfg.Token.ECDSAPublicKey, "PUBLIC KEY") {
		t.Fatalf("config %+v", cfg)
	}

	for _, tc := range []struct{ name, body, want string }{
		{"unknown field", `{"namespace": {}}`, `unknown field "namespace"`},
		{"syntax", "{\n\"ping\": 1,\n}", "line 3"},
		{"bad duration", `{"drain": "soon"}`, `invalid duration "soon"`},
		{"missing key file", `{"token": {"rsa_public_key_file": "nope.pem"}}`, "nope.pem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(write(tc.name+".json", tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadConfig = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := LoadConfig(filepath.Join(dir, "absent.json")); err == nil {
		t.Fatal("LoadConfig of a missing file succeeded")
	}
}
