package server

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// maxTokenSize bounds a token (docs/protocol.md section 12).
	maxTokenSize = 8192
	// maxInfoSize bounds the info claim and connect/subscribe data.
	maxInfoSize = 4096
)

// TokenClaims are the claims Duplex reads from a JWT (docs/protocol.md
// section 6), and writes when it mints one with SignToken.
type TokenClaims struct {
	// User is the sub claim: the user id, "" for anonymous.
	User string
	// ExpiresAt is the exp claim; zero means the token never expires.
	ExpiresAt time.Time
	// Info is shown to other clients in ClientInfo.
	Info json.RawMessage
	// Channels, in a connection token, are subscribed by the server itself.
	Channels []string
	// Channel, in a subscription token, is the channel it grants.
	Channel string
	// Audience and Issuer are the aud and iss claims.
	Audience string
	Issuer   string
}

// wireClaims is the JSON form of a token's claims. sub is a pointer so
// that a missing sub can be told from an empty one.
type wireClaims struct {
	Sub      *string          `json:"sub"`
	Exp      *jwt.NumericDate `json:"exp,omitempty"`
	Nbf      *jwt.NumericDate `json:"nbf,omitempty"`
	Iat      *jwt.NumericDate `json:"iat,omitempty"`
	Iss      string           `json:"iss,omitempty"`
	Aud      jwt.ClaimStrings `json:"aud,omitempty"`
	Info     json.RawMessage  `json:"info,omitempty"`
	Channels []string         `json:"channels,omitempty"`
	Channel  string           `json:"channel,omitempty"`
}

// The methods below implement jwt.Claims.

func (c *wireClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.Exp, nil }
func (c *wireClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.Nbf, nil }
func (c *wireClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.Iat, nil }
func (c *wireClaims) GetIssuer() (string, error)                   { return c.Iss, nil }
func (c *wireClaims) GetAudience() (jwt.ClaimStrings, error)       { return c.Aud, nil }
func (c *wireClaims) GetSubject() (string, error) {
	if c.Sub == nil {
		return "", nil
	}
	return *c.Sub, nil
}

// verifier checks tokens against the configured keys.
type verifier struct {
	hmac   []byte
	rsa    *rsa.PublicKey
	ec     *ecdsa.PublicKey
	parser *jwt.Parser
	now    func() time.Time
}

var (
	hmacAlgs = []string{"HS256", "HS384", "HS512"}
	rsaAlgs  = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	ecAlgs   = []string{"ES256", "ES384", "ES512"}
)

// newVerifier parses the keys of t.
func newVerifier(t TokenConfig) (*verifier, error) {
	v := &verifier{now: time.Now}
	var algs []string
	if t.HMACSecret != "" {
		v.hmac = []byte(t.HMACSecret)
		algs = append(algs, hmacAlgs...)
	}
	if t.RSAPublicKey != "" {
		k, err := jwt.ParseRSAPublicKeyFromPEM([]byte(t.RSAPublicKey))
		if err != nil {
			return nil, fmt.Errorf("rsa_public_key: %w; give a PEM \"PUBLIC KEY\" or \"RSA PUBLIC KEY\" block", err)
		}
		v.rsa = k
		algs = append(algs, rsaAlgs...)
	}
	if t.ECDSAPublicKey != "" {
		k, err := jwt.ParseECPublicKeyFromPEM([]byte(t.ECDSAPublicKey))
		if err != nil {
			return nil, fmt.Errorf("ecdsa_public_key: %w; give a PEM \"PUBLIC KEY\" block of an EC key", err)
		}
		v.ec = k
		algs = append(algs, ecAlgs...)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(algs),
		jwt.WithTimeFunc(func() time.Time { return v.now() }),
	}
	if t.Audience != "" {
		opts = append(opts, jwt.WithAudience(t.Audience))
	}
	if t.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(t.Issuer))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// keyFor picks the key that matches the token's algorithm family.
func (v *verifier) keyFor(t *jwt.Token) (any, error) {
	switch t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		if v.hmac != nil {
			return v.hmac, nil
		}
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		if v.rsa != nil {
			return v.rsa, nil
		}
	case *jwt.SigningMethodECDSA:
		if v.ec != nil {
			return v.ec, nil
		}
	}
	return nil, fmt.Errorf("no key configured for alg %s", t.Method.Alg())
}

// tokenKind says what a token is used as; it names the token in error
// messages.
type tokenKind string

const (
	connectionToken   tokenKind = "connection token"
	subscriptionToken tokenKind = "subscription token"
)

// verify parses and checks token as a token of kind what. A token with a
// channel claim is a subscription token and is refused as a connection
// token, so that a long-lived subscription token cannot stand in for the
// connection tokens of the same user.
func (v *verifier) verify(token string, what tokenKind) (TokenClaims, *Error) {
	if len(token) > maxTokenSize {
		return TokenClaims{}, newError(CodeBadRequest, "bad request: %s is %d bytes, over the limit of %d", what, len(token), maxTokenSize)
	}
	var wc wireClaims
	if _, err := v.parser.ParseWithClaims(token, &wc, v.keyFor); err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return TokenClaims{}, newError(CodeTokenExpired, "token expired: the %s has expired; get a fresh one", what)
		}
		return TokenClaims{}, newError(CodeUnauthorized, "unauthorized: invalid %s: %v", what, err)
	}
	if wc.Sub == nil {
		return TokenClaims{}, newError(CodeUnauthorized, "unauthorized: the %s has no sub claim; use \"\" for anonymous", what)
	}
	if what == connectionToken && wc.Channel != "" {
		return TokenClaims{}, newError(CodeUnauthorized, "unauthorized: this is a subscription token (it has a channel claim); use a connection token")
	}
	if len(wc.Info) > maxInfoSize {
		return TokenClaims{}, newError(CodeBadRequest, "bad request: the info claim of the %s is %d bytes, over the limit of %d", what, len(wc.Info), maxInfoSize)
	}
	c := TokenClaims{User: *wc.Sub, Info: wc.Info, Channels: wc.Channels, Channel: wc.Channel, Issuer: wc.Iss}
	if len(wc.Aud) > 0 {
		c.Audience = wc.Aud[0]
	}
	if wc.Exp != nil {
		c.ExpiresAt = wc.Exp.Time
	}
	return c, nil
}
