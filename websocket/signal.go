package websocket

import (
	"sync"
	"sync/atomic"
)

// signal is a one-shot event, like a channel that is closed once, whose
// channel is made only when somebody waits for it: most connections never
// need one, and a channel costs about 100 bytes per connection.
type signal struct {
	done atomic.Bool
	mu   sync.Mutex
	ch   chan struct{}
}

// fire marks the event as happened and wakes the waiters.
func (s *signal) fire() {
	s.mu.Lock()
	if !s.done.Load() {
		s.done.Store(true)
		if s.ch != nil {
			close(s.ch)
		}
	}
	s.mu.Unlock()
}

// fired reports whether the event has happened.
func (s *signal) fired() bool { return s.done.Load() }

// wait returns a channel that is closed when the event happens.
func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
		if s.done.Load() {
			close(s.ch)
		}
	}
	return s.ch
}
