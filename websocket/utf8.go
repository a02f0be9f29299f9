package websocket

import "encoding/binary"

// utf8Validator checks UTF-8 incrementally, one chunk at a time, and reports
// the first byte that cannot be part of a valid sequence, even when the
// sequence is not complete yet. This is what lets a fragmented text message
// fail at the first bad byte (RFC 6455 §8.1) instead of at its end.
//
// The state is the number of continuation bytes still expected and the range
// the next one must fall in; the ranges come from the table of well-formed
// byte sequences in Unicode §3.9 (no overlongs, no surrogates, nothing above
// U+10FFFF).
type utf8Validator struct {
	need   uint8
	lo, hi byte
}

// write checks p and reports whether everything so far can still be valid.
func (v *utf8Validator) write(p []byte) bool {
	i := 0
	n := len(p)
	for i < n {
		if v.need == 0 {
			for i+8 <= n && binary.LittleEndian.Uint64(p[i:])&0x8080808080808080 == 0 {
				i += 8
			}
			if i >= n {
				return true
			}
			b := p[i]
			i++
			if b < 0x80 {
				continue
			}
			switch {
			case b >= 0xC2 && b <= 0xDF:
				v.need, v.lo, v.hi = 1, 0x80, 0xBF
			case b == 0xE0:
				v.need, v.lo, v.hi = 2, 0xA0, 0xBF
			case b == 0xED:
				v.need, v.lo, v.hi = 2, 0x80, 0x9F
			case b >= 0xE1 && b <= 0xEF:
				v.need, v.lo, v.hi = 2, 0x80, 0xBF
			case b == 0xF0:
				v.need, v.lo, v.hi = 3, 0x90, 0xBF
			case b >= 0xF1 && b <= 0xF3:
				v.need, v.lo, v.hi = 3, 0x80, 0xBF
			case b == 0xF4:
				v.need, v.lo, v.hi = 3, 0x80, 0x8F
			default:
				return false
			}
			continue
		}
		b := p[i]
		i++
		if b < v.lo || b > v.hi {
			return false
		}
		v.need--
		v.lo, v.hi = 0x80, 0xBF
	}
	return true
}

// complete reports whether the input ended on a sequence boundary.
func (v *utf8Validator) complete() bool { return v.need == 0 }

func (v *utf8Validator) reset() { *v = utf8Validator{} }
