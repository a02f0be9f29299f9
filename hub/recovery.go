package hub

import (
	"context"
	"fmt"
)

// RecoveryStatus is the outcome of recovering a channel's stream from a
// client's last position.
type RecoveryStatus int

// Recovery outcomes. Only RecoveryOK means the client has every publication;
// on any other outcome after a request, the client must treat its state as
// stale (reload it) and continue from Recovery.Position.
const (
	// RecoveryNotRequested: the subscription did not ask for recovery.
	RecoveryNotRequested RecoveryStatus = iota
	// RecoveryOK: Recovery.Publications are exactly the missed publications.
	RecoveryOK
	// RecoveryEpochChanged: the stream was lost and started again (a broker
	// restart, or the stream expired); offsets of the old epoch mean nothing.
	RecoveryEpochChanged
	// RecoveryTrimmed: publications after the position were already dropped
	// from history (by size or age).
	RecoveryTrimmed
	// RecoveryDisabled: the namespace keeps no history.
	RecoveryDisabled
	// RecoveryPositionAhead: the position is past the end of the stream, so
	// it did not come from this stream.
	RecoveryPositionAhead
)

// String returns a short lower-case description of s.
func (s RecoveryStatus) String() string {
	switch s {
	case RecoveryNotRequested:
		return "not requested"
	case RecoveryOK:
		return "ok"
	case RecoveryEpochChanged:
		return "epoch changed"
	case RecoveryTrimmed:
		return "history trimmed"
	case RecoveryDisabled:
		return "history disabled"
	case RecoveryPositionAhead:
		return "position ahead of stream"
	}
	return fmt.Sprintf("RecoveryStatus(%d)", int(s))
}

// Recovery is where a subscription starts and what it recovered.
type Recovery struct {
	// Status is the outcome.
	Status RecoveryStatus
	// Publications are the missed publications, oldest first; set only when
	// Status is RecoveryOK.
	Publications []*Publication
	// Position is the stream's position when it was read: the client's new
	// last position once it has Publications. Zero when the namespace keeps
	// no history.
	Position StreamPosition
}

// Recovered reports whether recovery succeeded.
func (r Recovery) Recovered() bool { return r.Status == RecoveryOK }

// Recover returns the publications of channel after since, in order, or a
// status saying why that is impossible. It reads history only: a caller that
// also wants live publications without a gap uses Subscribe with Recover.
func (h *Hub) Recover(ctx context.Context, channel string, since StreamPosition) (Recovery, error) {
	ns, err := h.Namespace(channel)
	if err != nil {
		return Recovery{}, err
	}
	if !ns.HistoryEnabled() {
		return Recovery{Status: RecoveryDisabled}, nil
	}
	return h.recover(ctx, channel, since)
}

func (h *Hub) recover(ctx context.Context, channel string, since StreamPosition) (Recovery, error) {
	pubs, pos, err := h.broker.History(ctx, channel, HistoryOptions{Since: &since})
	if err != nil {
		return Recovery{}, fmt.Errorf("hub: recover %q: %w", channel, err)
	}
	return classify(since, pubs, pos), nil
}

// classify decides whether pubs, read from history after since, are exactly
// the publications the client missed. It relies only on offsets being
// consecutive within an epoch, so it holds for any broker.
func classify(since StreamPosition, pubs []*Publication, pos StreamPosition) Recovery {
	r := Recovery{Position: pos}
	switch {
	case since.Epoch != pos.Epoch:
		r.Status = RecoveryEpochChanged
	case since.Offset > pos.Offset:
		r.Status = RecoveryPositionAhead
	case since.Offset == pos.Offset:
		r.Status = RecoveryOK
	case len(pubs) == 0 || pubs[0].Offset != since.Offset+1 || pubs[len(pubs)-1].Offset != pos.Offset:
		// The oldest retained publication is newer than the first missed one
		// (or the broker returned less than the whole range).
		r.Status = RecoveryTrimmed
	default:
		r.Status = RecoveryOK
		r.Publications = pubs
	}
	return r
}
