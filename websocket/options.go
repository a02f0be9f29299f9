package websocket

import "time"

// Defaults for the limits and timeouts of a connection.
const (
	// DefaultReadLimit is the largest message a connection accepts unless
	// told otherwise: 16 MiB. A larger message closes the connection with
	// StatusMessageTooBig.
	DefaultReadLimit = 16 << 20
	// DefaultHandshakeTimeout bounds the opening handshake.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultCloseTimeout bounds the wait for the peer's answer to a close frame.
	DefaultCloseTimeout = 5 * time.Second
	// DefaultBufferSize is the size of the pooled read and write buffers.
	DefaultBufferSize = 4096
)

// connConfig is what Accept and Dial hand to a new Conn.
type connConfig struct {
	readLimit       int64
	closeTimeout    time.Duration
	pingInterval    time.Duration
	pingTimeout     time.Duration
	readBufferSize  int
	writeBufferSize int
	deflateOn       bool
	onPing, onPong  func([]byte)
	deflate         deflateParams
	compression     *CompressionOptions
}

func newConnConfig(readLimit int64, closeTimeout, pingInterval, pingTimeout time.Duration, rbs, wbs int) connConfig {
	cfg := connConfig{
		readLimit:       readLimit,
		closeTimeout:    closeTimeout,
		pingInterval:    pingInterval,
		pingTimeout:     pingTimeout,
		readBufferSize:  rbs,
		writeBufferSize: wbs,
	}
	switch {
	case cfg.readLimit == 0:
		cfg.readLimit = DefaultReadLimit
	case cfg.readLimit < 0:
		cfg.readLimit = 1<<63 - 1
	}
	if cfg.closeTimeout <= 0 {
		cfg.closeTimeout = DefaultCloseTimeout
	}
	if cfg.pingInterval > 0 && cfg.pingTimeout <= 0 {
		cfg.pingTimeout = cfg.pingInterval
	}
	if cfg.readBufferSize <= 0 {
		cfg.readBufferSize = DefaultBufferSize
	}
	if cfg.readBufferSize < 256 {
		cfg.readBufferSize = 256
	}
	if cfg.writeBufferSize <= 0 {
		cfg.writeBufferSize = DefaultBufferSize
	}
	if cfg.writeBufferSize < 256 {
		cfg.writeBufferSize = 256
	}
	return cfg
}
