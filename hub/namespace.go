package hub

import (
	"fmt"
	"strings"
	"time"
)

// NamespaceSeparator separates a channel's namespace from the rest of its
// name: "chat:lobby" is in namespace "chat".
const NamespaceSeparator = ":"

// NamespaceOf returns the namespace of channel: the part before the first
// NamespaceSeparator, or "" when there is none.
func NamespaceOf(channel string) string {
	ns, _, found := strings.Cut(channel, NamespaceSeparator)
	if !found {
		return ""
	}
	return ns
}

// NamespaceOptions configure the channels of one namespace. The zero value
// is a channel without history, presence or join/leave events.
//
// The hub acts on the history, presence and join/leave fields. The Allow
// fields are permissions the server enforces for its clients; the hub only
// carries them so that one configuration describes a namespace.
type NamespaceOptions struct {
	// HistorySize is how many publications each channel keeps for history
	// and recovery. History is on when HistorySize and HistoryTTL are both
	// positive; set both or neither.
	HistorySize int `json:"history_size,omitempty"`
	// HistoryTTL is how long a publication stays in history.
	HistoryTTL time.Duration `json:"history_ttl,omitempty"`
	// HistoryMetaTTL is how long a channel's stream position (offset and
	// epoch) outlives its last publication; zero uses the broker's default.
	// A client that comes back later than this cannot recover.
	HistoryMetaTTL time.Duration `json:"history_meta_ttl,omitempty"`
	// Presence tracks who is subscribed to each channel.
	Presence bool `json:"presence,omitempty"`
	// JoinLeave sends join and leave pushes to subscribers.
	JoinLeave bool `json:"join_leave,omitempty"`

	// AllowPublish lets subscribed clients publish (enforced by the server).
	AllowPublish bool `json:"allow_publish,omitempty"`
	// AllowAnonymous lets clients without a user id subscribe (enforced by
	// the server).
	AllowAnonymous bool `json:"allow_anonymous,omitempty"`
	// AllowHistory lets subscribed clients read history (enforced by the
	// server).
	AllowHistory bool `json:"allow_history,omitempty"`
	// AllowPresence lets subscribed clients read presence (enforced by the
	// server).
	AllowPresence bool `json:"allow_presence,omitempty"`
}

// HistoryEnabled reports whether channels of the namespace keep history,
// and so have offsets and can be recovered.
func (o NamespaceOptions) HistoryEnabled() bool {
	return o.HistorySize > 0 && o.HistoryTTL > 0
}

func (o NamespaceOptions) validate(name string) error {
	switch {
	case strings.Contains(name, NamespaceSeparator):
		return fmt.Errorf("%w: namespace %q contains %q", ErrInvalidOptions, name, NamespaceSeparator)
	case o.HistorySize < 0 || o.HistoryTTL < 0 || o.HistoryMetaTTL < 0:
		return fmt.Errorf("%w: namespace %q: history size and TTLs must not be negative", ErrInvalidOptions, name)
	case (o.HistorySize > 0) != (o.HistoryTTL > 0):
		return fmt.Errorf("%w: namespace %q: set both HistorySize and HistoryTTL to enable history, or neither", ErrInvalidOptions, name)
	}
	return nil
}
