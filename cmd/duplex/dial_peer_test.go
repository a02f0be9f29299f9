package main

import (
	"os/exec"
	"testing"
)

// pythonEcho is an echo server written with Python's websockets (the 10.4
// API of Debian 12: handlers take (ws, path)), an implementation
// independent of ours. It offers permessage-deflate by default.
const pythonEcho = `
import asyncio, websockets

async def echo(ws, path):
    async for msg in ws:
        await ws.send(msg)

async def main():
    async with websockets.serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        print("listening on ws://127.0.0.1:%d/" % port, flush=True)
        await asyncio.Future()

asyncio.run(main())
`

func TestDialPipeAgainstPythonWebsockets(t *testing.T) {
	// Debian's module is seen only by Debian's interpreter.
	const python = "/usr/bin/python3"
	err := exec.Command(python, "-c", "import websockets").Run()
	needPeer(t, err == nil, "Python websockets (apt-get install python3-websockets)")
	srv := startServerProcess(t, exec.Command(python, "-c", pythonEcho))

	r := runDuplex(t, "hello python\nsecond line\n", "dial", "--show-control", srv.url)
	if r.code != 0 || r.stdout != "hello python\nsecond line\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runDuplex(t, "\x01\x02\x03", "dial", "--binary", "--compress=false", srv.url)
	if r.code != 0 || r.stdout != "010203\n" {
		t.Fatalf("binary: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runDuplex(t, "", "dial", "--send", `{"n":1}`, "--count", "5", srv.url)
	if r.code != 0 || r.stdout != "{\"n\":1}\n{\"n\":1}\n{\"n\":1}\n{\"n\":1}\n{\"n\":1}\n" {
		t.Fatalf("one-shot: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
