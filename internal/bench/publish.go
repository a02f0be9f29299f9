package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Publisher publishes timestamped publications through the server's HTTP
// API (docs/protocol.md §13), as a backend would. Each publication's data
// is {"ts": <Unix nanoseconds at sending>, "seq": <n>}, which the subscribe
// mode reads back.
type Publisher struct {
	// URL is the publish endpoint, such as http://127.0.0.1:8000/api/publish.
	URL     string
	APIKey  string
	Channel string
	// Rate is publications per second.
	Rate float64
	// Count stops after that many publications; zero publishes until the
	// stop channel closes.
	Count  int64
	Client *http.Client
}

// PublishResult is what the publisher did.
type PublishResult struct {
	Published    int64    `json:"published"`
	Failed       int64    `json:"failed"`
	Seconds      float64  `json:"seconds"`
	ErrorSamples []string `json:"error_samples,omitempty"`
}

// PublishURL derives the HTTP API's publish URL from the WebSocket URL of
// the same server.
func PublishURL(wsURL string) (string, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	}
	u.Path, u.RawPath, u.RawQuery, u.Fragment = "/api/publish", "", "", ""
	return u.String(), nil
}

// Run publishes at the configured rate until Count is reached, stop is
// closed or ctx ends. A publication slower than the interval delays the
// next one: the achieved rate is Published / Seconds.
func (p *Publisher) Run(ctx context.Context, stop <-chan struct{}) PublishResult {
	client := p.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	chanJSON := strconv.Quote(p.Channel)
	var res PublishResult
	begin := time.Now()
	interval := time.Duration(float64(time.Second) / p.Rate)
	body := make([]byte, 0, 128)
	for seq := int64(0); p.Count == 0 || seq < p.Count; seq++ {
		if d := time.Until(begin.Add(time.Duration(seq) * interval)); d > 0 {
			select {
			case <-time.After(d):
			case <-stop:
				res.Seconds = time.Since(begin).Seconds()
				return res
			case <-ctx.Done():
				res.Seconds = time.Since(begin).Seconds()
				return res
			}
		}
		select {
		case <-stop:
			res.Seconds = time.Since(begin).Seconds()
			return res
		default:
		}
		body = append(body[:0], `{"channel":`...)
		body = append(body, chanJSON...)
		body = append(body, `,"data":{"ts":`...)
		body = strconv.AppendInt(body, time.Now().UnixNano(), 10)
		body = append(body, `,"seq":`...)
		body = strconv.AppendInt(body, seq, 10)
		body = append(body, "}}"...)
		if err := p.publish(ctx, client, body); err != nil {
			res.Failed++
			res.ErrorSamples = addSample(res.ErrorSamples, err.Error())
			continue
		}
		res.Published++
	}
	res.Seconds = time.Since(begin).Seconds()
	return res
}

func (p *Publisher) publish(ctx context.Context, client *http.Client, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "apikey "+p.APIKey)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || bytes.Contains(answer, []byte(`"error"`)) {
		return fmt.Errorf("publish answered %s: %s", resp.Status, bytes.TrimSpace(answer))
	}
	return nil
}
