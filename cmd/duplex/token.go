package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/duplexws/duplex/server"
)

func init() {
	register(&command{name: "token", short: "mint a connection or subscription token (JWT) for development", run: runToken})
}

const tokenAbout = `
Prints a JWT that "duplex serve" accepts (docs/protocol.md section 6): a
connection token for --user, or with --channel a subscription token for
that channel. HS* tokens are signed with the HMAC secret (--hmac-secret,
DUPLEX_TOKEN_HMAC_SECRET, or token.hmac_secret of --config); RS*, PS* and
ES* tokens with the PEM private key given by --key.`

const tokenExamples = `  duplex token --user alice --hmac-secret "$SECRET"
  duplex token --user alice --ttl 1h --info '{"name":"Alice"}' --config duplex.json
  duplex token --user alice --channel secret:room1 --hmac-secret "$SECRET"
  duplex token --user svc --alg ES256 --key ec-private.pem --channels news,alerts`

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newCommandFlags("token", "token --user ID [flags]", tokenAbout, tokenExamples, stdout, stderr)
	user := fs.String("user", "", "user `id` (the sub claim); \"\" makes an anonymous token")
	ttl := fs.Duration("ttl", 0, "lifetime (`duration`); 0 means the token never expires")
	channel := fs.String("channel", "", "make a subscription token for this `channel`")
	channels := fs.String("channels", "", "comma-separated `channels` the server subscribes the connection to (channels claim)")
	info := fs.String("info", "", "`JSON` shown to other clients as the connection's info")
	alg := fs.String("alg", "HS256", "signing `algorithm`: HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512")
	secret := fs.String("hmac-secret", "", "HMAC `secret` (env DUPLEX_TOKEN_HMAC_SECRET)")
	keyFile := fs.String("key", "", "PEM private key `file` for RS*, PS* and ES*")
	configPath := fs.String("config", "", "take the HMAC secret, audience and issuer from this configuration `file`")
	audience := fs.String("audience", "", "aud claim (default: the configuration's token.audience)")
	issuer := fs.String("issuer", "", "iss claim (default: the configuration's token.issuer)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fs, "unexpected argument %q", fs.Arg(0))
	}
	userSet := false
	fs.Visit(func(f *flag.Flag) { userSet = userSet || f.Name == "user" })
	if !userSet {
		return usageError(fs, "--user is required (use --user \"\" for an anonymous token)")
	}
	claims := server.TokenClaims{User: *user, Channel: *channel, Audience: *audience, Issuer: *issuer}
	if *ttl < 0 {
		return usageError(fs, "--ttl must not be negative")
	}
	if *ttl > 0 {
		claims.ExpiresAt = time.Now().Add(*ttl)
	}
	if *channels != "" {
		for _, ch := range strings.Split(*channels, ",") {
			if ch = strings.TrimSpace(ch); ch != "" {
				claims.Channels = append(claims.Channels, ch)
			}
		}
	}
	if *info != "" {
		if !json.Valid([]byte(*info)) {
			return usageError(fs, "--info must be valid JSON, such as '{\"name\":\"Alice\"}'")
		}
		claims.Info = json.RawMessage(*info)
	}
	if *configPath != "" {
		cfg, err := server.LoadConfig(*configPath)
		if err != nil {
			return err
		}
		if *secret == "" {
			*secret = cfg.Token.HMACSecret
		}
		if claims.Audience == "" {
			claims.Audience = cfg.Token.Audience
		}
		if claims.Issuer == "" {
			claims.Issuer = cfg.Token.Issuer
		}
	}
	if *secret == "" {
		*secret = os.Getenv("DUPLEX_TOKEN_HMAC_SECRET")
	}
	var key any
	if strings.HasPrefix(*alg, "HS") {
		if *secret == "" {
			return usageError(fs, "%s needs the HMAC secret: --hmac-secret, DUPLEX_TOKEN_HMAC_SECRET or --config", *alg)
		}
		key = *secret
	} else {
		if *keyFile == "" {
			return usageError(fs, "%s needs a private key: --key FILE", *alg)
		}
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return fmt.Errorf("reading the key: %w", err)
		}
		if key, err = server.ParsePrivateKey(b); err != nil {
			return fmt.Errorf("%s: %w", *keyFile, err)
		}
	}
	tok, err := server.SignToken(*alg, key, claims)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
