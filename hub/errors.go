package hub

import "errors"

// Sentinel errors returned (wrapped) by the hub and the memory broker.
// Compare with errors.Is.
var (
	// ErrClosed is returned after Hub.Close.
	ErrClosed = errors.New("hub: closed; create a new Hub")
	// ErrInvalidChannel is returned for an empty channel name.
	ErrInvalidChannel = errors.New("hub: invalid channel name; use a non-empty name such as \"chat:lobby\"")
	// ErrUnknownNamespace is returned for a channel whose namespace is not
	// declared.
	ErrUnknownNamespace = errors.New("hub: unknown namespace; declare it in Options.Namespaces")
	// ErrInvalidOptions is returned for inconsistent options.
	ErrInvalidOptions = errors.New("hub: invalid options")
	// ErrAlreadySubscribed is returned when a subscriber subscribes twice to
	// the same channel.
	ErrAlreadySubscribed = errors.New("hub: already subscribed to this channel; unsubscribe first")
	// ErrNotSubscribed is returned when unsubscribing or starting a
	// subscription that does not exist (any more).
	ErrNotSubscribed = errors.New("hub: not subscribed to this channel")
	// ErrHistoryDisabled is returned when asking for the history of a channel
	// whose namespace keeps none.
	ErrHistoryDisabled = errors.New("hub: history is disabled for this namespace; set HistorySize and HistoryTTL")
	// ErrPresenceDisabled is returned when asking for the presence of a
	// channel whose namespace does not track it.
	ErrPresenceDisabled = errors.New("hub: presence is disabled for this namespace; set Presence")
	// ErrHeldOverflow is returned by Subscription.Start when more pushes
	// arrived between Subscribe and Start than Options.MaxHeld allows. The
	// subscription delivers nothing; unsubscribe and subscribe again with
	// recovery from the position returned by Subscribe.
	ErrHeldOverflow = errors.New("hub: too many publications arrived before Start; unsubscribe and subscribe again with recovery")
	// ErrEventsLost is returned by Subscription.Start when the broker
	// reported lost events of the channel (EventHandler.HandleLost) between
	// Subscribe and Start. As with ErrHeldOverflow, the subscription
	// delivers nothing; subscribe again with recovery.
	ErrEventsLost = errors.New("hub: the broker lost events before Start; unsubscribe and subscribe again with recovery")
	// ErrBrokerAttached is returned when a broker is attached to a second hub.
	ErrBrokerAttached = errors.New("hub: broker already attached to a hub; create one broker per hub")
)
