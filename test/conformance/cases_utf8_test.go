package conformance_test

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// utf8Seq is one byte sequence of the catalogue's UTF-8 tables with the
// verdict of the catalogue: valid UTF-8 or not.
type utf8Seq struct {
	valid bool
	b     string
}

// kosme is "κόσμε", the Greek word of Markus Kuhn's UTF-8 decoder test file.
const kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"

// utf8Tables are the byte sequences of cases 6.5.x to 6.23.x, in catalogue
// order, taken from Markus Kuhn's "UTF-8 decoder capability and stress test"
// plus non-characters and Unicode specials. Index 0 is subgroup 6.5.
func utf8Tables() [][]utf8Seq {
	ok := func(ss ...string) []utf8Seq { return seqs(true, ss) }
	bad := func(ss ...string) []utf8Seq { return seqs(false, ss) }

	// 6.6: every prefix of κόσμε; valid only when it ends on a character.
	var prefixes []utf8Seq
	for i := 1; i <= len(kosme); i++ {
		prefixes = append(prefixes, utf8Seq{valid: i == 2 || i == 5 || i == 7 || i == 9 || i == 11, b: kosme[:i]})
	}
	// 6.12.8: the continuation bytes 0x80 to 0xbe.
	var conts []byte
	for c := 0x80; c < 0xbf; c++ {
		conts = append(conts, byte(c))
	}
	// 6.13: lonely start bytes, each followed by a space.
	lonely := func(lo, hi int) string {
		var b []byte
		for c := lo; c < hi; c++ {
			b = append(b, byte(c), ' ')
		}
		return string(b)
	}
	missingLast := []string{"\xc0", "\xe0\x80", "\xf0\x80\x80", "\xf8\x80\x80\x80", "\xfc\x80\x80\x80\x80",
		"\xdf", "\xef\xbf", "\xf7\xbf\xbf", "\xfb\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf"}
	concat := ""
	for _, s := range missingLast {
		concat += s
	}
	// 6.22: non-characters U+FFFE, U+FFFF and U+nFFFE, U+nFFFF of planes
	// 1 to 16: valid UTF-8.
	nonChars := ok("\xef\xbf\xbe", "\xef\xbf\xbf")
	for _, z1 := range []byte{0xf0, 0xf1, 0xf2, 0xf3, 0xf4} {
		for _, z2 := range []byte{0x8f, 0x9f, 0xaf, 0xbf} {
			if z1 == 0xf4 && z2 != 0x8f || z1 == 0xf0 && z2 == 0x8f {
				continue // above U+10FFFF, or overlong
			}
			for _, z3 := range []byte{0xbe, 0xbf} {
				nonChars = append(nonChars, utf8Seq{true, string([]byte{z1, z2, 0xbf, z3})})
			}
		}
	}
	return [][]utf8Seq{
		// 6.5 some valid UTF-8 text
		ok("hello\x24world", "hello\xc2\xa2world", "hello\xe2\x82\xacworld", "hello\xf0\xa4\xad\xa2world", kosme),
		// 6.6 every prefix of κόσμε
		prefixes,
		// 6.7 first of each length
		ok("\x00", "\xc2\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80"),
		// 6.8 first of length 5, 6
		bad("\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80"),
		// 6.9 last of each length
		ok("\x7f", "\xdf\xbf", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf"),
		// 6.10 last of length 4, 5, 6
		bad("\xf7\xbf\xbf\xbf", "\xfb\xbf\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf\xbf"),
		// 6.11 other boundary conditions
		append(ok("\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf"), bad("\xf4\x90\x80\x80")...),
		// 6.12 unexpected continuation bytes
		bad("\x80", "\xbf", "\x80\xbf", "\x80\xbf\x80", "\x80\xbf\x80\xbf", "\x80\xbf\x80\xbf\x80", "\x80\xbf\x80\xbf\x80\xbf", string(conts)),
		// 6.13 lonely start bytes, each followed by a space
		bad(lonely(0xc0, 0xdf), lonely(0xe0, 0xef), lonely(0xf0, 0xf7), lonely(0xf8, 0xfb), lonely(0xfc, 0xfd)),
		// 6.14 sequences with the last continuation byte missing
		bad(missingLast...),
		// 6.15 all of 6.14 concatenated
		bad(concat),
		// 6.16 impossible bytes
		bad("\xfe", "\xff", "\xfe\xfe\xff\xff"),
		// 6.17 overlong '/'
		bad("\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xf8\x80\x80\x80\xaf", "\xfc\x80\x80\x80\x80\xaf"),
		// 6.18 maximum overlongs
		bad("\xc1\xbf", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", "\xf8\x87\xbf\xbf\xbf", "\xfc\x83\xbf\xbf\xbf\xbf"),
		// 6.19 overlong NUL
		bad("\xc0\x80", "\xe0\x80\x80", "\xf0\x80\x80\x80", "\xf8\x80\x80\x80\x80", "\xfc\x80\x80\x80\x80\x80"),
		// 6.20 single surrogates
		bad("\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80", "\xed\xaf\xbf", "\xed\xb0\x80", "\xed\xbe\x80", "\xed\xbf\xbf"),
		// 6.21 paired surrogates
		bad("\xed\xa0\x80\xed\xb0\x80", "\xed\xa0\x80\xed\xbf\xbf", "\xed\xad\xbf\xed\xb0\x80", "\xed\xad\xbf\xed\xbf\xbf", "\xed\xae\x80\xed\xb0\x80", "\xed\xae\x80\xed\xbf\xbf", "\xed\xaf\xbf\xed\xb0\x80", "\xed\xaf\xbf\xed\xbf\xbf"),
		// 6.22 non-characters, which are valid UTF-8
		nonChars,
		// 6.23 Unicode specials, such as the replacement character
		ok("\xef\xbf\xb9", "\xef\xbf\xba", "\xef\xbf\xbb", "\xef\xbf\xbc", "\xef\xbf\xbd", "\xef\xbf\xbe", "\xef\xbf\xbf"),
	}
}

func seqs(valid bool, ss []string) []utf8Seq {
	out := make([]utf8Seq, len(ss))
	for i, s := range ss {
		out[i] = utf8Seq{valid, s}
	}
	return out
}

// firstBadByte returns the index of the first byte after which b can no
// longer be the start of valid UTF-8, or len(b) when every prefix can (b is
// valid, or only incomplete at its end). It is the position where a
// fail-fast validator must stop (RFC 6455 §8.1).
func firstBadByte(b []byte) int {
	for k := 1; k <= len(b); k++ {
		if !validPrefix(b[:k]) {
			return k - 1
		}
	}
	return len(b)
}

// validPrefix reports whether some bytes appended to b make it valid UTF-8.
// A well-formed sequence constrains only its second byte beyond the lead
// (Unicode table 3-7), so trying every second byte followed by 0x80 fill
// covers all completions.
func validPrefix(b []byte) bool {
	if utf8.Valid(b) {
		return true
	}
	for n := 1; n <= 3; n++ {
		for c := 0x80; c <= 0xbf; c++ {
			ext := append(append([]byte(nil), b...), byte(c))
			for range n - 1 {
				ext = append(ext, 0x80)
			}
			if utf8.Valid(ext) {
				return true
			}
		}
	}
	return false
}

// group6 — UTF-8 handling of text messages (RFC 6455 §5.6, §8.1): valid
// text is echoed whatever its fragmentation; invalid text fails the
// connection with 1007 as soon as the first byte that cannot start valid
// UTF-8 arrives, even in the middle of a fragmented message or of a frame.
func group6() []wsCase {
	hello := "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!"
	octetFrames := func(p *peer, s string) [][]byte {
		var fs [][]byte
		for i := range len(s) {
			op := opCont
			if i == 0 {
				op = opText
			}
			fs = append(fs, p.frame(i == len(s)-1, 0, op, []byte{s[i]}))
		}
		return fs
	}
	textEcho := func(id, desc, want string, frames func(p *peer) [][]byte) wsCase {
		return echoCase(id, desc, opText, []byte(want), frames)
	}
	invalid := kosme + "\xed\xa0\x80" + "edited"
	// 6.4.x: valid start, then the byte that makes it invalid, then more.
	fast := kosme + "\xf4\x90\x80\x80" + "edited"
	cs := []wsCase{
		textEcho("6.1.1", "Send text message of length 0.", "", func(p *peer) [][]byte { return [][]byte{p.text("")} }),
		textEcho("6.1.2", "Send fragmented text message, 3 fragments each of length 0.", "", func(p *peer) [][]byte {
			return [][]byte{p.frame(false, 0, opText, nil), p.frame(false, 0, opCont, nil), p.frame(true, 0, opCont, nil)}
		}),
		textEcho("6.1.3", "Send fragmented text message, 3 fragments, first and last of length 0, middle non-empty.", "middle frame payload", func(p *peer) [][]byte {
			return [][]byte{p.frame(false, 0, opText, nil), p.frame(false, 0, opCont, []byte("middle frame payload")), p.frame(true, 0, opCont, nil)}
		}),
		textEcho("6.2.1", "Send a valid UTF-8 text message in one fragment.", hello, func(p *peer) [][]byte { return [][]byte{p.text(hello)} }),
		textEcho("6.2.2", "Send a valid UTF-8 text message in two fragments, split on a code point boundary.", hello, func(p *peer) [][]byte {
			return [][]byte{p.frame(false, 0, opText, []byte(hello[:11])), p.frame(true, 0, opCont, []byte(hello[11:]))}
		}),
		textEcho("6.2.3", "Send a valid UTF-8 text message in fragments of 1 octet, frames ending inside code points.", hello, func(p *peer) [][]byte { return octetFrames(p, hello) }),
		textEcho("6.2.4", "Send a valid UTF-8 text message (κόσμε) in fragments of 1 octet.", kosme, func(p *peer) [][]byte { return octetFrames(p, kosme) }),
		failCase("6.3.1", "Send an invalid UTF-8 text message unfragmented.", 1007, func(p *peer) [][]byte { return [][]byte{p.text(invalid)} }),
		{id: "6.3.2", desc: "Send an invalid UTF-8 text message in fragments of 1 octet: fails at the first bad byte, before the rest is sent.", run: func(p *peer) {
			k := firstBadByte([]byte(invalid))
			p.send(octetFrames(p, invalid)[:k+1]...)
			p.expectFailure(1007)
		}},
		{id: "6.4.1", desc: "Send invalid UTF-8 text in 3 fragments: the first valid, the second making it invalid (U+110000): fail fast on the second.", run: func(p *peer) {
			failFastFrames(p, fast[:11], fast[11:15])
		}},
		{id: "6.4.2", desc: "Same as 6.4.1 with the fragments split at the first invalid byte: 12 bytes, then 1, then the rest.", run: func(p *peer) {
			failFastFrames(p, fast[:12], fast[12:13])
		}},
		{id: "6.4.3", desc: "Same as 6.4.1, but in 3 chops of one frame.", run: func(p *peer) {
			failFastChops(p, fast, 11, 15)
		}},
		{id: "6.4.4", desc: "Same as 6.4.2, but in 3 chops of one frame.", run: func(p *peer) {
			failFastChops(p, fast, 12, 13)
		}},
	}
	for gi, table := range utf8Tables() {
		for i, s := range table {
			id := fmt.Sprintf("6.%d.%d", gi+5, i+1)
			if s.valid {
				cs = append(cs, textEcho(id, fmt.Sprintf("Send valid UTF-8 % x in one fragment.", s.b), s.b,
					func(p *peer) [][]byte { return [][]byte{p.text(s.b)} }))
				continue
			}
			cs = append(cs, failCase(id, fmt.Sprintf("Send invalid UTF-8 % x in one fragment.", s.b), 1007,
				func(p *peer) [][]byte { return [][]byte{p.text(s.b)} }))
		}
	}
	return cs
}

// failFastFrames sends head as the first fragment of a text message and
// proves it accepted with a ping, then sends bad as a continuation and
// expects 1007 without sending the rest of the message.
func failFastFrames(p *peer, head, bad string) {
	p.t.Helper()
	p.send(p.frame(false, 0, opText, []byte(head)))
	p.expectAlive()
	p.send(p.frame(false, 0, opCont, []byte(bad)))
	p.expectFailure(1007)
}

// failFastChops sends one text frame announcing all of msg but only its
// bytes up to cut1, waits, then up to cut2, and expects 1007 before the
// frame is complete.
func failFastChops(p *peer, msg string, cut1, cut2 int) {
	p.t.Helper()
	hdr, key := p.header(true, 0, opText, uint64(len(msg)))
	p.send(hdr, payloadPart(key, 0, []byte(msg[:cut1])))
	p.expectQuiet(200 * time.Millisecond)
	p.send(payloadPart(key, cut1, []byte(msg[cut1:cut2])))
	p.expectFailure(1007)
}
