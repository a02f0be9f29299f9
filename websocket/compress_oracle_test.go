package websocket

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"testing"
)

// A deliberately simple inflater (RFC 1951), used only by tests as an
// independent oracle: it decodes bit by bit and records the largest
// back-reference distance, which is how the tests prove that a compressor
// told to use a 2^N-byte window never reaches further back.

type oracleBits struct {
	in  []byte
	pos int
	bit uint
	err error
}

var errOracleShort = errors.New("oracle: input ends inside a block")

func (b *oracleBits) read(n uint) int {
	v := 0
	for i := uint(0); i < n; i++ {
		if b.pos >= len(b.in) {
			b.err = errOracleShort
			return 0
		}
		v |= int(b.in[b.pos]>>b.bit&1) << i
		b.bit++
		if b.bit == 8 {
			b.bit, b.pos = 0, b.pos+1
		}
	}
	return v
}

type oracleHuff struct {
	count  [16]int
	symbol []int
}

func newOracleHuff(lengths []int) *oracleHuff {
	h := &oracleHuff{symbol: make([]int, len(lengths))}
	for _, l := range lengths {
		h.count[l]++
	}
	var offs [16]int
	for l := 1; l < 15; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	for s, l := range lengths {
		if l != 0 {
			h.symbol[offs[l]] = s
			offs[l]++
		}
	}
	return h
}

func (h *oracleHuff) decode(b *oracleBits) (int, error) {
	code, first, index := 0, 0, 0
	for l := 1; l < 16; l++ {
		code |= b.read(1)
		if b.err != nil {
			return 0, b.err
		}
		c := h.count[l]
		if code-c < first {
			return h.symbol[index+code-first], nil
		}
		index += c
		first = (first + c) << 1
		code <<= 1
	}
	return 0, errors.New("oracle: invalid Huffman code")
}

var (
	oracleLenBase  = []int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	oracleLenExtra = []uint{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	oracleDstBase  = []int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	oracleDstExtra = []uint{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	oracleCLOrder  = []int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

// oracleInflate decodes a raw deflate stream that may stop at any block
// boundary (as a run of messages, each with its 00 00 ff ff, does). out
// starts as history (earlier messages); minStart is the length of history
// the stream may not reach into (to check no-takeover), or 0.
func oracleInflate(in, history []byte, minStart int) (out []byte, maxDist int, err error) {
	b := &oracleBits{in: in}
	out = history
	for {
		if b.pos >= len(in) && b.bit == 0 {
			return out, maxDist, nil
		}
		final := b.read(1)
		typ := b.read(2)
		if b.err != nil {
			return out, maxDist, b.err
		}
		switch typ {
		case 0:
			if b.bit != 0 {
				b.bit, b.pos = 0, b.pos+1
			}
			if b.pos+4 > len(in) {
				return out, maxDist, errOracleShort
			}
			n := int(in[b.pos]) | int(in[b.pos+1])<<8
			nn := int(in[b.pos+2]) | int(in[b.pos+3])<<8
			if n != ^nn&0xffff {
				return out, maxDist, errors.New("oracle: stored length mismatch")
			}
			b.pos += 4
			if b.pos+n > len(in) {
				return out, maxDist, errOracleShort
			}
			out = append(out, in[b.pos:b.pos+n]...)
			b.pos += n
		case 1, 2:
			var lit, dst *oracleHuff
			if typ == 1 {
				l := make([]int, 288)
				for i := range l {
					switch {
					case i < 144:
						l[i] = 8
					case i < 256:
						l[i] = 9
					case i < 280:
						l[i] = 7
					default:
						l[i] = 8
					}
				}
				d := make([]int, 30)
				for i := range d {
					d[i] = 5
				}
				lit, dst = newOracleHuff(l), newOracleHuff(d)
			} else if lit, dst, err = oracleDynamic(b); err != nil {
				return out, maxDist, err
			}
			for {
				sym, err := lit.decode(b)
				if err != nil {
					return out, maxDist, err
				}
				if sym < 256 {
					out = append(out, byte(sym))
					continue
				}
				if sym == 256 {
					break
				}
				sym -= 257
				if sym >= 29 {
					return out, maxDist, fmt.Errorf("oracle: bad length symbol %d", sym+257)
				}
				length := oracleLenBase[sym] + b.read(oracleLenExtra[sym])
				ds, err := dst.decode(b)
				if err != nil {
					return out, maxDist, err
				}
				if ds >= 30 {
					return out, maxDist, fmt.Errorf("oracle: bad distance symbol %d", ds)
				}
				dist := oracleDstBase[ds] + b.read(oracleDstExtra[ds])
				if b.err != nil {
					return out, maxDist, b.err
				}
				if dist > len(out)-minStart {
					return out, maxDist, fmt.Errorf("oracle: distance %d reaches before the allowed start", dist)
				}
				maxDist = max(maxDist, dist)
				for i := 0; i < length; i++ {
					out = append(out, out[len(out)-dist])
				}
			}
		default:
			return out, maxDist, errors.New("oracle: reserved block type")
		}
		if final == 1 {
			return out, maxDist, nil
		}
	}
}

func oracleDynamic(b *oracleBits) (lit, dst *oracleHuff, err error) {
	nlen := b.read(5) + 257
	ndist := b.read(5) + 1
	ncode := b.read(4) + 4
	cl := make([]int, 19)
	for i := 0; i < ncode; i++ {
		cl[oracleCLOrder[i]] = b.read(3)
	}
	if b.err != nil {
		return nil, nil, b.err
	}
	clh := newOracleHuff(cl)
	lengths := make([]int, 0, nlen+ndist)
	for len(lengths) < nlen+ndist {
		sym, err := clh.decode(b)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case sym < 16:
			lengths = append(lengths, sym)
		case sym == 16:
			if len(lengths) == 0 {
				return nil, nil, errors.New("oracle: repeat with no previous length")
			}
			prev := lengths[len(lengths)-1]
			for n := 3 + b.read(2); n > 0; n-- {
				lengths = append(lengths, prev)
			}
		case sym == 17:
			for n := 3 + b.read(3); n > 0; n-- {
				lengths = append(lengths, 0)
			}
		default:
			for n := 11 + b.read(7); n > 0; n-- {
				lengths = append(lengths, 0)
			}
		}
	}
	if len(lengths) > nlen+ndist {
		return nil, nil, errors.New("oracle: code lengths overflow")
	}
	return newOracleHuff(lengths[:nlen]), newOracleHuff(lengths[nlen:]), b.err
}

// The oracle must see long distances when they are there, or the window
// checks built on it prove nothing.
func TestOracleSeesDistances(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	block := make([]byte, 3000)
	r.Read(block)
	m := append(append([]byte(nil), block...), block...) // a match 3000 back
	for _, tt := range []struct {
		bits    int
		wantMax func(int) bool
	}{
		{15, func(d int) bool { return d == 3000 }},
		{11, func(d int) bool { return d <= 2048 }},
		{8, func(d int) bool { return d <= 256 }},
	} {
		c := newDeflateCompressor(1, tt.bits, false)
		comp, err := c.compress(nil, m)
		c.release()
		if err != nil {
			t.Fatal(err)
		}
		out, maxDist, err := oracleInflate(append(comp, deflateTail[:]...), nil, 0)
		if err != nil || !bytes.Equal(out, m) {
			t.Fatalf("window %d: oracle err %v, equal %v", tt.bits, err, bytes.Equal(out, m))
		}
		if !tt.wantMax(maxDist) {
			t.Errorf("window %d: largest distance %d", tt.bits, maxDist)
		}
	}
	// And it rejects a reference before the allowed start.
	c := newDeflateCompressor(1, 15, true)
	defer c.release()
	first, _ := c.compress(nil, block)
	second, _ := c.compress(nil, block)
	hist, _, _ := oracleInflate(append(first, deflateTail[:]...), nil, 0)
	if _, _, err := oracleInflate(append(second, deflateTail[:]...), hist, len(hist)); err == nil {
		t.Error("oracle accepted a takeover reference where none was allowed")
	}
}
