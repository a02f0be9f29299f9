package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/duplexws/duplex/hub"
)

// pushFrame is the encoding a server might send for a publication; it is
// built once per publication whatever the number of subscribers.
var pushFrame = hub.NewEncoding("push", func(p *hub.Push) ([]byte, error) {
	return json.Marshal(map[string]any{"channel": p.Channel, "offset": p.Publication.Offset, "data": p.Publication.Data})
})

// session stands for a server connection. A real one would put the push on
// its bounded send queue and return false when the queue is full.
type session struct{ name string }

func (s *session) Deliver(p *hub.Push) bool {
	b, err := p.Encode(pushFrame)
	if err != nil {
		return false
	}
	fmt.Printf("%s <- %s\n", s.name, b)
	return true
}

// A client reconnects after missing a publication: it subscribes with
// recovery from the last position it saw, gets the missed publication in
// the reply, then live publications after Start.
func Example() {
	h, err := hub.New(hub.Options{
		Namespaces: map[string]hub.NamespaceOptions{
			"chat": {HistorySize: 100, HistoryTTL: 5 * time.Minute},
		},
	})
	if err != nil {
		panic(err)
	}
	defer h.Close()
	ctx := context.Background()

	seen, _ := h.Publish(ctx, "chat:lobby", []byte(`"first"`), nil)
	_, _ = h.Publish(ctx, "chat:lobby", []byte(`"second"`), nil) // missed while offline

	alice := &session{name: "alice"}
	sub, rec, err := h.Subscribe(ctx, "chat:lobby", alice, hub.SubscribeOptions{Recover: true, Since: seen})
	if err != nil {
		panic(err)
	}
	fmt.Println("recovery:", rec.Status)
	for _, p := range rec.Publications {
		fmt.Printf("recovered %d %s\n", p.Offset, p.Data)
	}
	// The reply carrying rec has been queued: go live.
	if err := sub.Start(); err != nil {
		panic(err)
	}
	_, _ = h.Publish(ctx, "chat:lobby", []byte(`"third"`), nil)
	_ = sub.Unsubscribe(ctx)
	_, _ = h.Publish(ctx, "chat:lobby", []byte(`"fourth"`), nil) // alice has left
	// Output:
	// recovery: ok
	// recovered 2 "second"
	// alice <- {"channel":"chat:lobby","data":"third","offset":3}
}
