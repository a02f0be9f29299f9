package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func publicPEM(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func TestConnectTokens(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	ts := startServer(t, func(c *Config) {
		c.Token.RSAPublicKey = publicPEM(t, &rsaKey.PublicKey)
		c.Token.ECDSAPublicKey = publicPEM(t, &ecKey.PublicKey)
	})
	sign := func(alg string, key any, c TokenClaims) string {
		s, err := SignToken(alg, key, c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	alice := TokenClaims{User: "alice"}
	expired := TokenClaims{User: "alice", ExpiresAt: time.Now().Add(-time.Minute)}
	noneTok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "alice"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	nbfTok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "nbf": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(testSecret))
	noSubTok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(testSecret))

	for _, tc := range []struct {
		name      string
		token     string
		code      int // 0: accepted
		closeCode int
	}{
		{"HS256", sign("HS256", testSecret, alice), 0, 0},
		{"HS512", sign("HS512", testSecret, alice), 0, 0},
		{"RS256", sign("RS256", rsaKey, alice), 0, 0},
		{"PS384", sign("PS384", rsaKey, alice), 0, 0},
		{"ES256", sign("ES256", ecKey, alice), 0, 0},
		{"expired", sign("HS256", testSecret, expired), CodeTokenExpired, DisconnectExpired},
		{"wrong HMAC key", sign("HS256", "another secret of enough length", alice), CodeUnauthorized, DisconnectUnauthorized},
		{"wrong RSA key", sign("RS256", otherRSA, alice), CodeUnauthorized, DisconnectUnauthorized},
		{"alg none", noneTok, CodeUnauthorized, DisconnectUnauthorized},
		{"nbf in the future", nbfTok, CodeUnauthorized, DisconnectUnauthorized},
		{"no sub", noSubTok, CodeUnauthorized, DisconnectUnauthorized},
		{"garbage", "not.a.jwt", CodeUnauthorized, DisconnectUnauthorized},
		{"subscription token", sign("HS256", testSecret, TokenClaims{User: "alice", Channel: "secret:x"}), CodeUnauthorized, DisconnectUnauthorized},
		{"too long", strings.Repeat("a", maxTokenSize+1), CodeBadRequest, DisconnectBadRequest},
		{"anonymous not allowed", "", CodeUnauthorized, DisconnectUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, ts)
			p := map[string]any{}
			if tc.token != "" {
				p["token"] = tc.token
			}
			if tc.code == 0 {
				if res := c.ok("connect", p); res.str("user") != "alice" {
					t.Fatalf("connect result %v", res)
				}
				return
			}
			c.fails("connect", p, tc.code)
			c.expectClosed(tc.closeCode)
		})
	}
}

func TestTokenExpiryAndRefresh(t *testing.T) {
	ts := startServer(t, nil)
	c := dial(t, ts)
	res := c.connect(token(t, "alice", 2*time.Second))
	if res["expires"] != true || res.num("ttl") < 1 || res.num("ttl") > 2 {
		t.Fatalf("connect result %v", res)
	}
	// A refresh for another user fails and leaves the old expiry.
	c.fails("refresh", map[string]any{"token": token(t, "mallory", time.Hour)}, CodeUnauthorized)
	subTok, err := SignToken("HS256", testSecret, TokenClaims{User: "alice", Channel: "secret:x", ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	c.fails("refresh", map[string]any{"token": subTok}, CodeUnauthorized)
	r := c.ok("refresh", map[string]any{"token": token(t, "alice", time.Hour)})
	if r["expires"] != true || r.num("ttl") < 3590 {
		t.Fatalf("refresh result %v", r)
	}
	// Without the refresh the connection would end after 2 s; it goes on.
	time.Sleep(2500 * time.Millisecond)
	c.ok("ping", nil)

	d := dial(t, ts)
	d.connect(token(t, "bob", time.Second))
	d.expectClosed(DisconnectExpired)
}

func TestAnonymous(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Anonymous = true })
	c := dial(t, ts)
	if res := c.connect(""); res.str("user") != "" {
		t.Fatalf("connect result %v", res)
	}
	c.ok("subscribe", map[string]any{"channel": "chat:a"})                             // allow_anonymous
	c.fails("subscribe", map[string]any{"channel": "members:a"}, CodePermissionDenied) // no allow_anonymous
	c.fails("subscribe", map[string]any{"channel": "secret:a"}, CodePermissionDenied)  // private
	c.ok("publish", map[string]any{"channel": "chat:a", "data": "x"})
}

func TestSubscriptionTokens(t *testing.T) {
	ts := startServer(t, nil)
	c := dial(t, ts)
	c.connect(token(t, "alice", 0))
	subTok := func(user, channel string, exp time.Duration, info string) string {
		cl := TokenClaims{User: user, Channel: channel}
		if exp != 0 {
			cl.ExpiresAt = time.Now().Add(exp)
		}
		if info != "" {
			cl.Info = []byte(info)
		}
		s, err := SignToken("HS256", testSecret, cl)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	c.fails("subscribe", map[string]any{"channel": "secret:x"}, CodePermissionDenied)
	c.fails("subscribe", map[string]any{"channel": "secret:x", "token": subTok("alice", "secret:y", 0, "")}, CodeUnauthorized)
	c.fails("subscribe", map[string]any{"channel": "secret:x", "token": subTok("bob", "secret:x", 0, "")}, CodeUnauthorized)
	c.fails("subscribe", map[string]any{"channel": "secret:x", "token": subTok("alice", "secret:x", -time.Minute, "")}, CodeTokenExpired)
	bad, _ := SignToken("HS256", "a different secret, long enough", TokenClaims{User: "alice", Channel: "secret:x"})
	c.fails("subscribe", map[string]any{"channel": "secret:x", "token": bad}, CodeUnauthorized)

	res := c.ok("subscribe", map[string]any{"channel": "secret:x", "token": subTok("alice", "secret:x", 2*time.Second, `{"role":"admin"}`)})
	if res["expires"] != true || res.num("ttl") < 1 {
		t.Fatalf("subscribe result %v", res)
	}
	c.ok("publish", map[string]any{"channel": "secret:x", "data": 1})
	if p := c.push("publication"); p.obj("info").obj("info").str("role") != "admin" {
		t.Fatalf("publication info should carry the subscription token's info: %v", p)
	}
	// sub_refresh once, then let it expire.
	c.fails("sub_refresh", map[string]any{"channel": "secret:x", "token": subTok("alice", "secret:z", time.Hour, "")}, CodeUnauthorized)
	c.ok("sub_refresh", map[string]any{"channel": "secret:x", "token": subTok("alice", "secret:x", time.Second, "")})
	u := c.push("unsubscribe")
	if u.str("channel") != "secret:x" || u.num("code") != 2001 || u["resubscribe"] != true {
		t.Fatalf("unsubscribe push %v", u)
	}
	c.fails("publish", map[string]any{"channel": "secret:x", "data": 1}, CodeNotSubscribed)
}

func TestServerSideSubscriptions(t *testing.T) {
	ts := startServer(t, nil)
	tok, err := SignToken("HS256", testSecret, TokenClaims{User: "alice", Channels: []string{"chat:inbox", "nope:x", "bad channel"}})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, ts)
	res := c.connect(tok)
	subs := res.obj("subs")
	if len(subs) != 1 || subs.obj("chat:inbox")["recoverable"] != true {
		t.Fatalf("subs %v", subs)
	}
	epoch := subs.obj("chat:inbox").str("epoch")
	c.fails("unsubscribe", map[string]any{"channel": "chat:inbox"}, CodePermissionDenied)
	if code, _ := ts.api(t, "publish", map[string]any{"channel": "chat:inbox", "data": "a"}); code != 200 {
		t.Fatalf("api publish: %d", code)
	}
	if p := c.push("publication"); p.str("data") != "a" {
		t.Fatalf("publication %v", p)
	}
	ts.api(t, "publish", map[string]any{"channel": "chat:inbox", "data": "b"})

	// Reconnect with the position: the missed publication comes back.
	d := dial(t, ts)
	res = d.ok("connect", map[string]any{"token": tok, "subs": map[string]any{"chat:inbox": map[string]any{"offset": 1, "epoch": epoch}}})
	in := res.obj("subs").obj("chat:inbox")
	pubs, _ := in["publications"].([]any)
	if in["recovered"] != true || len(pubs) != 1 || in.num("offset") != 2 {
		t.Fatalf("recovered sub %v", in)
	}
}

func mustECKey(t *testing.T) *ecdsa.PublicKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &k.PublicKey
}
