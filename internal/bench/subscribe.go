package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duplexws/duplex/websocket"
)

// SubscribeConfig configures the subscribe mode: Conns clients of the
// real-time server (docs/protocol.md) connect, subscribe to Channel, and
// time every publication whose data carries a send timestamp "ts" (Unix
// nanoseconds).
type SubscribeConfig struct {
	URL     string
	Conns   int
	Channel string
	// Token is the connection token; empty connects anonymously.
	Token    string
	Header   http.Header
	TLS      *tls.Config
	Compress bool
	// Sources are the local addresses clients are spread over.
	Sources []net.IP
	// Parallel is the number of clients connecting at once; zero means 64.
	Parallel int
	// Timeout bounds each client's handshake, connect and subscribe.
	Timeout time.Duration
}

// SubscribeResult is what the subscribe mode measured.
type SubscribeResult struct {
	// Subscribed is the number of clients whose subscribe succeeded.
	Subscribed int64 `json:"subscribed"`
	// Untimed counts publications received without a usable "ts".
	Untimed int64 `json:"untimed"`
	// Publications holds, per publication (its "seq", else its "ts"), how
	// many clients got it and the latest delivery's delay. Reports
	// summarise it; it is kept whole only to merge processes.
	Publications []PubStat `json:"publications,omitempty"`
}

// PubStat is one publication's deliveries.
type PubStat struct {
	ID     int64 `json:"id"`
	Count  int64 `json:"n"`
	LastNS int64 `json:"last_ns"` // publish to the last delivery seen
}

func (s *SubscribeResult) merge(o *SubscribeResult) {
	s.Subscribed += o.Subscribed
	s.Untimed += o.Untimed
	byID := make(map[int64]int, len(s.Publications))
	for i, p := range s.Publications {
		byID[p.ID] = i
	}
	for _, p := range o.Publications {
		if i, ok := byID[p.ID]; ok {
			s.Publications[i].Count += p.Count
			s.Publications[i].LastNS = max(s.Publications[i].LastNS, p.LastNS)
			continue
		}
		byID[p.ID] = len(s.Publications)
		s.Publications = append(s.Publications, p)
	}
	sort.Slice(s.Publications, func(i, j int) bool { return s.Publications[i].ID < s.Publications[j].ID })
}

// pubTable tracks deliveries per publication, sharded to keep the clients'
// goroutines from queueing on one lock.
type pubTable struct {
	shards [64]struct {
		mu sync.Mutex
		m  map[int64]*PubStat
	}
}

func (t *pubTable) record(id, latency int64) {
	sh := &t.shards[uint64(id)%64]
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[int64]*PubStat)
	}
	p := sh.m[id]
	if p == nil {
		p = &PubStat{ID: id}
		sh.m[id] = p
	}
	p.Count++
	p.LastNS = max(p.LastNS, latency)
	sh.mu.Unlock()
}

func (t *pubTable) all() []PubStat {
	var out []PubStat
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for _, p := range sh.m {
			out = append(out, *p)
		}
		sh.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// RunSubscribe runs the subscribe mode. It is ready once every client has
// subscribed (or failed); it measures from Start to Stop. The Result's
// histogram holds publish-to-delivery times, Received the deliveries.
func RunSubscribe(ctx context.Context, cfg SubscribeConfig, ctl *Control) (*Result, error) {
	if cfg.Conns < 1 {
		return nil, errors.New("--conns must be at least 1")
	}
	if cfg.Channel == "" {
		return nil, errors.New("--channel is required in subscribe mode")
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 64
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	var (
		errs    errorLog
		pubs    pubTable
		clients = make([]*subClient, cfg.Conns)
		open    atomic.Int64
		wg      sync.WaitGroup
	)
	ctl.setProgress(func() Snapshot {
		s := Snapshot{Conns: open.Load(), Errors: errs.count()}
		for _, c := range clients {
			if c != nil {
				s.Messages += c.deliveries.Load()
			}
		}
		return s
	})
	connectMsg, _ := json.Marshal(map[string]any{"id": 1, "method": "connect",
		"params": map[string]any{"token": cfg.Token, "name": "duplex-bench"}})
	subscribeMsg, _ := json.Marshal(map[string]any{"id": 2, "method": "subscribe",
		"params": map[string]any{"channel": cfg.Channel}})

	sem := make(chan struct{}, cfg.Parallel)
	var setup sync.WaitGroup
	for i := range cfg.Conns {
		sem <- struct{}{}
		setup.Add(1)
		go func() {
			defer setup.Done()
			defer func() { <-sem }()
			c, err := dialSubscriber(ctx, &cfg, i, connectMsg, subscribeMsg)
			if err != nil {
				errs.add(err)
				return
			}
			c.pubs = &pubs
			clients[i] = c
			open.Add(1)
		}()
	}
	setup.Wait()
	live := clients[:0:0]
	for _, c := range clients {
		if c != nil {
			live = append(live, c)
		}
	}
	// Clients read from now on: pings must be answered while the others
	// connect and while the run waits for Start.
	var measuring atomic.Bool
	for _, c := range live {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer open.Add(-1)
			if err := c.readLoop(ctx, ctl, &measuring); err != nil && ctx.Err() == nil {
				errs.add(err)
			}
		}()
	}
	ctl.setReady()
	select {
	case <-ctl.start:
	case <-ctx.Done():
	}
	measuring.Store(true)
	ctl.setSettled()
	begin := time.Now()
	cpuStart := SelfCPU()
	select {
	case <-ctl.stop:
	case <-ctx.Done():
	}
	measuring.Store(false)
	elapsed := time.Since(begin)
	cpu := SelfCPU() - cpuStart
	var closers sync.WaitGroup
	for _, c := range live {
		closers.Add(1)
		go func() {
			defer closers.Done()
			c.stopping.Store(true)
			_ = c.conn.Close(websocket.StatusNormalClosure, "bench done")
		}()
	}
	closers.Wait()
	wg.Wait()

	res := &Result{Mode: "subscribe", Conns: len(live), Hist: &Histogram{}, Seconds: elapsed.Seconds(), CPUSeconds: cpu.Seconds(),
		Subscribe: &SubscribeResult{Subscribed: int64(len(live)), Publications: pubs.all()}}
	for _, c := range live {
		res.Received += c.received
		res.Bytes += c.bytes
		res.Subscribe.Untimed += c.untimed
		res.Hist.Merge(&c.hist)
	}
	errs.fill(res)
	return res, ctx.Err()
}

// subClient is one subscriber. Its fields other than deliveries and
// stopping belong to its read loop.
type subClient struct {
	conn       *websocket.Conn
	pubs       *pubTable
	deliveries atomic.Int64
	stopping   atomic.Bool

	received, bytes, untimed int64
	hist                     Histogram
}

var pongMsg = []byte(`{"method":"pong"}`)

func dialSubscriber(ctx context.Context, cfg *SubscribeConfig, i int, connectMsg, subscribeMsg []byte) (*subClient, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	opts := &websocket.DialOptions{Header: cfg.Header, TLSConfig: cfg.TLS, Proxy: websocket.NoProxy}
	if cfg.Compress {
		opts.Compression = &websocket.CompressionOptions{}
	}
	if len(cfg.Sources) > 0 {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: cfg.Sources[i%len(cfg.Sources)]}}
		opts.NetDialContext = d.DialContext
	}
	conn, _, err := websocket.Dial(ctx, cfg.URL, opts)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*subClient, error) {
		conn.CloseNow()
		return nil, err
	}
	if err := conn.Write(ctx, websocket.MessageText, connectMsg); err != nil {
		return fail(fmt.Errorf("send connect: %w", err))
	}
	if err := conn.Write(ctx, websocket.MessageText, subscribeMsg); err != nil {
		return fail(fmt.Errorf("send subscribe: %w", err))
	}
	for replies := 0; replies < 2; {
		_, msg, err := conn.Read(ctx)
		if err != nil {
			return fail(fmt.Errorf("waiting for the connect and subscribe replies: %w", err))
		}
		if bytes.Equal(pushKind(msg), []byte("ping")) {
			_ = conn.Write(ctx, websocket.MessageText, pongMsg)
			continue
		}
		var reply struct {
			ID    int `json:"id"`
			Error *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(msg, &reply) != nil || reply.ID == 0 {
			continue // a push before the replies: not ours to time yet
		}
		if reply.Error != nil {
			what := map[int]string{1: "connect", 2: "subscribe"}[reply.ID]
			return fail(fmt.Errorf("%s refused: %d %s", what, reply.Error.Code, reply.Error.Message))
		}
		replies++
	}
	return &subClient{conn: conn}, nil
}

// readLoop reads pushes until the connection ends, timing publications
// while measuring is set.
func (c *subClient) readLoop(ctx context.Context, ctl *Control, measuring *atomic.Bool) error {
	var buf []byte
	for {
		_, msg, err := c.conn.ReadInto(context.Background(), buf)
		if err != nil {
			if c.stopping.Load() || ctx.Err() != nil {
				return nil
			}
			if code := websocket.CloseStatus(err); code >= 0 {
				return fmt.Errorf("the server closed a subscriber: %v", err)
			}
			return fmt.Errorf("a subscriber lost its connection: %w", err)
		}
		buf = msg
		now := time.Now().UnixNano()
		switch kind := pushKind(msg); {
		case bytes.Equal(kind, []byte("publication")):
			if !measuring.Load() {
				continue
			}
			c.received++
			c.bytes += int64(len(msg))
			c.deliveries.Add(1)
			ts, ok := jsonInt(msg, "ts")
			if !ok || ts <= 0 {
				c.untimed++
				continue
			}
			lat := now - ts
			c.hist.Record(lat)
			id := ts
			if seq, ok := jsonInt(msg, "seq"); ok {
				id = seq
			}
			c.pubs.record(id, lat)
		case bytes.Equal(kind, []byte("ping")):
			if err := c.conn.Write(context.Background(), websocket.MessageText, pongMsg); err != nil && !c.stopping.Load() {
				return fmt.Errorf("answering a ping: %w", err)
			}
		}
	}
}

// pushKind returns the value of a push message's "push" member, or nil.
// The generator reads publications without decoding them, to stay cheaper
// than the server it measures; it relies only on member names.
func pushKind(msg []byte) []byte {
	v := jsonValue(msg, "push")
	if len(v) < 2 || v[0] != '"' {
		return nil
	}
	end := bytes.IndexByte(v[1:], '"')
	if end < 0 {
		return nil
	}
	return v[1 : 1+end]
}

// jsonInt returns the integer value of the first member named key.
func jsonInt(msg []byte, key string) (int64, bool) {
	v := jsonValue(msg, key)
	neg := false
	if len(v) > 0 && v[0] == '-' {
		neg, v = true, v[1:]
	}
	var n int64
	i := 0
	for ; i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
		d := int64(v[i] - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false // does not fit: not a timestamp of ours
		}
		n = n*10 + d
	}
	if i == 0 {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// jsonValue returns msg from the value of the first member named key.
func jsonValue(msg []byte, key string) []byte {
	for off := 0; ; {
		i := bytes.Index(msg[off:], []byte(key))
		if i < 0 {
			return nil
		}
		i += off
		off = i + len(key)
		if i == 0 || msg[i-1] != '"' || off >= len(msg) || msg[off] != '"' {
			continue
		}
		j := off + 1
		for j < len(msg) && (msg[j] == ' ' || msg[j] == '\t' || msg[j] == '\n' || msg[j] == '\r') {
			j++
		}
		if j >= len(msg) || msg[j] != ':' {
			continue
		}
		j++
		for j < len(msg) && (msg[j] == ' ' || msg[j] == '\t' || msg[j] == '\n' || msg[j] == '\r') {
			j++
		}
		return msg[j:]
	}
}
