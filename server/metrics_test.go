package server

import (
	"strconv"
	"testing"

	"github.com/duplexws/duplex/websocket"
)

// TestMetrics checks that the metrics of docs/operations.md count what
// they say: connections, subscriptions, messages and bytes each way,
// publications, fan-out latency, and disconnects by code and reason with a
// bounded label set.
func TestMetrics(t *testing.T) {
	ts := startServer(t, nil)
	value := func(sample string) float64 { return metricValue(t, ts, sample) }
	waitValue := func(sample string, want float64) {
		t.Helper()
		waitFor(t, sample+" to be "+ftoa(want), func() bool { return value(sample) == want })
	}

	alice, bob := dial(t, ts), dial(t, ts)
	aliceID := alice.connect(token(t, "alice", 0)).str("client")
	bob.connect(token(t, "bob", 0))
	alice.ok("subscribe", map[string]any{"channel": "chat:m"})
	bob.ok("subscribe", map[string]any{"channel": "chat:m"})
	bob.ok("subscribe", map[string]any{"channel": "chat:n"})
	alice.ok("publish", map[string]any{"channel": "chat:m", "data": "hello"})
	if p := bob.push("publication"); p.str("data") != "hello" {
		t.Fatalf("publication %v", p)
	}
	ts.api(t, "publish", map[string]any{"channel": "chat:m", "data": "from the API"})
	bob.push("publication")

	for sample, want := range map[string]float64{
		"duplex_connections":                                       2,
		"duplex_connections_accepted_total":                        2,
		"duplex_subscriptions":                                     3,
		"duplex_channels":                                          2,
		"duplex_messages_received_total":                           6, // 2 connect, 3 subscribe, 1 publish
		`duplex_commands_total{method="subscribe"}`:                3,
		`duplex_publications_total{source="client"}`:               1,
		`duplex_publications_total{source="api"}`:                  1,
		"duplex_publish_duration_seconds_count":                    2,
		`duplex_api_requests_total{method="publish",status="200"}`: 1,
	} {
		if got := value(sample); got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}
	for _, sample := range []string{"duplex_bytes_received_total", "duplex_messages_sent_total", "duplex_bytes_sent_total", "duplex_fanout_latency_seconds_count"} {
		if got := value(sample); got < 1 {
			t.Errorf("%s = %v, want at least 1", sample, got)
		}
	}
	bob.fails("publish", map[string]any{"channel": "nope:x", "data": 1}, CodeUnknownChannel)
	if got := value(`duplex_command_errors_total{code="102"}`); got != 1 {
		t.Errorf("command errors for 102 = %v, want 1", got)
	}

	// Disconnects: a backend's own code and reason are counted under the
	// code with reason "custom", so reasons cannot grow the label set.
	ts.api(t, "disconnect", map[string]any{"user": "alice", "client": aliceID, "code": 4600, "reason": "banned for spam"})
	if code, _ := alice.closed(); code != 4600 {
		t.Fatalf("close code %d, want 4600", code)
	}
	waitValue(`duplex_disconnects_total{code="4600",reason="custom"}`, 1)
	ts.api(t, "disconnect", map[string]any{"user": "bob", "reason": "go away"})
	bob.closed()
	waitValue(`duplex_disconnects_total{code="4502",reason="forced disconnect"}`, 1)

	// Connections the client ends: with a close frame, or without one.
	carol := dial(t, ts)
	carol.connect(token(t, "carol", 0))
	_ = carol.c.Close(websocket.StatusNormalClosure, "bye")
	waitValue(`duplex_disconnects_total{code="client",reason="closed by client"}`, 1)
	dave := dial(t, ts)
	dave.connect(token(t, "dave", 0))
	_ = dave.c.CloseNow()
	waitValue(`duplex_disconnects_total{code="1006",reason="connection lost"}`, 1)

	waitValue("duplex_connections", 0)
	waitValue("duplex_subscriptions", 0)
	waitValue("duplex_channels", 0)
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
