package server

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, all named duplex_*. Each
// Server has its own registry, so several servers in one process (tests)
// do not collide.
type metrics struct {
	reg *prometheus.Registry

	connections      prometheus.Gauge
	connectionsTotal prometheus.Counter
	subscriptions    prometheus.Gauge
	msgsIn           prometheus.Counter
	bytesIn          prometheus.Counter
	msgsOut          prometheus.Counter
	bytesOut         prometheus.Counter
	queueDrops       prometheus.Counter
	disconnects      *prometheus.CounterVec
	commands         *prometheus.CounterVec
	commandErrors    *prometheus.CounterVec
	publications     *prometheus.CounterVec
	publishDuration  prometheus.Histogram
	fanoutLatency    prometheus.Histogram
	apiRequests      *prometheus.CounterVec
}

func newMetrics(srv *Server) *metrics {
	reg := prometheus.NewRegistry()
	r := prometheus.WrapRegistererWithPrefix("duplex_", reg)
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &metrics{reg: reg}
	m.connections = gauge(r, "connections", "WebSocket connections open now.")
	m.connectionsTotal = counter(r, "connections_accepted_total", "WebSocket connections accepted since start.")
	m.subscriptions = gauge(r, "subscriptions", "Channel subscriptions of local connections now.")
	m.msgsIn = counter(r, "messages_received_total", "WebSocket messages received from clients.")
	m.bytesIn = counter(r, "bytes_received_total", "Payload bytes of WebSocket messages received from clients.")
	m.msgsOut = counter(r, "messages_sent_total", "WebSocket messages written to clients.")
	m.bytesOut = counter(r, "bytes_sent_total", "Payload bytes of WebSocket messages written to clients.")
	m.queueDrops = counter(r, "queue_drops_total", "Messages refused because a client's send queue was full (the client is then disconnected as slow).")
	m.disconnects = counterVec(r, "disconnects_total", "Connections ended, by disconnect code and reason: the server's codes (docs/protocol.md section 11), code=\"client\" when the client closed, code=\"1006\" when it vanished.", "code", "reason")
	m.commands = counterVec(r, "commands_total", "Client commands handled, by method.", "method")
	m.commandErrors = counterVec(r, "command_errors_total", "Client commands answered with an error, by error code.", "code")
	m.publications = counterVec(r, "publications_total", "Publications accepted, by source (client or api).", "source")
	m.publishDuration = histogram(r, "publish_duration_seconds",
		"Time to publish: broker append plus the fan-out into every local subscriber's send queue.")
	m.fanoutLatency = histogram(r, "fanout_latency_seconds",
		"Time from a publication's acceptance by the broker to its write to a subscriber's socket (sampled: the first publication of each write batch).")
	m.apiRequests = counterVec(r, "api_requests_total", "HTTP API requests, by method and HTTP status.", "method", "status")
	r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "send_queue_bytes", Help: "Bytes waiting in the send queues of all connections.",
	}, func() float64 { return float64(srv.queuedBytes()) }))
	r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "channels", Help: "Channels with at least one local subscriber.",
	}, func() float64 { return float64(srv.hub.Stats().Channels) }))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// disconnect counts a connection the server ended with code. The reason
// label is the code's standard reason, whatever reason the client was sent
// (a backend's /api/disconnect may give any), so that the label set stays
// small: "custom" for a backend's own code.
func (m *metrics) disconnect(code int) {
	reason, ok := disconnectReasons[code]
	if !ok {
		reason = "custom"
	}
	m.disconnects.WithLabelValues(strconv.Itoa(code), reason).Inc()
}

// clientDisconnect counts a connection the client ended: with a close
// frame (code "client"), or by vanishing without one (code "1006", as
// browsers report it).
func (m *metrics) clientDisconnect(closedByClient bool) {
	if closedByClient {
		m.disconnects.WithLabelValues("client", "closed by client").Inc()
		return
	}
	m.disconnects.WithLabelValues("1006", "connection lost").Inc()
}

func gauge(r prometheus.Registerer, name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	r.MustRegister(g)
	return g
}

func counter(r prometheus.Registerer, name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	r.MustRegister(c)
	return c
}

func counterVec(r prometheus.Registerer, name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	r.MustRegister(c)
	return c
}

func histogram(r prometheus.Registerer, name, help string) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    name,
		Help:    help,
		Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16), // 50µs to 1.6s
	})
	r.MustRegister(h)
	return h
}
