package hub

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func TestPushEncodeBuildsOncePerEncoding(t *testing.T) {
	var plainCalls, upperCalls atomic.Int32
	plain := NewEncoding("plain", func(p *Push) ([]byte, error) {
		plainCalls.Add(1)
		return append([]byte(nil), p.Publication.Data...), nil
	})
	boom := errors.New("boom")
	failing := NewEncoding("failing", func(*Push) ([]byte, error) {
		upperCalls.Add(1)
		return nil, boom
	})
	p := &Push{Kind: PushPublication, Channel: "c", Publication: &Publication{Data: []byte(`"hi"`)}}

	var wg sync.WaitGroup
	results := make([][]byte, 64)
	for i := range results {
		wg.Go(func() {
			b, err := p.Encode(plain)
			if err != nil {
				t.Error(err)
			}
			results[i] = b
			if _, err := p.Encode(failing); !errors.Is(err, boom) {
				t.Errorf("failing encoding returned %v, want the cached error", err)
			}
		})
	}
	wg.Wait()
	if plainCalls.Load() != 1 || upperCalls.Load() != 1 {
		t.Fatalf("encoders ran %d and %d times, want once each", plainCalls.Load(), upperCalls.Load())
	}
	for i, b := range results {
		if string(b) != `"hi"` || &b[0] != &results[0][0] {
			t.Fatalf("result %d = %q, not the one shared encoding", i, b)
		}
	}
	if plain.String() != "plain" || PushLeave.String() != "leave" {
		t.Fatalf("names: %q %q", plain, PushLeave)
	}
}
