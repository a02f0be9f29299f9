package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duplexws/duplex/websocket"
)

func init() {
	register(&command{name: "exec", short: "serve a program over WebSocket: one process per connection (like websocketd)", run: runExec})
}

const execAbout = `
Listens for WebSocket connections and starts PROGRAM for each one. The
flags of exec come before PROGRAM; what follows it is its arguments. Every
line the program writes on its standard output is sent as a text message
(a line that is not UTF-8 goes as binary); every message received is
written to its standard input followed by a newline. With --binary, each
chunk the program writes is sent as a binary message and messages are
written to its input as they are, without newlines. Its standard error is
copied to this command's, each line prefixed with the process id.

The request is described to the program in environment variables, as CGI
does: REQUEST_METHOD, REQUEST_URI, PATH_INFO, QUERY_STRING, SERVER_NAME,
SERVER_PORT, SERVER_PROTOCOL, SERVER_SOFTWARE, GATEWAY_INTERFACE,
REMOTE_ADDR, REMOTE_PORT, REMOTE_USER and AUTH_TYPE (basic auth, without
the password), one HTTP_NAME per request header (not Authorization nor
Proxy), and DUPLEX_CONNECTION_ID, a number unique to the connection. Of
this command's own environment only the variables in --passenv are kept.

When the program exits the connection is closed: 1000 "program exited"
for exit status 0, 1011 "program exited with status N" otherwise, 1011
"program killed by signal S" when a signal ended it. When the connection
closes, the program's standard input is closed; a program still running
--kill-after later gets SIGTERM, and SIGKILL as much later again (its whole
process group). Over --max-procs, new connections are refused with 503.
Browser pages are allowed only from the server's own host unless --origin
allows more (as the websocket package's Accept does).`

const execExamples = `  duplex exec --addr 127.0.0.1:8080 -- /usr/bin/env sh -c 'while read l; do echo "you said: $l"; done'
  duplex exec --max-procs 10 --idle-timeout 5m -- ./counter.sh
  duplex exec --binary -- cat`

type execOptions struct {
	addr        string
	binary      bool
	maxProcs    int
	maxMessage  int64
	idleTimeout time.Duration
	killAfter   time.Duration
	origins     multiFlag
	anyOrigin   bool
	compress    bool
	passenv     string
	dir         string
	argv        []string
}

func runExec(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newCommandFlags("exec", "exec [--addr HOST:PORT] [flags] [--] PROGRAM [ARGS...]", execAbout, execExamples, stdout, stderr)
	o := &execOptions{}
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "`HOST:PORT` to listen on (port 0: any free port, printed at start)")
	fs.BoolVar(&o.binary, "binary", false, "binary mode: chunks of output become binary messages, messages go to input unchanged")
	fs.IntVar(&o.maxProcs, "max-procs", 64, "most programs running at once; further connections get 503")
	fs.Int64Var(&o.maxMessage, "max-message", 1<<20, "largest message accepted, and longest output line sent, in `bytes` (1009 beyond)")
	fs.DurationVar(&o.idleTimeout, "idle-timeout", 0, "close a connection with no message either way for this `duration`, with 1001 (0: never)")
	fs.DurationVar(&o.killAfter, "kill-after", 2*time.Second, "after the connection closes, wait this long for the program to exit before SIGTERM (and as long again before SIGKILL)")
	fs.Var(&o.origins, "origin", "host `pattern` (path.Match, such as *.example.com) of browser pages allowed besides the server's own host (repeatable)")
	fs.BoolVar(&o.anyOrigin, "any-origin", false, "allow pages from any origin (only for programs that do not rely on cookies)")
	fs.BoolVar(&o.compress, "compress", false, "accept permessage-deflate")
	fs.StringVar(&o.passenv, "passenv", "PATH,HOME,LANG,LC_ALL,TZ,TMPDIR", "comma-separated `names` of variables of this environment passed to the program")
	fs.StringVar(&o.dir, "dir", "", "working `directory` of the program (default: this one's)")
	// Flags end at the program: what follows it are its own arguments,
	// as with websocketd, env or sudo ("--" before it is optional).
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError(fs, "give the program to run, such as: duplex exec -- ./script.sh")
	}
	o.argv = fs.Args()
	if o.maxProcs < 1 || o.maxMessage < 1 || o.killAfter <= 0 || o.idleTimeout < 0 {
		return usageError(fs, "--max-procs, --max-message and --kill-after must be positive, --idle-timeout not negative")
	}
	if err := checkProgram(o.argv[0], o.dir); err != nil {
		return err
	}
	ln, err := listen(ctx, o.addr, "--addr")
	if err != nil {
		return err
	}
	srv := newExecServer(o, stderr)
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "duplex exec listening on ws://%s/ running %s\n", ln.Addr(), shellJoin(o.argv))
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), o.killAfter*3)
		defer cancel()
		_ = hs.Shutdown(sctx)
		srv.shutdown()
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	srv.wait()
	return nil
}

// checkProgram reports, before any connection comes, a program that
// cannot be started: a path (relative to dir, if given) that is not an
// executable file, or a name not found in PATH.
func checkProgram(name, dir string) error {
	if !strings.Contains(name, "/") {
		if _, err := exec.LookPath(name); err != nil {
			return fmt.Errorf("cannot run %s: it is not an executable found in PATH", name)
		}
		return nil
	}
	path := name
	if dir != "" && !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Errorf("cannot run %s: %w", name, errors.Unwrap(err))
	case fi.IsDir():
		return fmt.Errorf("cannot run %s: it is a directory", name)
	case fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("cannot run %s: it is not executable (chmod +x %s, or run it through its interpreter: -- sh %s)", name, name, name)
	}
	return nil
}

// execServer accepts connections and runs one program per connection.
type execServer struct {
	o      *execOptions
	accept *websocket.AcceptOptions
	stderr io.Writer
	errMu  sync.Mutex

	running atomic.Int64
	nextID  atomic.Int64

	mu       sync.Mutex
	sessions map[*execSession]struct{}
	wg       sync.WaitGroup
}

func newExecServer(o *execOptions, stderr io.Writer) *execServer {
	ao := &websocket.AcceptOptions{OriginPatterns: o.origins, InsecureSkipVerify: o.anyOrigin, ReadLimit: o.maxMessage}
	if o.compress {
		ao.Compression = &websocket.CompressionOptions{}
	}
	return &execServer{o: o, accept: ao, stderr: stderr, sessions: map[*execSession]struct{}{}}
}

func (s *execServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Count the process before the upgrade so that a burst of
	// connections cannot overshoot the limit.
	if s.running.Add(1) > int64(s.o.maxProcs) {
		s.running.Add(-1)
		w.Header().Set("Retry-After", "1")
		http.Error(w, fmt.Sprintf("too many connections: %d programs already run, the most --max-procs allows", s.o.maxProcs), http.StatusServiceUnavailable)
		return
	}
	defer s.running.Add(-1)
	conn, err := websocket.Accept(w, r, s.accept)
	if err != nil {
		return
	}
	sess := &execSession{srv: s, conn: conn, id: s.nextID.Add(1)}
	s.mu.Lock()
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, sess)
		s.mu.Unlock()
		s.wg.Done()
	}()
	sess.run(r)
}

// logf writes one line to standard error.
func (s *execServer) logf(format string, a ...any) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	fmt.Fprintf(s.stderr, format+"\n", a...)
}

// shutdown closes every connection with 1001, which ends their programs.
func (s *execServer) shutdown() {
	s.mu.Lock()
	all := make([]*execSession, 0, len(s.sessions))
	for sess := range s.sessions {
		all = append(all, sess)
	}
	s.mu.Unlock()
	for _, sess := range all {
		go sess.closeConn(websocket.StatusGoingAway, "server shutting down")
	}
}

func (s *execServer) wait() { s.wg.Wait() }

// shellJoin shows a command line as it would be typed in a shell.
func shellJoin(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune("-_./:=,+@%", r))
		}) < 0 {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
