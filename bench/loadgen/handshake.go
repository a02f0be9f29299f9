package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
)

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// offerDeflate is the only permessage-deflate offer the load generator
// makes: no context takeover either way, so that every message is
// compressed independently and its client frame can be precomputed.
const offerDeflate = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

// handshake performs the client opening handshake of RFC 6455 section 4.1
// on a raw TCP connection. Bytes the server sent after its response stay in
// buf[:n] for the frame reader.
func handshake(nc net.Conn, host, path string, compress bool, buf []byte) (n int, err error) {
	var keyRaw [16]byte
	if _, err := rand.Read(keyRaw[:]); err != nil {
		return 0, err
	}
	key := base64.StdEncoding.EncodeToString(keyRaw[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n"
	if compress {
		req += "Sec-WebSocket-Extensions: " + offerDeflate + "\r\n"
	}
	req += "\r\n"
	if _, err := nc.Write([]byte(req)); err != nil {
		return 0, fmt.Errorf("send the upgrade request: %w", err)
	}
	w := 0
	end := -1
	for end < 0 {
		if w == len(buf) {
			return 0, errors.New("handshake response larger than the read buffer")
		}
		m, err := nc.Read(buf[w:])
		if err != nil {
			return 0, fmt.Errorf("read the handshake response: %w", err)
		}
		w += m
		end = bytes.Index(buf[:w], []byte("\r\n\r\n"))
	}
	head := string(buf[:end])
	rest := copy(buf, buf[end+4:w])
	if err := checkResponse(head, key, compress); err != nil {
		return 0, err
	}
	return rest, nil
}

// checkResponse validates the server's 101 response.
func checkResponse(head, key string, compress bool) error {
	lines := strings.Split(head, "\r\n")
	if !strings.HasPrefix(lines[0], "HTTP/1.1 101") {
		return fmt.Errorf("server refused the upgrade: %q", lines[0])
	}
	h := sha1.Sum([]byte(key + wsGUID))
	wantAccept := base64.StdEncoding.EncodeToString(h[:])
	var accept, ext string
	for _, l := range lines[1:] {
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "sec-websocket-accept":
			accept = val
		case "sec-websocket-extensions":
			if ext != "" {
				ext += ", "
			}
			ext += val
		}
	}
	if accept != wantAccept {
		return fmt.Errorf("Sec-WebSocket-Accept is %q, want %q", accept, wantAccept)
	}
	switch {
	case compress && !strings.Contains(ext, "permessage-deflate"):
		return fmt.Errorf("server did not accept permessage-deflate (answered %q); start it with -compress", ext)
	case compress && !strings.Contains(ext, "server_no_context_takeover"):
		return fmt.Errorf("server accepted permessage-deflate without server_no_context_takeover (%q); the load generator cannot verify context-takeover streams", ext)
	case !compress && ext != "":
		return fmt.Errorf("server answered extensions %q that were not offered", ext)
	}
	return nil
}
