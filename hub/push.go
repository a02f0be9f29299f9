package hub

import (
	"sync"
	"sync/atomic"
)

// PushKind says what a [Push] carries.
type PushKind uint8

// The kinds of push.
const (
	// PushPublication carries a publication (Push.Publication).
	PushPublication PushKind = iota + 1
	// PushJoin announces that a client subscribed (Push.Info).
	PushJoin
	// PushLeave announces that a client unsubscribed (Push.Info).
	PushLeave
	// PushLost says that the broker may have lost events of the channel
	// on their way to this node (EventHandler.HandleLost). It carries no
	// data: the subscriber's client should subscribe again with recovery.
	PushLost
)

// String returns "publication", "join", "leave" or "lost".
func (k PushKind) String() string {
	switch k {
	case PushPublication:
		return "publication"
	case PushJoin:
		return "join"
	case PushLeave:
		return "leave"
	case PushLost:
		return "lost"
	}
	return "unknown"
}

// Push is one event of a channel, delivered to every local subscriber of
// that channel. A single Push value is shared by all of them: its fields are
// read-only, and it must not be copied (it holds a lock).
type Push struct {
	// Kind says which of the fields below is set.
	Kind PushKind
	// Channel the event belongs to.
	Channel string
	// Publication is set when Kind is PushPublication.
	Publication *Publication
	// Info is set when Kind is PushJoin or PushLeave.
	Info *ClientInfo

	mu      sync.Mutex // serialises building an encoding, not reading one
	encoded atomic.Pointer[encodedPush]
}

// encodedPush is one cached encoding of a push; entries form an immutable
// list so readers need only an atomic load.
type encodedPush struct {
	enc  *Encoding
	data []byte
	err  error
	next *encodedPush
}

// Encoding turns a push into bytes for the wire. Create one per format with
// [NewEncoding] and keep it: the pointer identifies the cached result.
type Encoding struct {
	name   string
	encode func(*Push) ([]byte, error)
}

// NewEncoding returns an Encoding named name that uses encode. encode is
// called at most once per push and encoding, from whichever goroutine asks
// first; it must not modify the push.
func NewEncoding(name string, encode func(p *Push) ([]byte, error)) *Encoding {
	return &Encoding{name: name, encode: encode}
}

// String returns the encoding's name.
func (e *Encoding) String() string { return e.name }

// Encode returns p encoded by e, building it on the first call and returning
// the cached bytes (and error) on every later one, from any goroutine. This is
// what makes a fan-out to many subscribers cost one encoding: the returned
// slice is shared, so callers must not modify it.
func (p *Push) Encode(e *Encoding) ([]byte, error) {
	if data, err, ok := p.cached(e); ok {
		return data, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if data, err, ok := p.cached(e); ok {
		return data, err
	}
	data, err := e.encode(p)
	p.encoded.Store(&encodedPush{enc: e, data: data, err: err, next: p.encoded.Load()})
	return data, err
}

func (p *Push) cached(e *Encoding) ([]byte, error, bool) {
	for n := p.encoded.Load(); n != nil; n = n.next {
		if n.enc == e {
			return n.data, n.err, true
		}
	}
	return nil, nil, false
}
