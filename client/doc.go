// Package client is a Go client for the Duplex server's wire protocol
// (docs/protocol.md): it connects with a token, subscribes to channels,
// publishes, reads presence and history, answers the server's heartbeat,
// and reconnects with backoff after a lost connection, resubscribing every
// channel with recovery so that no publication is lost or delivered twice.
//
//	c := client.New("ws://localhost:8080/connection/websocket", client.Options{Token: tok})
//	sub, _ := c.NewSubscription("chat:lobby", client.SubscriptionOptions{
//		OnPublication: func(p client.Publication) { fmt.Println(string(p.Data)) },
//		OnSubscribed: func(e client.SubscribedEvent) {
//			if e.Unrecoverable { /* publications were missed: reload state */ }
//		},
//	})
//	if err := c.Connect(ctx); err != nil { ... }
//	if err := sub.Subscribe(ctx); err != nil { ... }
//	sub.Publish(ctx, map[string]string{"text": "hi"})
//	...
//	c.Close()
//
// Callbacks run one at a time, in order, on a goroutine of the client's
// own, so they may call the client's methods.
package client
