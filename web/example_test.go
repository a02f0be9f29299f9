package web_test

import (
	"net/http"

	"github.com/duplexws/duplex/web"
)

// Serving the demo page and the client library next to other endpoints.
func ExampleHandler() {
	mux := http.NewServeMux()
	mux.Handle("/", web.Handler()) // "/", "/duplex.js", "/duplex.d.ts", ...
	// Or under a prefix: the page loads its files by relative URL.
	mux.Handle("/chat/", http.StripPrefix("/chat", web.Handler()))
	_ = http.ListenAndServe("127.0.0.1:0", mux)
}
