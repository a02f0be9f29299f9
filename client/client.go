package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/duplexws/duplex/websocket"
)

// Options configure a Client. The zero value connects anonymously with the
// protocol's suggested timings.
type Options struct {
	// Token is the connection token. Empty connects anonymously unless
	// GetToken is set.
	Token string
	// GetToken fetches a connection token: before the first connect when
	// Token is empty, after the server said the token expired, and to
	// refresh a token before it expires.
	GetToken func(ctx context.Context) (string, error)
	// Name and Version identify the client library to the server.
	Name    string
	Version string
	// MinReconnectDelay and MaxReconnectDelay bound the full-jitter
	// backoff between reconnect attempts; zero means 500 ms and 20 s.
	MinReconnectDelay time.Duration
	MaxReconnectDelay time.Duration
	// Timeout bounds the WebSocket handshake and the connect command; zero
	// means 10 s.
	Timeout time.Duration
	// Dial configures the WebSocket connection (proxy, TLS, headers).
	Dial *websocket.DialOptions

	// OnConnected is called after every successful connect.
	OnConnected func(ConnectedEvent)
	// OnDisconnected is called whenever a connection ends; Reconnect says
	// whether the client will try again.
	OnDisconnected func(DisconnectedEvent)
	// OnPublication receives publications of server-side subscriptions
	// (the channels claim of the token).
	OnPublication func(Publication)
	// OnError receives errors the client handles itself (a failed dial,
	// a failed token refresh).
	OnError func(error)
}

// State is the connection state of a Client.
type State int

// Client states.
const (
	StateDisconnected State = iota
	StateConnecting
	StateConnected
	StateClosed
)

// String returns the state's name, such as "connected".
func (s State) String() string {
	return [...]string{"disconnected", "connecting", "connected", "closed"}[s]
}

// Client is a connection to a Duplex server that reconnects by itself. All
// methods are safe for concurrent use.
type Client struct {
	url    string
	opts   Options
	events *dispatcher

	mu         sync.Mutex
	state      State
	tr         *transport
	connected  chan struct{} // closed while connected; replaced on loss
	clientID   string
	user       string
	token      string
	tokenStale bool
	subs       map[string]*Subscription
	serverSubs map[string]StreamPosition
	started    bool
	closing    chan struct{}
	runDone    chan struct{}
	firstErr   chan error // the first connect's outcome, for Connect
	finalErr   error
}

// New returns a client for the WebSocket URL of a Duplex server, such as
// "ws://localhost:8080/connection/websocket". It does not connect yet.
func New(url string, opts Options) *Client {
	if opts.MinReconnectDelay <= 0 {
		opts.MinReconnectDelay = 500 * time.Millisecond
	}
	if opts.MaxReconnectDelay <= 0 {
		opts.MaxReconnectDelay = 20 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Name == "" {
		opts.Name = "duplex-go"
	}
	return &Client{
		url:        url,
		opts:       opts,
		events:     newDispatcher(),
		connected:  make(chan struct{}),
		token:      opts.Token,
		tokenStale: opts.Token == "" && opts.GetToken != nil,
		subs:       make(map[string]*Subscription),
		serverSubs: make(map[string]StreamPosition),
		closing:    make(chan struct{}),
		runDone:    make(chan struct{}),
		firstErr:   make(chan error, 1),
	}
}

// State returns the connection state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// ID returns the connection id the server gave, or "" when not connected.
func (c *Client) ID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clientID
}

// Connect starts the client and waits until it is connected. It returns an
// error when ctx ends first or when the server refuses the connection for
// good (a bad token, for example). The client keeps reconnecting after
// Connect returned, until Close.
func (c *Client) Connect(ctx context.Context) error {
	c.mu.Lock()
	if c.state == StateClosed {
		c.mu.Unlock()
		return ErrClosed
	}
	if !c.started {
		c.started = true
		c.state = StateConnecting
		go c.run()
	}
	connected := c.connected
	c.mu.Unlock()
	select {
	case <-connected:
		return nil
	case err := <-c.firstErr:
		return err
	case <-ctx.Done():
		return fmt.Errorf("duplex client: connecting: %w", ctx.Err())
	}
}

// Close closes the connection and stops reconnecting. Callbacks already
// queued still run.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.state == StateClosed {
		c.mu.Unlock()
		return nil
	}
	started := c.started
	c.state = StateClosed
	close(c.closing)
	tr := c.tr
	c.mu.Unlock()
	if tr != nil {
		_ = tr.conn.Close(websocket.StatusNormalClosure, "")
	}
	if started {
		<-c.runDone
	}
	c.events.close()
	<-c.events.done
	return nil
}

// run connects, waits for the connection to end, and reconnects with
// full-jitter backoff until Close or a disconnect that forbids it.
func (c *Client) run() {
	defer close(c.runDone)
	attempt := 0
	for {
		ev, ok := c.connectOnce()
		if ok {
			attempt = 0
		}
		c.mu.Lock()
		closed := c.state == StateClosed
		if !closed {
			if ev.Reconnect {
				c.state = StateConnecting
			} else {
				c.state = StateDisconnected
				c.finalErr = &Error{Code: ev.Code, Message: ev.Reason}
			}
		}
		c.mu.Unlock()
		if closed {
			return
		}
		post(c, c.opts.OnDisconnected, ev)
		if !ev.Reconnect {
			c.reportFirst(fmt.Errorf("duplex client: the server refused the connection (%d %s); not reconnecting", ev.Code, ev.Reason))
			c.failSubscriptions(ev)
			return
		}
		delay := backoff(attempt, c.opts.MinReconnectDelay, c.opts.MaxReconnectDelay)
		attempt++
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-c.closing:
			t.Stop()
			return
		}
	}
}

// backoff returns a random delay in [0, min(max, base·2^attempt)).
func backoff(attempt int, base, max time.Duration) time.Duration {
	d := max
	if attempt < 30 {
		d = min(max, base<<attempt)
	}
	return rand.N(d) + time.Millisecond
}

// connectOnce runs one connection: dial, connect, resubscribe, and wait
// for it to end. ok reports whether connect succeeded.
func (c *Client) connectOnce() (ev DisconnectedEvent, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	go func() {
		select {
		case <-c.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	token, err := c.currentToken(ctx)
	if err != nil {
		c.reportError(fmt.Errorf("duplex client: getting a token: %w", err))
		return DisconnectedEvent{Code: int(websocket.StatusAbnormalClosure), Reason: "token: " + err.Error(), Reconnect: true}, false
	}
	conn, _, err := websocket.Dial(ctx, c.url, c.opts.Dial)
	if err != nil {
		c.reportError(fmt.Errorf("duplex client: %w", err))
		return DisconnectedEvent{Code: int(websocket.StatusAbnormalClosure), Reason: err.Error(), Reconnect: true}, false
	}
	tr := newTransport(c, conn)
	go tr.readLoop()

	params := map[string]any{"name": c.opts.Name, "version": c.opts.Version}
	if token != "" {
		params["token"] = token
	}
	c.mu.Lock()
	if len(c.serverSubs) > 0 {
		subs := make(map[string]StreamPosition, len(c.serverSubs))
		for ch, pos := range c.serverSubs {
			subs[ch] = pos
		}
		params["subs"] = subs
	}
	c.mu.Unlock()
	var res connectResult
	raw, err := tr.request(ctx, "connect", params, func(r reply) {
		if r.err == nil {
			_ = json.Unmarshal(r.result, &res)
			c.applyServerSubs(res.Subs)
		}
	})
	if err != nil {
		_ = conn.CloseNow()
		<-tr.done
		var se *Error
		if errors.As(err, &se) {
			return c.connectFailed(se), false
		}
		return tr.endEvent(), false
	}
	_ = raw
	c.mu.Lock()
	if c.state == StateClosed {
		c.mu.Unlock()
		_ = conn.Close(websocket.StatusNormalClosure, "")
		<-tr.done
		return DisconnectedEvent{}, true
	}
	c.tr = tr
	c.state = StateConnected
	c.clientID, c.user = res.Client, res.User
	close(c.connected)
	c.mu.Unlock()
	if res.Ping > 0 {
		tr.setSilence(time.Duration(res.Ping+res.Pong) * time.Second)
	}
	if res.Expires {
		go c.refreshLoop(tr, time.Duration(res.TTL)*time.Second)
	}
	post(c, c.opts.OnConnected, ConnectedEvent{Client: res.Client, User: res.User, Version: res.Version})
	c.reportFirst(nil)
	c.resubscribeAll(tr)

	<-tr.done
	c.mu.Lock()
	c.tr = nil
	c.connected = make(chan struct{})
	c.clientID = ""
	c.mu.Unlock()
	c.suspendSubscriptions()
	ev = tr.endEvent()
	if ev.Code == 4003 {
		c.markTokenStale()
	}
	return ev, true
}

type connectResult struct {
	Client  string                     `json:"client"`
	User    string                     `json:"user"`
	Version string                     `json:"version"`
	Expires bool                       `json:"expires"`
	TTL     int64                      `json:"ttl"`
	Ping    int64                      `json:"ping"`
	Pong    int64                      `json:"pong"`
	Subs    map[string]subscribeResult `json:"subs"`
}

// connectFailed maps a connect error to the close that follows it
// (docs/protocol.md section 11), so the outcome does not depend on whether
// the close frame arrives.
func (c *Client) connectFailed(e *Error) DisconnectedEvent {
	switch e.Code {
	case CodeTokenExpired:
		c.markTokenStale()
		return DisconnectedEvent{Code: 4003, Reason: e.Message, Reconnect: c.opts.GetToken != nil}
	case CodeUnauthorized:
		return DisconnectedEvent{Code: 4501, Reason: e.Message}
	case CodeLimitExceeded:
		return DisconnectedEvent{Code: 4503, Reason: e.Message}
	case CodeBadRequest:
		return DisconnectedEvent{Code: 4500, Reason: e.Message}
	}
	return DisconnectedEvent{Code: 4002, Reason: e.Message, Reconnect: true}
}

func (c *Client) markTokenStale() {
	c.mu.Lock()
	if c.opts.GetToken != nil {
		c.tokenStale = true
	}
	c.mu.Unlock()
}

func (c *Client) currentToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	stale, token := c.tokenStale, c.token
	c.mu.Unlock()
	if !stale {
		return token, nil
	}
	token, err := c.opts.GetToken(ctx)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.token, c.tokenStale = token, false
	c.mu.Unlock()
	return token, nil
}

// refreshLoop refreshes the connection token before it expires.
func (c *Client) refreshLoop(tr *transport, ttl time.Duration) {
	if c.opts.GetToken == nil {
		return
	}
	for {
		wait := max(ttl-ttl/10-time.Second, time.Second)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-tr.done:
			t.Stop()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
		token, err := c.opts.GetToken(ctx)
		var raw json.RawMessage
		if err == nil {
			raw, err = tr.request(ctx, "refresh", map[string]string{"token": token}, nil)
		}
		cancel()
		if err != nil {
			c.reportError(fmt.Errorf("duplex client: refreshing the token: %w", err))
			ttl = 10 * time.Second
			continue
		}
		var res struct {
			Expires bool  `json:"expires"`
			TTL     int64 `json:"ttl"`
		}
		_ = json.Unmarshal(raw, &res)
		c.mu.Lock()
		c.token = token
		c.mu.Unlock()
		if !res.Expires {
			return
		}
		ttl = time.Duration(res.TTL) * time.Second
	}
}

// reportFirst hands the outcome of the first connect to Connect.
func (c *Client) reportFirst(err error) {
	select {
	case c.firstErr <- err:
	default:
	}
}

func (c *Client) reportError(err error) {
	if c.opts.OnError != nil {
		c.events.post(func() { c.opts.OnError(err) })
	}
}

// post queues a callback with its argument.
func post[T any](c *Client, f func(T), v T) {
	if f != nil {
		c.events.post(func() { f(v) })
	}
}

// waitConnected returns the current transport, waiting for a connection.
func (c *Client) waitConnected(ctx context.Context) (*transport, error) {
	for {
		c.mu.Lock()
		state, tr, connected := c.state, c.tr, c.connected
		finalErr := c.finalErr
		c.mu.Unlock()
		switch {
		case state == StateClosed:
			return nil, ErrClosed
		case tr != nil:
			return tr, nil
		case state == StateDisconnected && finalErr != nil:
			return nil, fmt.Errorf("%w: %v", ErrClosed, finalErr)
		}
		select {
		case <-connected:
		case <-ctx.Done():
			return nil, fmt.Errorf("duplex client: waiting for a connection: %w", ctx.Err())
		}
	}
}

// call sends a command once connected and returns its result.
func (c *Client) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	tr, err := c.waitConnected(ctx)
	if err != nil {
		return nil, err
	}
	res, err := tr.request(ctx, method, params, nil)
	if errors.Is(err, errTransportClosed) {
		return nil, ErrConnectionLost
	}
	return res, err
}

// Publish publishes data (marshalled to JSON, or sent as is when it is a
// json.RawMessage) into channel and returns its stream position.
func (c *Client) Publish(ctx context.Context, channel string, data any) (StreamPosition, error) {
	raw, err := toRaw(data)
	if err != nil {
		return StreamPosition{}, err
	}
	res, err := c.call(ctx, "publish", map[string]any{"channel": channel, "data": raw})
	if err != nil {
		return StreamPosition{}, err
	}
	var pos StreamPosition
	_ = json.Unmarshal(res, &pos)
	return pos, nil
}

func toRaw(data any) (json.RawMessage, error) {
	if raw, ok := data.(json.RawMessage); ok {
		if !json.Valid(raw) {
			return nil, errors.New("duplex client: data is not valid JSON")
		}
		return raw, nil
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("duplex client: encoding data: %w", err)
	}
	return b, nil
}

// Presence returns who is subscribed to channel.
func (c *Client) Presence(ctx context.Context, channel string) (map[string]ClientInfo, error) {
	res, err := c.call(ctx, "presence", map[string]string{"channel": channel})
	if err != nil {
		return nil, err
	}
	var out struct {
		Clients map[string]ClientInfo `json:"clients"`
	}
	if err := json.Unmarshal(res, &out); err != nil {
		return nil, fmt.Errorf("duplex client: presence result: %w", err)
	}
	return out.Clients, nil
}

// PresenceStats counts the subscribers of channel.
func (c *Client) PresenceStats(ctx context.Context, channel string) (PresenceStats, error) {
	res, err := c.call(ctx, "presence_stats", map[string]string{"channel": channel})
	if err != nil {
		return PresenceStats{}, err
	}
	var out PresenceStats
	err = json.Unmarshal(res, &out)
	return out, err
}

// History reads publications kept for channel.
func (c *Client) History(ctx context.Context, channel string, opts HistoryOptions) (HistoryResult, error) {
	params := map[string]any{"channel": channel, "reverse": opts.Reverse}
	switch {
	case opts.Limit == PositionOnly:
		params["limit"] = 0
	case opts.Limit > 0:
		params["limit"] = opts.Limit
	}
	if opts.Since != nil {
		params["since"] = opts.Since
	}
	res, err := c.call(ctx, "history", params)
	if err != nil {
		return HistoryResult{}, err
	}
	var out struct {
		Offset       uint64            `json:"offset"`
		Epoch        string            `json:"epoch"`
		Publications []wirePublication `json:"publications"`
	}
	if err := json.Unmarshal(res, &out); err != nil {
		return HistoryResult{}, fmt.Errorf("duplex client: history result: %w", err)
	}
	h := HistoryResult{Position: StreamPosition{Offset: out.Offset, Epoch: out.Epoch}}
	for _, p := range out.Publications {
		h.Publications = append(h.Publications, p.publication(channel))
	}
	return h, nil
}

// Ping makes a round trip to the server.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.call(ctx, "ping", nil)
	return err
}

// wirePublication is a Publication inside a result.
type wirePublication struct {
	Offset uint64          `json:"offset"`
	Epoch  string          `json:"epoch"`
	Data   json.RawMessage `json:"data"`
	Info   *ClientInfo     `json:"info"`
}

func (p wirePublication) publication(channel string) Publication {
	return Publication{Channel: channel, Offset: p.Offset, Epoch: p.Epoch, Data: p.Data, Info: p.Info}
}
