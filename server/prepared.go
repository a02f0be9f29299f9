package server

import (
	"hash/maphash"
	"sync/atomic"

	"github.com/duplexws/duplex/hub"
	"github.com/duplexws/duplex/websocket"
)

// preparedSlots is the size of the prepared-message cache. A fan-out calls
// Deliver for every subscriber of a channel in a row, so one slot per
// channel being fanned out at the same moment is enough; more slots only
// make collisions between concurrent fan-outs rarer.
const preparedSlots = 128

// preparedCache turns a push into the websocket.PreparedMessage every
// subscriber writes, so that a publication is encoded (hub.Push.Encode) and
// framed (websocket.NewPreparedMessage) once per fan-out rather than once per
// connection. It is a small direct-mapped cache keyed by the push pointer:
// a collision costs one more PreparedMessage, never a wrong one.
//
// The hub caches only []byte per push; if it could also carry an arbitrary
// value per push, this cache could go.
type preparedCache struct {
	seed  maphash.Seed
	slots [preparedSlots]atomic.Pointer[preparedEntry]
}

type preparedEntry struct {
	push *hub.Push
	pm   *websocket.PreparedMessage
}

func newPreparedCache() *preparedCache {
	return &preparedCache{seed: maphash.MakeSeed()}
}

// get returns the prepared message for p.
func (c *preparedCache) get(p *hub.Push) (*websocket.PreparedMessage, error) {
	slot := &c.slots[maphash.Comparable(c.seed, p)%preparedSlots]
	if e := slot.Load(); e != nil && e.push == p {
		return e.pm, nil
	}
	data, err := p.Encode(jsonEncoding)
	if err != nil {
		return nil, err
	}
	pm := websocket.NewPreparedMessage(websocket.MessageText, data)
	slot.Store(&preparedEntry{push: p, pm: pm})
	return pm, nil
}
