package main

import (
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// cgiEnv describes the request to the program as CGI (RFC 3875 §4.1)
// does, plus DUPLEX_CONNECTION_ID.
func cgiEnv(r *http.Request, o *execOptions, id int64) []string {
	var env []string
	for _, name := range strings.Split(o.passenv, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	set := func(k, v string) { env = append(env, k+"="+v) }
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, "80"
	}
	raddr, rport, _ := net.SplitHostPort(r.RemoteAddr)
	set("GATEWAY_INTERFACE", "CGI/1.1")
	set("SERVER_SOFTWARE", "duplex/"+releaseVersion)
	set("SERVER_PROTOCOL", r.Proto)
	set("SERVER_NAME", host)
	set("SERVER_PORT", port)
	set("REQUEST_METHOD", r.Method)
	set("REQUEST_URI", r.URL.RequestURI())
	set("SCRIPT_NAME", "")
	set("PATH_INFO", r.URL.Path)
	set("QUERY_STRING", r.URL.RawQuery)
	set("REMOTE_ADDR", raddr)
	set("REMOTE_HOST", raddr)
	set("REMOTE_PORT", rport)
	if user, _, ok := r.BasicAuth(); ok {
		set("AUTH_TYPE", "Basic")
		set("REMOTE_USER", user)
	}
	if r.TLS != nil {
		set("HTTPS", "on")
	}
	set("DUPLEX_CONNECTION_ID", strconv.FormatInt(id, 10))
	for name, vals := range r.Header {
		switch name {
		// The password must not reach the program's environment, and a
		// "Proxy" header would become HTTP_PROXY, which programs take as
		// their proxy setting ("httpoxy").
		case "Authorization", "Proxy":
			continue
		}
		// A name with "_" or other characters would map to the same
		// variable as a header with "-" in their place, so that a client
		// could pass off its own X_Forwarded_For as the X-Forwarded-For
		// of a proxy in front: such headers are left out, as nginx does.
		if strings.IndexFunc(name, func(r rune) bool {
			return !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		}) >= 0 {
			continue
		}
		key := "HTTP_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		set(key, strings.Join(vals, ", "))
	}
	return env
}
