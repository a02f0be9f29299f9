package websocket

import (
	"errors"
	"fmt"
	"strings"
)

// Parsing of Sec-WebSocket-Extensions values (RFC 6455 §9.1):
//
//	extension-list = 1#extension
//	extension      = extension-token *( ";" extension-param )
//	extension-param = token [ "=" (token | quoted-string) ]
//
// A quoted value must be a token once unquoted. Empty list elements are
// allowed by the HTTP list rule and skipped.

// extParam is one parameter of an extension element.
type extParam struct {
	name     string
	value    string
	hasValue bool
}

// extElement is one extension of a list, or the syntax error that made it
// unreadable (a server declines such an element and reads on).
type extElement struct {
	name   string
	params []extParam
	err    error
}

var errExtSyntax = errors.New("malformed Sec-WebSocket-Extensions")

// extParseHeader splits one header value into its elements. It never
// fails as a whole: a malformed element carries its error and the others
// are still returned, because one bad offer must not hide a good one.
func extParseHeader(h string) []extElement {
	var out []extElement
	for _, raw := range extSplit(h, ',') {
		if strings.TrimSpace(raw) == "" {
			continue
		}
		out = append(out, extParseElement(raw))
	}
	return out
}

func extParseElement(raw string) extElement {
	parts := extSplit(raw, ';')
	e := extElement{name: strings.TrimSpace(parts[0])}
	if !extIsToken(e.name) {
		e.err = fmt.Errorf("%w: extension name %q is not a token", errExtSyntax, e.name)
		return e
	}
	for _, part := range parts[1:] {
		part = strings.TrimSpace(part)
		name, value, hasValue := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		if !extIsToken(name) {
			e.err = fmt.Errorf("%w: parameter name %q of %s is not a token", errExtSyntax, name, e.name)
			return e
		}
		p := extParam{name: name, hasValue: hasValue}
		if hasValue {
			v, err := extUnquote(strings.TrimSpace(value))
			if err != nil {
				e.err = fmt.Errorf("%w: parameter %s of %s: %w", errExtSyntax, name, e.name, err)
				return e
			}
			p.value = v
		}
		e.params = append(e.params, p)
	}
	return e
}

// extUnquote returns a token value as is and a quoted-string without
// its quotes and escapes. Either way the result must be a token; an empty
// value is reported as the empty string and rejected by the parameter's
// own rules.
func extUnquote(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if v[0] != '"' {
		if !extIsToken(v) {
			return "", fmt.Errorf("value %q is not a token", v)
		}
		return v, nil
	}
	if len(v) < 2 || v[len(v)-1] != '"' {
		return "", fmt.Errorf("unterminated quoted value %s", v)
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		c := v[i]
		if c == '\\' {
			i++
			if i >= len(v)-1 {
				return "", fmt.Errorf("dangling escape in %s", v)
			}
			c = v[i]
		} else if c == '"' {
			return "", fmt.Errorf("stray quote in %s", v)
		}
		b.WriteByte(c)
	}
	s := b.String()
	if !extIsToken(s) {
		return "", fmt.Errorf("quoted value %s is not a token once unquoted", v)
	}
	return s, nil
}

// extSplit splits s at sep, ignoring separators inside
// quoted-strings (with backslash escapes).
func extSplit(s string, sep byte) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// extIsToken reports whether s is a non-empty RFC 7230 token.
func extIsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
