// Package web holds the browser side of Duplex: the client library duplex.js
// (an ES module speaking the protocol of docs/protocol.md), its TypeScript
// types duplex.d.ts, and the demo chat page. The files are embedded in the
// binary so that `duplex serve` can offer them at "/" with no files on disk.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed index.html demo.js demo.css duplex.js duplex.d.ts
var files embed.FS

// FS returns the embedded files with the names they have in this directory
// (index.html, demo.js, demo.css, duplex.js, duplex.d.ts) at its root.
func FS() fs.FS { return files }

// contentTypes is fixed here rather than taken from mime.TypeByExtension,
// whose answer depends on the machine's mime tables (some map ".ts" to
// MPEG transport streams).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".ts":   "text/plain; charset=utf-8",
}

// pageCSP keeps the demo page to its own origin; connect-src names ws: and
// wss: because browsers before CSP level 3 do not count them as 'self'.
const pageCSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

type asset struct {
	body        []byte
	etag        string
	contentType string
}

type handler struct {
	assets map[string]asset
}

// Handler returns an http.Handler serving the embedded files: "/" is the demo
// page, "/duplex.js" the client library, "/duplex.d.ts" its types, and so on.
// It answers GET and HEAD (405 otherwise), 404 for any other path, and sets
// Content-Type, a strong ETag (so If-None-Match gets 304) and
// "Cache-Control: no-cache" so browsers revalidate after an upgrade.
// Mount it at the root of a mux, or under a prefix with http.StripPrefix;
// the page loads its files by relative URL, so either works.
func Handler() http.Handler {
	h := &handler{assets: make(map[string]asset)}
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		panic("web: reading embedded files: " + err.Error()) // cannot happen with go:embed
	}
	for _, e := range entries {
		body, err := fs.ReadFile(files, e.Name())
		if err != nil {
			panic("web: reading embedded file: " + err.Error())
		}
		sum := sha256.Sum256(body)
		ctype, ok := contentTypes[path.Ext(e.Name())]
		if !ok {
			ctype = "application/octet-stream"
		}
		h.assets[e.Name()] = asset{
			body:        body,
			etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
			contentType: ctype,
		}
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: use GET or HEAD", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" {
		name = "index.html"
	}
	a, ok := h.assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("ETag", a.etag)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if name == "index.html" {
		hdr.Set("Content-Security-Policy", pageCSP)
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}
