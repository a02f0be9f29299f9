package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duplexws/duplex/hub"
	"github.com/duplexws/duplex/websocket"
)

// session is one client connection: its reader runs the command loop, its
// writer drains the send queue, and it is the hub.Subscriber of every
// channel it subscribes to.
type session struct {
	srv    *Server
	conn   *websocket.Conn
	id     string
	remote string
	q      *sendQueue

	// Set by connect in the reader goroutine; read-only once connected
	// is true (other goroutines read them only after registerUser).
	connected bool
	user      string
	connInfo  json.RawMessage
	name      string
	indexed   bool // connected and visible to the HTTP API; guarded by Server.mu

	// mu guards subs, the expiry timers and subscribe/unsubscribe as a
	// whole. It is never taken inside Deliver (which runs under hub locks),
	// so the order is always mu, then hub locks.
	mu       sync.Mutex
	subs     map[string]*subState
	expiry   *time.Timer
	expireAt time.Time
	ended    bool // cleanup ran; nothing may subscribe any more

	closing  atomic.Bool
	timedOut atomic.Bool // the write watchdog fired

	// Reader-only state.
	pubLimit bucket
	cmdLimit bucket
	readBuf  []byte

	hb           *time.Timer
	hbCheck      bool // timer phase: next fire checks for a pong; timer goroutine only
	awaitingPong atomic.Bool
	connectTimer *time.Timer
	writeTimer   *time.Timer
	killTimer    atomic.Pointer[time.Timer]
	writerDone   chan struct{}
}

// subState is one subscription of a session.
type subState struct {
	sub        *hub.Subscription
	ns         Namespace
	info       *hub.ClientInfo
	serverSide bool
	expiry     *time.Timer
}

func newClientID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func newSession(srv *Server, conn *websocket.Conn, remote string) *session {
	l := srv.cfg.Limits
	s := &session{
		srv:        srv,
		conn:       conn,
		id:         newClientID(),
		remote:     remote,
		q:          newSendQueue(l.QueueSize),
		subs:       make(map[string]*subState),
		pubLimit:   newBucket(l.PublishRate, l.PublishBurst),
		cmdLimit:   newBucket(l.CommandRate, l.CommandBurst),
		writerDone: make(chan struct{}),
	}
	s.writeTimer = time.AfterFunc(time.Hour, s.writeStalled)
	s.writeTimer.Stop()
	return s
}

// Deliver implements hub.Subscriber: it puts the push's shared frame on the
// send queue, or applies the slow-consumer policy when the queue is full.
// It runs inside the hub's fan-out and so never blocks and never calls the
// hub.
func (s *session) Deliver(p *hub.Push) bool {
	switch {
	case (p.Kind == hub.PushJoin || p.Kind == hub.PushLeave) && p.Info != nil && p.Info.Client == s.id:
		return true // a client never hears about itself joining or leaving
	case p.Kind == hub.PushLost:
		// The broker may have lost publications of the channel: the client
		// resubscribes (2500) and recovers them. Not from here: Deliver
		// runs inside the fan-out and must not call the hub.
		go s.lostTrack(p.Channel)
		return true
	}
	pm, err := s.srv.prepared.get(p)
	if err != nil {
		s.srv.log.Error("encoding a push failed; the client will miss it and is disconnected to recover", "channel", p.Channel, "err", err)
		s.disconnect(DisconnectInsufficient)
		return false
	}
	if !s.q.push(outItem{pm: pm, pub: p.Publication}) {
		s.srv.metrics.queueDrops.Inc()
		s.disconnect(DisconnectSlow)
		return false
	}
	return true
}

// send queues a message for this client alone; a full queue makes the
// client slow.
func (s *session) send(b []byte) {
	if !s.q.push(outItem{data: b}) {
		s.srv.metrics.queueDrops.Inc()
		s.disconnect(DisconnectSlow)
	}
}

// disconnect ends the connection with code: the disconnect push goes out
// after what is queued (except for a slow client, whose queue is dropped),
// then the close frame. It never blocks, so any goroutine may call it, the
// fan-out included.
func (s *session) disconnect(code int) {
	s.disconnectWith(code, disconnectReasons[code])
}

// disconnectWith is disconnect with a reason of the caller's.
func (s *session) disconnectWith(code int, reason string) {
	if !s.closing.CompareAndSwap(false, true) {
		return
	}
	s.srv.metrics.disconnect(code)
	closeCode := websocket.StatusCode(code)
	if code == DisconnectShutdown {
		// 1001 "going away" is what any WebSocket client understands as
		// "this server is leaving, come back"; the push carries 4001.
		closeCode = websocket.StatusGoingAway
	}
	s.q.close(disconnectPush(code, reason), closeCode, reason, code == DisconnectSlow)
	// A client that reads nothing cannot take the push or the close
	// frame; cut it off once the writer had its chance.
	grace := time.Duration(s.srv.cfg.WriteTimeout) + websocket.DefaultCloseTimeout
	s.killTimer.Store(time.AfterFunc(grace, func() { _ = s.conn.CloseNow() }))
}

// writeStalled fires when one write batch took longer than WriteTimeout:
// the client's socket takes nothing, so the connection is cut.
func (s *session) writeStalled() {
	s.timedOut.Store(true)
	if s.closing.CompareAndSwap(false, true) {
		s.srv.metrics.disconnect(DisconnectSlow)
	}
	_ = s.conn.CloseNow()
}

// writeLoop is the connection's only writer. It takes everything queued at
// once and writes it, so a burst of pushes costs one wake-up.
func (s *session) writeLoop() {
	defer close(s.writerDone)
	ctx := context.Background()
	timeout := time.Duration(s.srv.cfg.WriteTimeout)
	var batch []outItem
	var pms []*websocket.PreparedMessage
	for {
		var closed bool
		batch, closed = s.q.take(batch[:0])
		if closed {
			s.writeFinal(ctx)
			return
		}
		if len(batch) == 0 {
			<-s.q.wake
			continue
		}
		s.writeTimer.Reset(timeout)
		bytes, err := s.writeBatch(ctx, batch, &pms)
		if err != nil {
			s.writeTimer.Stop()
			s.writeFailed()
			return
		}
		s.writeTimer.Stop()
		s.q.written()
		s.srv.metrics.msgsOut.Add(float64(len(batch)))
		s.srv.metrics.bytesOut.Add(float64(bytes))
		clear(batch)
	}
}

// writeBatch writes a batch in order: runs of shared frames go out in one
// vectored write (WritePreparedBatch), replies one by one. It returns the
// payload bytes written. pms is scratch space kept between batches.
func (s *session) writeBatch(ctx context.Context, batch []outItem, pms *[]*websocket.PreparedMessage) (int, error) {
	var bytes int
	var sample time.Time // acceptance of the batch's first publication
	flush := func() error {
		if len(*pms) == 0 {
			return nil
		}
		var err error
		if len(*pms) == 1 {
			// The usual case of a fan-out; WritePrepared allocates nothing.
			err = s.conn.WritePrepared(ctx, (*pms)[0])
		} else {
			err = s.conn.WritePreparedBatch(ctx, *pms)
		}
		clear(*pms)
		*pms = (*pms)[:0]
		return err
	}
	for i := range batch {
		it := &batch[i]
		if it.pm != nil {
			*pms = append(*pms, it.pm)
		} else {
			if err := flush(); err != nil {
				return bytes, err
			}
			if err := s.conn.Write(ctx, websocket.MessageText, it.data); err != nil {
				return bytes, err
			}
		}
		bytes += it.size()
		if it.pub != nil && sample.IsZero() {
			sample = it.pub.Time
		}
	}
	if err := flush(); err != nil {
		return bytes, err
	}
	if !sample.IsZero() {
		s.srv.metrics.fanoutLatency.Observe(time.Since(sample).Seconds())
	}
	return bytes, nil
}

// writeFinal sends the disconnect push and the close frame.
func (s *session) writeFinal(ctx context.Context) {
	final, code, reason := s.q.finalMessage()
	if final == nil {
		_ = s.conn.CloseNow()
		return
	}
	s.writeTimer.Reset(time.Duration(s.srv.cfg.WriteTimeout))
	err := s.conn.Write(ctx, websocket.MessageText, final)
	s.writeTimer.Stop()
	if err != nil {
		_ = s.conn.CloseNow()
		return
	}
	_ = s.conn.Close(code, reason)
}

func (s *session) writeFailed() {
	if s.closing.CompareAndSwap(false, true) && !s.timedOut.Load() {
		s.srv.metrics.disconnect(DisconnectWriteError)
	}
	_ = s.conn.CloseNow()
}

// serve runs the connection until it ends.
func (s *session) serve() {
	go s.writeLoop()
	s.connectTimer = time.AfterFunc(time.Duration(s.srv.cfg.ConnectTimeout), func() {
		s.disconnect(DisconnectStale)
	})
	err := s.readLoop()
	s.cleanup(err)
}

// readLoop reads client messages and handles each in order. It goes on
// after a disconnect until the close handshake ends the connection, and
// returns the error that ended it.
func (s *session) readLoop() error {
	ctx := context.Background()
	limit := s.srv.cfg.Limits.MaxMessageSize
	for {
		typ, r, err := s.conn.Reader(ctx)
		if err != nil {
			return err
		}
		msg, over, err := readLimited(r, s.readBuf[:0], limit)
		if err != nil {
			return err
		}
		s.readBuf = msg
		s.srv.metrics.msgsIn.Inc()
		s.srv.metrics.bytesIn.Add(float64(len(msg)))
		if s.closing.Load() {
			continue
		}
		switch {
		case over:
			s.disconnect(DisconnectTooLarge)
		case typ != websocket.MessageText:
			s.disconnect(DisconnectBadRequest)
		default:
			s.handle(msg)
		}
		if cap(s.readBuf) > 64<<10 {
			s.readBuf = nil // do not keep a large message's buffer
		}
	}
}

// readLimited reads r into buf up to limit bytes; over reports a longer
// message, of which the rest is left unread.
func readLimited(r io.Reader, buf []byte, limit int) (msg []byte, over bool, err error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		room := buf[len(buf):cap(buf)]
		if len(buf)+len(room) > limit+1 {
			room = room[:limit+1-len(buf)]
		}
		n, err := r.Read(room)
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return buf, true, nil
		}
		if errors.Is(err, io.EOF) {
			return buf, false, nil
		}
		if err != nil {
			return buf, false, err
		}
	}
}

// startHeartbeat arms the JSON ping timer once connected.
func (s *session) startHeartbeat() {
	ping := time.Duration(s.srv.cfg.Ping)
	if ping <= 0 {
		return
	}
	// The timer is stored before it is armed: with a short interval it can
	// fire before AfterFunc would have returned, and heartbeat reads s.hb.
	s.hb = time.AfterFunc(time.Hour, s.heartbeat)
	s.hb.Stop()
	s.hb.Reset(ping)
}

// pingMessage is the same for every connection.
var pingMessage = websocket.NewPreparedMessage(websocket.MessageText, []byte(`{"push":"ping"}`))

// heartbeat alternates between sending a ping and, pong seconds later,
// checking that the pong came.
func (s *session) heartbeat() {
	if s.closing.Load() {
		return
	}
	ping, pong := time.Duration(s.srv.cfg.Ping), time.Duration(s.srv.cfg.Pong)
	if s.hbCheck {
		if s.awaitingPong.Load() {
			s.disconnect(DisconnectNoPong)
			return
		}
		s.hbCheck = false
		s.hb.Reset(max(ping-pong, 0))
		return
	}
	s.awaitingPong.Store(true)
	if !s.q.push(outItem{pm: pingMessage}) {
		s.disconnect(DisconnectSlow)
		return
	}
	s.hbCheck = true
	s.hb.Reset(pong)
}

// cleanup runs once the connection is closed (readErr says how): it
// unsubscribes everything and forgets the session.
func (s *session) cleanup(readErr error) {
	// Timers that still fire now do nothing. If the server had not ended
	// the connection, the client did.
	if s.closing.CompareAndSwap(false, true) {
		s.srv.metrics.clientDisconnect(websocket.CloseStatus(readErr) != -1)
	}
	s.q.close(nil, 0, "", true)
	_ = s.conn.CloseNow()
	<-s.writerDone
	for _, t := range []*time.Timer{s.connectTimer, s.hb, s.writeTimer, s.killTimer.Load()} {
		if t != nil {
			t.Stop()
		}
	}
	ctx := context.WithoutCancel(s.srv.ctx)
	s.mu.Lock()
	s.ended = true
	if s.expiry != nil {
		s.expiry.Stop()
	}
	for ch, st := range s.subs {
		s.dropSubLocked(ctx, ch, st)
	}
	s.mu.Unlock()
	s.srv.removeSession(s)
}

// dropSubLocked ends one subscription; s.mu is held.
func (s *session) dropSubLocked(ctx context.Context, channel string, st *subState) {
	delete(s.subs, channel)
	if st.expiry != nil {
		st.expiry.Stop()
	}
	if err := st.sub.Unsubscribe(ctx); err != nil {
		s.srv.log.Warn("unsubscribe failed; presence may linger until it expires", "channel", channel, "client", s.id, "err", err)
	}
	s.srv.channelRemoved(channel)
}

// lostTrack handles a subscription that may have missed publications
// (the broker lost some, or too many arrived while subscribing): the client
// resubscribes with recovery (2500). A server-side subscription cannot be
// resubscribed by the client, so its connection is ended instead (4008):
// the client reconnects and recovers it through connect.subs.
func (s *session) lostTrack(channel string) {
	s.mu.Lock()
	st := s.subs[channel]
	s.mu.Unlock()
	if st != nil && st.serverSide {
		s.disconnect(DisconnectInsufficient)
		return
	}
	s.serverUnsubscribe(channel, unsubscribeResubscribe, "resubscribe", true)
}

// serverUnsubscribe ends a subscription from the server side (backend
// request, expired token, lost state) and tells the client with an
// unsubscribe push.
func (s *session) serverUnsubscribe(channel string, code int, reason string, resubscribe bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.subs[channel]
	if !ok || s.ended {
		return false
	}
	s.dropSubLocked(s.srv.ctx, channel, st)
	s.send(unsubscribePush(channel, code, reason, resubscribe))
	return true
}
