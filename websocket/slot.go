package websocket

import "sync"

// slot is a lock that a waiter can give up on (a context, a closed
// connection). Uncontended it is a mutex and a flag; the channel waiters
// sleep on is made only under contention, so an idle connection does not
// pay for two channels.
type slot struct {
	mu   sync.Mutex
	held bool
	free chan struct{} // closed when the holder releases; nil when nobody waits
}

// tryAcquire takes the slot if it is free.
func (s *slot) tryAcquire() bool {
	s.mu.Lock()
	ok := !s.held
	s.held = true
	s.mu.Unlock()
	return ok
}

// waitFree returns a channel that is closed when the holder releases, or
// nil when the slot was free and is now taken by the caller.
func (s *slot) waitFree() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.held {
		s.held = true
		return nil
	}
	if s.free == nil {
		s.free = make(chan struct{})
	}
	return s.free
}

// release frees the slot and wakes the waiters; one of them takes it.
func (s *slot) release() {
	s.mu.Lock()
	s.held = false
	if s.free != nil {
		close(s.free)
		s.free = nil
	}
	s.mu.Unlock()
}
