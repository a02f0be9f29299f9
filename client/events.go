package client

import "sync"

// dispatcher runs callbacks one at a time, in the order they were queued,
// on its own goroutine, so that a slow callback never stalls reading from
// the connection and callbacks may call the client.
type dispatcher struct {
	mu     sync.Mutex
	queue  []func()
	wake   chan struct{}
	closed bool
	done   chan struct{}
}

func newDispatcher() *dispatcher {
	d := &dispatcher{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go d.run()
	return d
}

func (d *dispatcher) post(f func()) {
	if f == nil {
		return
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.queue = append(d.queue, f)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// close runs what is queued and stops.
func (d *dispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run() {
	defer close(d.done)
	var batch []func()
	for {
		d.mu.Lock()
		batch, d.queue = d.queue, batch[:0]
		closed := d.closed
		d.mu.Unlock()
		for i, f := range batch {
			f()
			batch[i] = nil
		}
		if len(batch) == 0 {
			if closed {
				return
			}
			<-d.wake
		}
	}
}
