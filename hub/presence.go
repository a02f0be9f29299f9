package hub

import "context"

// PresenceManager keeps who is subscribed to each channel, across nodes.
// Entries expire unless added again within the manager's TTL, so a node that
// dies leaves no ghosts; the hub refreshes the entries of its own
// subscribers (see Options.PresenceRefresh). Every method is safe for
// concurrent use.
type PresenceManager interface {
	// AddPresence adds or refreshes info.Client in channel's presence.
	AddPresence(ctx context.Context, channel string, info *ClientInfo) error
	// RemovePresence removes client from channel's presence.
	RemovePresence(ctx context.Context, channel, client string) error
	// Presence returns channel's presence keyed by client id.
	Presence(ctx context.Context, channel string) (map[string]*ClientInfo, error)
	// PresenceStats counts channel's clients and distinct users.
	PresenceStats(ctx context.Context, channel string) (PresenceStats, error)
}

// PresenceStats counts the presence of a channel.
type PresenceStats struct {
	// Clients is the number of connections.
	Clients int `json:"num_clients"`
	// Users is the number of distinct user ids (anonymous clients count as
	// one user, "").
	Users int `json:"num_users"`
}
