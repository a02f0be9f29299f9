package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duplexws/duplex/hub"
	"github.com/duplexws/duplex/web"
	"github.com/duplexws/duplex/websocket"
)

// Version is the server version reported to clients in the connect result.
const Version = "0.1.0"

// Options are the parts of a Server that are code rather than
// configuration.
type Options struct {
	// Broker carries publications between nodes and keeps history; nil
	// means a hub.MemoryBroker (one node, lost on restart).
	Broker hub.Broker
	// Presence keeps channel presence; nil means the broker's.
	Presence hub.PresenceManager
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
}

// ReadyChecker may be implemented by a Broker: /readyz answers 503 while
// Ready returns an error (the broker is unreachable).
type ReadyChecker interface {
	Ready(ctx context.Context) error
}

// ChannelLister may be implemented by a Broker that spans several nodes:
// /api/channels then answers with the channels it reports, with their
// subscriber counts on every node, instead of this node's own.
type ChannelLister interface {
	Channels(ctx context.Context) (map[string]int, error)
}

// Server is a Duplex server. It is an http.Handler serving the WebSocket
// endpoint, the HTTP API, metrics, health checks and the demo page; see
// docs/protocol.md section 1 for the paths.
type Server struct {
	cfg      Config
	hub      *hub.Hub
	verifier *verifier
	log      *slog.Logger
	metrics  *metrics
	prepared *preparedCache
	version  string
	mux      *http.ServeMux
	accept   websocket.AcceptOptions
	nsByName map[string]Namespace

	ctx    context.Context // cancelled when the server has stopped
	cancel context.CancelFunc

	mu       sync.Mutex
	sessions map[*session]struct{}
	byID     map[string]*session
	users    map[string]map[*session]struct{}
	channels map[string]int // local subscriptions per channel
	wg       sync.WaitGroup

	draining atomic.Bool
	stopped  atomic.Bool
	cmdCount map[string]func() // per-method command counters
}

// New returns a server for cfg, which it validates first.
func New(cfg Config, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v, err := newVerifier(cfg.Token)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	hopts := hub.Options{
		Broker:     opts.Broker,
		Presence:   opts.Presence,
		Namespaces: make(map[string]hub.NamespaceOptions, len(cfg.Namespaces)),
		Logger:     opts.Logger,
	}
	nsByName := make(map[string]Namespace, len(cfg.Namespaces))
	for name, ns := range cfg.Namespaces {
		hopts.Namespaces[name] = ns.hubOptions()
		nsByName[name] = ns
	}
	if cfg.Default != nil {
		hopts.Default = cfg.Default.hubOptions()
	}
	h, err := hub.New(hopts)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	srv := &Server{
		cfg:      cfg,
		hub:      h,
		verifier: v,
		log:      opts.Logger,
		prepared: newPreparedCache(),
		version:  Version,
		nsByName: nsByName,
		sessions: make(map[*session]struct{}),
		byID:     make(map[string]*session),
		users:    make(map[string]map[*session]struct{}),
		channels: make(map[string]int),
	}
	if srv.log == nil {
		srv.log = slog.Default()
	}
	srv.ctx, srv.cancel = context.WithCancel(context.Background())
	srv.metrics = newMetrics(srv)
	srv.cmdCount = make(map[string]func())
	for _, m := range []string{"connect", "subscribe", "unsubscribe", "publish", "presence", "presence_stats", "history", "ping", "refresh", "sub_refresh"} {
		srv.cmdCount[m] = srv.metrics.commands.WithLabelValues(m).Inc
	}
	srv.cmdCount[""] = srv.metrics.commands.WithLabelValues("unknown").Inc

	srv.accept = websocket.AcceptOptions{
		OriginPatterns: cfg.AllowedOrigins,
		// The server's own limit (Limits.MaxMessageSize) is checked while
		// reading, to answer 4010; this bound only keeps discarding the
		// rest of an oversized message cheap.
		ReadLimit: int64(max(4*cfg.Limits.MaxMessageSize, 1<<20)),
	}
	if cfg.Compression {
		srv.accept.Compression = &websocket.CompressionOptions{}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/connection/websocket", srv.serveWebSocket)
	mux.HandleFunc("/api/", srv.serveAPI)
	mux.Handle("GET /metrics", srv.metrics.handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	mux.HandleFunc("GET /readyz", srv.serveReady)
	mux.HandleFunc("GET /demo/token", srv.serveDemoToken)
	mux.Handle("/", web.Handler())
	srv.mux = mux
	return srv, nil
}

// Hub returns the server's hub, for publishing from the same process.
func (srv *Server) Hub() *hub.Hub { return srv.hub }

// Config returns the configuration the server runs with.
func (srv *Server) Config() Config { return srv.cfg }

// ServeHTTP implements http.Handler.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { srv.mux.ServeHTTP(w, r) }

// namespace returns the options of channel's namespace, or error 102.
func (srv *Server) namespace(channel string) (Namespace, *Error) {
	name := hub.NamespaceOf(channel)
	if name == "" {
		if srv.cfg.Default == nil {
			return Namespace{}, newError(CodeUnknownChannel, "unknown channel: %s has no namespace and the default namespace is not configured", channel)
		}
		return *srv.cfg.Default, nil
	}
	ns, ok := srv.nsByName[name]
	if !ok {
		return Namespace{}, newError(CodeUnknownChannel, "unknown channel: namespace %s is not configured", name)
	}
	return ns, nil
}

func (srv *Server) countCommand(method string) {
	if f, ok := srv.cmdCount[method]; ok {
		f()
		return
	}
	srv.cmdCount[""]()
}

func (srv *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if srv.draining.Load() {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "server is shutting down; reconnect to another node", http.StatusServiceUnavailable)
		return
	}
	conn, err := websocket.Accept(w, r, &srv.accept)
	if err != nil {
		srv.log.Debug("websocket handshake refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	s := newSession(srv, conn, r.RemoteAddr)
	if !srv.addSession(s) {
		// The drain started during the handshake: this client missed the
		// snapshot of Shutdown, so tell it here.
		_ = conn.Write(r.Context(), websocket.MessageText, disconnectPush(DisconnectShutdown, "shutdown"))
		_ = conn.Close(websocket.StatusGoingAway, "shutdown")
		return
	}
	defer srv.wg.Done()
	s.serve()
}

// addSession registers a new connection; it reports false, registering
// nothing, when the server is draining.
func (srv *Server) addSession(s *session) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.draining.Load() {
		return false
	}
	srv.wg.Add(1)
	srv.sessions[s] = struct{}{}
	srv.byID[s.id] = s
	srv.metrics.connections.Inc()
	srv.metrics.connectionsTotal.Inc()
	return true
}

// registerUser marks a session connected for the HTTP API and indexes it
// by user, enforcing the per-user connection limit.
func (srv *Server) registerUser(s *session) *Error {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if s.user == "" {
		s.indexed = true
		return nil
	}
	set := srv.users[s.user]
	if limit := srv.cfg.Limits.MaxConnectionsPerUser; limit > 0 && len(set) >= limit {
		return newError(CodeLimitExceeded, "limit exceeded: user %q already has %d connections", s.user, len(set))
	}
	if set == nil {
		set = make(map[*session]struct{})
		srv.users[s.user] = set
	}
	set[s] = struct{}{}
	s.indexed = true
	return nil
}

func (srv *Server) removeSession(s *session) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	delete(srv.sessions, s)
	delete(srv.byID, s.id)
	if set := srv.users[s.user]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(srv.users, s.user)
		}
	}
	srv.metrics.connections.Dec()
}

// sessionsOf returns the connected sessions of user, or only the one with
// id client when client is set.
func (srv *Server) sessionsOf(user, client string) []*session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if client != "" {
		if s, ok := srv.byID[client]; ok && s.indexed && (user == "" || s.user == user) {
			return []*session{s}
		}
		return nil
	}
	out := make([]*session, 0, len(srv.users[user]))
	for s := range srv.users[user] {
		out = append(out, s)
	}
	return out
}

func (srv *Server) channelAdded(channel string) {
	srv.mu.Lock()
	srv.channels[channel]++
	srv.mu.Unlock()
	srv.metrics.subscriptions.Inc()
}

func (srv *Server) channelRemoved(channel string) {
	srv.mu.Lock()
	if srv.channels[channel]--; srv.channels[channel] <= 0 {
		delete(srv.channels, channel)
	}
	srv.mu.Unlock()
	srv.metrics.subscriptions.Dec()
}

func (srv *Server) queuedBytes() int {
	srv.mu.Lock()
	list := make([]*session, 0, len(srv.sessions))
	for s := range srv.sessions {
		list = append(list, s)
	}
	srv.mu.Unlock()
	n := 0
	for _, s := range list {
		n += s.q.buffered()
	}
	return n
}

func (srv *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	if srv.draining.Load() {
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	}
	if rc, ok := srv.hub.Broker().(ReadyChecker); ok {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := rc.Ready(ctx); err != nil {
			http.Error(w, "broker not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	fmt.Fprint(w, "ok")
}

var demoUserRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// demoTokenTTL is the life of a demo token; the browser client refreshes
// it through /demo/token before it runs out.
const demoTokenTTL = 24 * time.Hour

func (srv *Server) serveDemoToken(w http.ResponseWriter, r *http.Request) {
	if !srv.cfg.Demo || srv.cfg.Token.HMACSecret == "" {
		http.NotFound(w, r)
		return
	}
	user := r.URL.Query().Get("user")
	if !demoUserRE.MatchString(user) {
		http.Error(w, "user must be 1 to 32 of A-Z a-z 0-9 . _ -", http.StatusBadRequest)
		return
	}
	tok, err := SignToken("HS256", srv.cfg.Token.HMACSecret, TokenClaims{User: user, ExpiresAt: time.Now().Add(demoTokenTTL)})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]string{"token": tok})
}

// Shutdown drains the server (docs/protocol.md section 14): /readyz and new
// WebSocket handshakes answer 503, and every connection gets a disconnect
// push (4001, reconnect) and a close frame 1001, spread evenly over the
// configured drain period so that reconnects do not all arrive at once.
// It returns once every connection has ended, or when ctx is done, in which
// case the remaining connections are cut. The HTTP server itself is the
// caller's to shut down.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.mu.Lock()
	srv.draining.Store(true) // under mu: addSession sees it or is in the snapshot
	list := make([]*session, 0, len(srv.sessions))
	for s := range srv.sessions {
		list = append(list, s)
	}
	srv.mu.Unlock()
	drain := time.Duration(srv.cfg.Drain)
	start := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for i, s := range list {
		if ctx.Err() == nil && drain > 0 {
			at := start.Add(drain * time.Duration(i) / time.Duration(len(list)))
			if d := time.Until(at); d > 0 {
				t.Reset(d)
				select {
				case <-t.C:
				case <-ctx.Done():
				}
			}
		}
		s.disconnect(DisconnectShutdown)
	}
	done := make(chan struct{})
	go func() {
		srv.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("server: shutdown deadline passed before every connection closed; the rest were cut: %w", ctx.Err())
		srv.cutAll()
		<-done
	}
	srv.stop()
	return err
}

// Close cuts every connection at once, without a disconnect push or close
// handshake, and stops the server. Use Shutdown for a graceful stop.
func (srv *Server) Close() error {
	srv.mu.Lock()
	srv.draining.Store(true)
	srv.mu.Unlock()
	srv.cutAll()
	srv.wg.Wait()
	srv.stop()
	return nil
}

func (srv *Server) cutAll() {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for s := range srv.sessions {
		if s.closing.CompareAndSwap(false, true) {
			srv.metrics.disconnect(DisconnectShutdown)
		}
		_ = s.conn.CloseNow()
	}
}

func (srv *Server) stop() {
	if srv.stopped.CompareAndSwap(false, true) {
		_ = srv.hub.Close()
		srv.cancel()
	}
}

// errDraining is returned by API calls during a shutdown.
var errDraining = errors.New("server is draining")
