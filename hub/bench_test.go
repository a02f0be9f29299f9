package hub

import (
	"encoding/json"
	"sync/atomic"
	"testing"
)

// countSub is the cheapest possible subscriber: it counts pushes, as a
// server's Deliver would enqueue one pointer.
type countSub struct{ n atomic.Int64 }

func (c *countSub) Deliver(*Push) bool { c.n.Add(1); return true }

// encodeSub encodes every push it receives, as a server's writer would, to
// show that the encoding is built once for all subscribers.
type encodeSub struct{ enc *Encoding }

func (s *encodeSub) Deliver(p *Push) bool {
	_, err := p.Encode(s.enc)
	return err == nil
}

// BenchmarkFanOut10k publishes one publication to a channel with 10,000
// local subscribers. allocs/op is the whole cost of a publication (copy of
// the payload, the Publication, the history slot, the Push), independent
// of the number of subscribers.
func BenchmarkFanOut10k(b *testing.B) {
	const subscribers = 10000
	jsonEnc := NewEncoding("json", func(p *Push) ([]byte, error) { return json.Marshal(p.Publication) })
	cases := []struct {
		name   string
		ns     NamespaceOptions
		newSub func() Subscriber
	}{
		{"deliver", NamespaceOptions{}, func() Subscriber { return &countSub{} }},
		{"deliver+history", chatHistory["chat"], func() Subscriber { return &countSub{} }},
		{"deliver+encode", NamespaceOptions{}, func() Subscriber { return &encodeSub{enc: jsonEnc} }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h := newTestHub(b, Options{Default: c.ns})
			for range subscribers {
				subscribe(b, h, "bench", c.newSub(), SubscribeOptions{})
			}
			data := []byte(`{"text":"hello, world"}`)
			ctx := b.Context()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := h.Publish(ctx, "bench", data, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if st := h.Stats(); st.Delivered == 0 || st.Dropped != 0 {
				b.Fatalf("stats %+v", st)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/subscribers, "ns/delivery")
		})
	}
}
