package hub

import "time"

// ring holds the newest publications of one stream, oldest first. Its
// buffer grows on demand up to the size limit, so a quiet channel in a
// namespace with a large HistorySize costs little memory.
type ring struct {
	buf   []*Publication
	start int
	n     int
}

func (r *ring) len() int { return r.n }

// at returns the i-th oldest publication.
func (r *ring) at(i int) *Publication { return r.buf[(r.start+i)%len(r.buf)] }

// push appends p, dropping the oldest publications to stay within limit
// (limit >= 1; it may shrink between calls when the configuration changes).
func (r *ring) push(p *Publication, limit int) {
	for r.n >= limit {
		r.popFront()
	}
	if r.n == len(r.buf) {
		r.grow(limit)
	}
	r.buf[(r.start+r.n)%len(r.buf)] = p
	r.n++
}

func (r *ring) grow(limit int) {
	size := min(max(2*len(r.buf), 8), limit)
	buf := make([]*Publication, size)
	for i := range r.n {
		buf[i] = r.at(i)
	}
	r.buf, r.start = buf, 0
}

func (r *ring) popFront() {
	r.buf[r.start] = nil // let the publication be collected
	r.start = (r.start + 1) % len(r.buf)
	r.n--
}

// trimExpired drops publications published at or before cutoff.
func (r *ring) trimExpired(cutoff time.Time) {
	for r.n > 0 && !r.at(0).Time.After(cutoff) {
		r.popFront()
	}
	if r.n == 0 {
		r.buf, r.start = nil, 0 // an idle stream keeps no buffer
	}
}

func (r *ring) clear() { *r = ring{} }

// stream is one channel's stream in the memory broker. Its fields are
// guarded by the broker's lock stripe for the channel, except expires and
// keep, which are guarded by MemoryBroker.mu so the sweeper and Unsubscribe
// can use them.
type stream struct {
	epoch string
	top   uint64 // offset of the newest publication ever appended
	hist  ring
	size  int
	ttl   time.Duration

	expires time.Time
	keep    time.Duration // how long the stream outlives its last publication; 0 before one
}

// keepFor is how long the stream lives on from now when nothing else says:
// as after its last publication, or def before the first.
func (s *stream) keepFor(def time.Duration) time.Duration {
	if s.keep > 0 {
		return s.keep
	}
	return def
}

func (s *stream) position() StreamPosition {
	return StreamPosition{Offset: s.top, Epoch: s.epoch}
}

// read selects publications as HistoryOptions describes. The retained
// publications have consecutive offsets ending at s.top, so the bounds are
// computed, not searched.
func (s *stream) read(opts HistoryOptions) []*Publication {
	n := s.hist.len()
	if opts.Limit < 0 || n == 0 {
		return nil
	}
	first := s.top - uint64(n) + 1 // offset of s.hist.at(0)
	lo, hi := 0, n-1               // inclusive index range
	if opts.Since != nil {
		since := opts.Since.Offset
		if opts.Reverse {
			if since <= first {
				return nil
			}
			if since-1 < s.top {
				hi = int(since - 1 - first)
			}
		} else {
			if since >= s.top {
				return nil
			}
			if since >= first {
				lo = int(since + 1 - first)
			}
		}
	}
	count := hi - lo + 1
	if opts.Limit > 0 && opts.Limit < count {
		count = opts.Limit
	}
	out := make([]*Publication, count)
	for i := range out {
		if opts.Reverse {
			out[i] = s.hist.at(hi - i)
		} else {
			out[i] = s.hist.at(lo + i)
		}
	}
	return out
}
