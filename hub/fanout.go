package hub

// events is the EventHandler the hub attaches to its broker. It is a
// separate type so that the handler methods are not part of Hub's API.
type events struct{ h *Hub }

func (ev events) HandlePublication(channel string, pub *Publication) {
	ev.h.fanOut(channel, PushPublication, pub, nil)
}

func (ev events) HandleJoin(channel string, info *ClientInfo) {
	ev.h.fanOut(channel, PushJoin, nil, info)
}

func (ev events) HandleLeave(channel string, info *ClientInfo) {
	ev.h.fanOut(channel, PushLeave, nil, info)
}

func (ev events) HandleLost(channel string) {
	ev.h.fanOut(channel, PushLost, nil, nil)
}

// fanOut builds one Push and hands it to every local subscriber of channel.
// It allocates only the Push, whatever the number of subscribers, and never
// waits for a subscriber: Deliver is non-blocking by contract.
func (h *Hub) fanOut(channel string, kind PushKind, pub *Publication, info *ClientInfo) {
	ch := h.lookup(channel)
	if ch == nil {
		return
	}
	p := &Push{Kind: kind, Channel: channel, Publication: pub, Info: info}
	var delivered, dropped uint64
	ch.mu.RLock()
	for _, e := range ch.subs {
		if e.live.Load() {
			if covered(p, e.after) {
				continue // a late delivery of what the subscription started after
			}
			if e.sub.Deliver(p) {
				delivered++
			} else {
				dropped++
			}
			continue
		}
		switch e.hold(p, h.maxHeld) {
		case holdDelivered:
			delivered++
		case holdDropped:
			dropped++
		}
	}
	ch.mu.RUnlock()
	if delivered > 0 {
		h.delivered.Add(delivered)
	}
	if dropped > 0 {
		h.dropped.Add(dropped)
	}
}

type holdResult int

const (
	holdKept holdResult = iota
	holdDelivered
	holdDropped
	holdSkipped // already covered by the subscription's start position
)

// hold keeps p for a subscription that has not started, or delivers it if
// the subscription started meanwhile. Start switches to live under e.mu
// after delivering what was held, so p can never overtake a held push.
func (e *entry) hold(p *Push, max int) holdResult {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.live.Load() {
		if covered(p, e.after) {
			return holdSkipped
		}
		if e.sub.Deliver(p) {
			return holdDelivered
		}
		return holdDropped
	}
	if e.overflow || e.lost || e.removed.Load() {
		return holdDropped
	}
	if p.Kind == PushLost {
		// What is held may have gaps: Start fails and the client
		// subscribes again with recovery.
		e.lost = true
		e.held = nil
		return holdKept
	}
	if len(e.held) >= max {
		e.overflow = true
		e.held = nil
		return holdDropped
	}
	e.held = append(e.held, p)
	return holdKept
}
