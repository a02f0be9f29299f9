package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestFSHoldsEveryFile(t *testing.T) {
	for _, name := range []string{"index.html", "demo.js", "demo.css", "duplex.js", "duplex.d.ts"} {
		b, err := fs.ReadFile(FS(), name)
		if err != nil {
			t.Errorf("embedded %s: %v", name, err)
			continue
		}
		if len(b) == 0 {
			t.Errorf("embedded %s is empty", name)
		}
	}
}

// TestPageReferencesExist guards against a renamed file that the page or the
// demo script still loads: every local src/href and module import must be
// embedded.
func TestPageReferencesExist(t *testing.T) {
	refs := map[string]*regexp.Regexp{
		"index.html": regexp.MustCompile(`(?:src|href)="([^"]+)"`),
		"demo.js":    regexp.MustCompile(`from '\./([^']+)'`),
	}
	for file, re := range refs {
		b, err := fs.ReadFile(FS(), file)
		if err != nil {
			t.Fatal(err)
		}
		matches := re.FindAllStringSubmatch(string(b), -1)
		if len(matches) == 0 {
			t.Fatalf("%s: found no references; has its markup changed?", file)
		}
		for _, m := range matches {
			if strings.Contains(m[1], ":") {
				continue // a data: or absolute URL, not a file of ours
			}
			if _, err := fs.Stat(FS(), m[1]); err != nil {
				t.Errorf("%s references %q, which is not embedded", file, m[1])
			}
		}
	}
}

func TestHandlerServesFiles(t *testing.T) {
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	cases := []struct {
		path, contentType, contains string
	}{
		{"/", "text/html; charset=utf-8", `id="messages"`},
		{"/index.html", "text/html; charset=utf-8", `<script type="module" src="demo.js">`},
		{"/duplex.js", "text/javascript; charset=utf-8", "export class DuplexClient"},
		{"/demo.js", "text/javascript; charset=utf-8", "window).duplexDemo"},
		{"/demo.css", "text/css; charset=utf-8", ".badge"},
		{"/duplex.d.ts", "text/plain; charset=utf-8", "export declare class DuplexClient"},
		{"/./sub/../duplex.js", "text/javascript; charset=utf-8", "export class Subscription"},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			res, err := http.Get(srv.URL + c.path)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", res.StatusCode)
			}
			if got := res.Header.Get("Content-Type"); got != c.contentType {
				t.Errorf("Content-Type %q, want %q", got, c.contentType)
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
			if !strings.Contains(string(body), c.contains) {
				t.Errorf("body does not contain %q", c.contains)
			}
		})
	}
}

func TestHandlerRevalidation(t *testing.T) {
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	res, err := http.Get(srv.URL + "/duplex.js")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	etag := res.Header.Get("ETag")
	if !regexp.MustCompile(`^"[0-9a-f]{24}"$`).MatchString(etag) {
		t.Fatalf("ETag %q is not a quoted hash", etag)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control %q, want no-cache", cc)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/duplex.js", nil)
	req.Header.Set("If-None-Match", etag)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the current ETag: status %d, want 304", res.StatusCode)
	}
}

func TestHandlerRejects(t *testing.T) {
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	cases := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/nope.js", http.StatusNotFound},
		{http.MethodGet, "/../embed.go", http.StatusNotFound},
		{http.MethodGet, "/embed.go", http.StatusNotFound},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
		{http.MethodHead, "/duplex.js", http.StatusOK},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != c.status {
			t.Errorf("%s %s: status %d, want %d", c.method, c.path, res.StatusCode, c.status)
		}
		if c.method == http.MethodHead && len(body) != 0 {
			t.Errorf("HEAD returned %d body bytes", len(body))
		}
		if c.method == http.MethodPost && res.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("405 without Allow: GET, HEAD")
		}
	}
}

func TestIndexHasCSP(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	csp := rec.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "connect-src 'self' ws: wss:"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
}
