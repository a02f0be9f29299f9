package hub

import (
	"encoding/json"
	"time"
)

// StreamPosition is a place in a channel's stream: the offset of the last
// publication seen, and the epoch of the stream that offset belongs to.
// Offsets from different epochs are unrelated: a broker picks a new epoch
// whenever it loses a stream's history (a restart of the memory broker, or
// the stream expiring after a period without publications).
type StreamPosition struct {
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
}

// ClientInfo describes a connected client: the publisher of a publication,
// or an entry of a channel's presence.
type ClientInfo struct {
	// User is the authenticated user id; empty for anonymous clients.
	User string `json:"user,omitempty"`
	// Client is the connection's unique id; presence is keyed by it.
	Client string `json:"client"`
	// ConnInfo is opaque JSON attached to the connection.
	ConnInfo json.RawMessage `json:"conn_info,omitempty"`
	// ChanInfo is opaque JSON attached to this client's subscription.
	ChanInfo json.RawMessage `json:"chan_info,omitempty"`
}

// Publication is one message published into a channel.
//
// Publications are shared between the history and every subscriber that
// receives them: treat them, and the slices they hold, as read-only.
type Publication struct {
	// Channel the publication was published into.
	Channel string `json:"channel"`
	// Offset is the publication's place in the channel's stream, starting at
	// 1; zero when the channel keeps no history.
	Offset uint64 `json:"offset,omitempty"`
	// Epoch of the stream Offset belongs to; empty when Offset is zero.
	Epoch string `json:"epoch,omitempty"`
	// Data is the payload, opaque JSON.
	Data json.RawMessage `json:"data"`
	// Info describes the publisher, when known.
	Info *ClientInfo `json:"info,omitempty"`
	// Time is when the broker accepted the publication.
	Time time.Time `json:"time"`
}

// Position returns the stream position of the publication.
func (p *Publication) Position() StreamPosition {
	return StreamPosition{Offset: p.Offset, Epoch: p.Epoch}
}
