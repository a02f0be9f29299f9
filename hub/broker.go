package hub

import (
	"context"
	"time"
)

// Broker carries publications between the nodes of a deployment, keeps
// each channel's stream (offsets, epoch and history) and its presence (who
// is subscribed, on every node). [MemoryBroker] is the single-node
// implementation; a NATS JetStream broker implements the same interface for
// many nodes (presence in a key-value bucket, say). Options.Presence may put
// presence in another store instead.
//
// Every method is safe for concurrent use.
type Broker interface {
	// PresenceManager keeps channel presence across nodes, with expiry.
	PresenceManager

	// Attach gives the broker the handler that receives this node's incoming
	// events. The hub calls it once, from New, before any other method.
	Attach(h EventHandler) error

	// Publish appends data to channel's stream and sends it to every node
	// subscribed to the channel, this one included. When opts.HistorySize and
	// opts.HistoryTTL are both positive the broker assigns the next offset,
	// keeps the publication in history and returns its position; otherwise
	// the position is zero. Publish must not keep data after it returns.
	// Delivery to the handlers may happen before Publish returns (the
	// memory broker) or after (a broker over the network): the hub does not
	// rely on either, and skips a publication that reaches a subscription
	// after the position the subscription started from already covered it.
	Publish(ctx context.Context, channel string, data []byte, opts PublishOptions) (StreamPosition, error)

	// PublishJoin sends a join event to every node subscribed to channel.
	PublishJoin(ctx context.Context, channel string, info *ClientInfo) error
	// PublishLeave sends a leave event to every node subscribed to channel.
	PublishLeave(ctx context.Context, channel string, info *ClientInfo) error

	// Subscribe starts delivering channel's events to this node's handler.
	// Once it returns, every later publication is delivered. The hub calls
	// it when the first local subscriber arrives.
	Subscribe(ctx context.Context, channel string) error
	// Unsubscribe stops delivering channel's events to this node. The hub
	// calls it when the last local subscriber leaves.
	Unsubscribe(ctx context.Context, channel string) error

	// History returns publications of channel's stream and its current
	// position (the offset of the newest publication and the epoch). It
	// creates the stream, with a new epoch, if it does not exist, so that the
	// position is stable before the first publication. With no Limit, the
	// publications returned run up to and include the returned position.
	History(ctx context.Context, channel string, opts HistoryOptions) ([]*Publication, StreamPosition, error)
	// RemoveHistory drops channel's stored publications, keeping its
	// position.
	RemoveHistory(ctx context.Context, channel string) error
}

// EventHandler receives the events a broker delivers to this node. A broker
// calls it for one channel sequentially, publications in offset order; it
// may call it for different channels concurrently. The handler does not
// block.
type EventHandler interface {
	// HandlePublication receives a publication for channel.
	HandlePublication(channel string, pub *Publication)
	// HandleJoin receives a join event for channel.
	HandleJoin(channel string, info *ClientInfo)
	// HandleLeave receives a leave event for channel.
	HandleLeave(channel string, info *ClientInfo)
	// HandleLost tells the hub that events of channel may have been lost
	// on their way to this node (a broker that lost its connection and
	// subscribed again, say). Every local subscriber of channel then gets a
	// PushLost, so that its client resubscribes and recovers from history.
	HandleLost(channel string)
}

// PublishOptions are the per-publication settings a broker receives. The hub
// fills the history fields from the channel's namespace.
type PublishOptions struct {
	// Info describes the publisher; optional. Not modified after Publish.
	Info *ClientInfo
	// HistorySize is how many publications the stream keeps; zero keeps none.
	HistorySize int
	// HistoryTTL is how long a publication stays in history; zero keeps none.
	HistoryTTL time.Duration
	// HistoryMetaTTL is how long the stream's position (offset and epoch)
	// outlives its last publication; zero means the broker's default.
	HistoryMetaTTL time.Duration
}

// PositionOnly as HistoryOptions.Limit asks History for the stream position
// without any publication.
const PositionOnly = -1

// HistoryOptions select the publications History returns.
type HistoryOptions struct {
	// Since, when set, selects publications after Since.Offset (or, with
	// Reverse, before it). Brokers ignore Since.Epoch: callers compare the
	// epoch with the returned position.
	Since *StreamPosition
	// Limit caps the number of publications; zero means no cap, and
	// PositionOnly (negative) returns none.
	Limit int
	// Reverse returns the newest publications first.
	Reverse bool
}
