// Package hub moves publications between the subscribers of channels.
//
// It knows nothing of WebSocket: a [Subscriber] is anything with a
// non-blocking Deliver method, so the package is tested without sockets and
// the server layer decides how a push reaches the wire.
//
// # Model
//
// A channel is a string such as "chat:lobby"; the part before the first ":"
// is its namespace ("chat"), whose [NamespaceOptions] say whether the channel
// keeps history, tracks presence and announces joins and leaves. Channels
// without ":" use [Options].Default.
//
// Every publication goes through a [Broker]. The broker assigns the offset
// (1, 2, 3, ... within one epoch of one channel's stream), stores history and
// hands the publication back to the hub through the [EventHandler] it was
// attached to, which fans it out to local subscribers. The hub subscribes its
// node to a channel's stream on the broker only while a local subscriber
// exists, so a broker spanning several nodes (NATS JetStream, for example)
// can subscribe to a subject only where someone listens. [MemoryBroker] is the
// single-node default.
//
// # Fan-out cost
//
// One publication becomes one [Push], shared by every subscriber of the
// channel. [Push.Encode] builds an encoding once per push and caches it, so
// ten thousand subscribers cost one encoding and one allocation-free loop of
// Deliver calls. Because server-to-client WebSocket frames are not masked,
// an [Encoding] may return a complete frame that every connection writes as
// is; a second Encoding (compressed, say) gets its own cached bytes.
//
// # Ordering and slow consumers
//
// A broker delivers the events of one channel sequentially and in offset
// order, and the hub calls Deliver for each subscriber in that order, so a
// subscriber sees a channel's publications in order. Deliver must never
// block: it returns false when the subscriber cannot take the push (its
// bounded queue is full), the hub counts the drop and moves on, and the
// subscriber's owner applies its slow-consumer policy.
//
// # Recovery
//
// [Hub.Subscribe] registers the subscriber first and holds back live pushes
// for it, then reads the stream position (or, with recovery, the missed
// publications) from the broker. The caller sends its reply with the
// recovered publications and then calls [Subscription.Start], which delivers
// the held pushes newer than the returned position and switches to live
// delivery. Nothing is lost and nothing is delivered twice. When a broker
// cannot promise that (it lost events of a channel on their way to this
// node), it says so with EventHandler.HandleLost, and every local
// subscriber gets a [PushLost] so that its client recovers from history.
package hub
