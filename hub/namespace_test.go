package hub

import (
	"errors"
	"testing"
	"time"
)

func TestNamespaceOf(t *testing.T) {
	tests := map[string]string{
		"chat:lobby":  "chat",
		"lobby":       "",
		"a:b:c":       "a",
		":x":          "",
		"chat:":       "chat",
		"news:2025:1": "news",
	}
	for channel, want := range tests {
		if got := NamespaceOf(channel); got != want {
			t.Errorf("NamespaceOf(%q) = %q, want %q", channel, got, want)
		}
	}
}

func TestNewValidatesNamespaces(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want error // nil: valid
	}{
		{"zero", Options{}, nil},
		{"history", Options{Namespaces: map[string]NamespaceOptions{"chat": {HistorySize: 10, HistoryTTL: time.Minute}}}, nil},
		{"size without ttl", Options{Namespaces: map[string]NamespaceOptions{"chat": {HistorySize: 10}}}, ErrInvalidOptions},
		{"ttl without size", Options{Default: NamespaceOptions{HistoryTTL: time.Minute}}, ErrInvalidOptions},
		{"negative", Options{Namespaces: map[string]NamespaceOptions{"chat": {HistoryMetaTTL: -1}}}, ErrInvalidOptions},
		{"separator in name", Options{Namespaces: map[string]NamespaceOptions{"a:b": {}}}, ErrInvalidOptions},
		{"empty name", Options{Namespaces: map[string]NamespaceOptions{"": {}}}, ErrInvalidOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := New(tt.opts)
			if h != nil {
				t.Cleanup(func() { _ = h.Close() })
			}
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("New: error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestHubNamespaceLookup(t *testing.T) {
	chat := NamespaceOptions{HistorySize: 5, HistoryTTL: time.Minute, AllowPublish: true}
	h := newTestHub(t, Options{Namespaces: map[string]NamespaceOptions{"chat": chat}, Default: NamespaceOptions{JoinLeave: true}})
	tests := []struct {
		channel string
		want    NamespaceOptions
		err     error
	}{
		{"chat:lobby", chat, nil},
		{"lobby", NamespaceOptions{JoinLeave: true}, nil},
		{"nope:lobby", NamespaceOptions{}, ErrUnknownNamespace},
		{"", NamespaceOptions{}, ErrInvalidChannel},
	}
	for _, tt := range tests {
		got, err := h.Namespace(tt.channel)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("Namespace(%q) = %+v, %v; want %+v, %v", tt.channel, got, err, tt.want, tt.err)
		}
	}
}
