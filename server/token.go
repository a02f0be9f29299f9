package server

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// SignToken mints a JWT carrying c, signed with alg ("HS256", "RS256",
// "ES256", ...). key is the HMAC secret as []byte or string for HS*, an
// *rsa.PrivateKey for RS* and PS*, an *ecdsa.PrivateKey for ES*. The
// server verifies such tokens with the matching secret or public key.
func SignToken(alg string, key any, c TokenClaims) (string, error) {
	m := jwt.GetSigningMethod(alg)
	if m == nil || alg == "none" {
		return "", fmt.Errorf("unknown signing algorithm %q: use HS256, RS256, ES256 or another of docs/protocol.md section 6", alg)
	}
	switch k := key.(type) {
	case string:
		key = []byte(k)
	case crypto.Signer:
		switch m.(type) {
		case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
			if _, ok := k.(*rsa.PrivateKey); !ok {
				return "", fmt.Errorf("alg %s needs an RSA private key", alg)
			}
		case *jwt.SigningMethodECDSA:
			if _, ok := k.(*ecdsa.PrivateKey); !ok {
				return "", fmt.Errorf("alg %s needs an EC private key", alg)
			}
		}
	}
	sub := c.User
	wc := wireClaims{
		Sub:      &sub,
		Iat:      jwt.NewNumericDate(time.Now()),
		Info:     c.Info,
		Channels: c.Channels,
		Channel:  c.Channel,
		Iss:      c.Issuer,
	}
	if c.Audience != "" {
		wc.Aud = jwt.ClaimStrings{c.Audience}
	}
	if !c.ExpiresAt.IsZero() {
		wc.Exp = jwt.NewNumericDate(c.ExpiresAt)
	}
	s, err := jwt.NewWithClaims(m, &wc).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("signing token with %s: %w", alg, err)
	}
	return s, nil
}

// ParsePrivateKey reads a PEM private key (PKCS#1, PKCS#8 or SEC 1) for
// SignToken, returning an *rsa.PrivateKey or an *ecdsa.PrivateKey.
func ParsePrivateKey(pemBytes []byte) (crypto.Signer, error) {
	if k, err := jwt.ParseRSAPrivateKeyFromPEM(pemBytes); err == nil {
		return k, nil
	}
	if k, err := jwt.ParseECPrivateKeyFromPEM(pemBytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("not a PEM RSA or EC private key: give a \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\" block")
}
