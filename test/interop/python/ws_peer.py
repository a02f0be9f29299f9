#!/usr/bin/python3
"""Python websockets (10.x API) peer for the Duplex interop tests.

  ws_peer.py server --compression MODE
      Echo server on 127.0.0.1, on a port the OS picks. Prints JSON events,
      one a line: {"event": "listening", "port": N}, then per connection
      "open" (with the Sec-WebSocket-Extensions it answered) and "closed"
      (with the close code and reason it received).

  ws_peer.py client --url URL --compression MODE --scenario basic|compress
      Runs a scenario against an echo server, printing a "check" event per
      passed check and exiting 1 with a "fail" event at the first mismatch.

MODE is none, default (the library's defaults: the server answers
server_max_window_bits=12, client_max_window_bits=12) or notakeover (no
context takeover in either direction).

Control messages understood by both sides (everything else is echoed):
  "cmd:close CODE REASON"  close the connection with CODE and REASON
  "cmd:ping"               ping the peer, then send "cmd:pinged"
"""

import argparse
import asyncio
import json
import sys

import websockets
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)

MAX_SIZE = 64 << 20
TIMEOUT = 30


def emit(event, **fields):
    fields["event"] = event
    print(json.dumps(fields), flush=True)


class Failure(Exception):
    pass


def binary(n, rep=0):
    """n bytes of a compressible, non-trivial pattern; rep varies the start."""
    base = bytes(((i % 97 * 31 + (i >> 12)) & 0xFF) for i in range(n))
    if n == 0:
        return base
    return bytes([rep & 0xFF]) + base[1:]


def text(n, rep=0):
    """At most n bytes (a partial last character is dropped) of UTF-8 text
    with multi-byte characters; rep varies the start."""
    unit = "interop ✓ 世界 duplex "
    s = f"{rep}:" + unit * (n // len(unit.encode()) + 1)
    return s.encode()[:n].decode("utf-8", "ignore")


def server_kwargs(mode):
    if mode == "none":
        return {"compression": None}
    if mode == "default":
        return {"compression": "deflate"}
    if mode == "notakeover":
        return {
            "compression": None,
            "extensions": [
                ServerPerMessageDeflateFactory(
                    server_no_context_takeover=True,
                    client_no_context_takeover=True,
                )
            ],
        }
    raise SystemExit(f"unknown compression mode {mode!r}")


def client_kwargs(mode):
    if mode == "none":
        return {"compression": None}
    if mode == "default":
        return {"compression": "deflate"}
    if mode == "notakeover":
        return {
            "compression": None,
            "extensions": [
                ClientPerMessageDeflateFactory(
                    server_no_context_takeover=True,
                    client_no_context_takeover=True,
                    client_max_window_bits=True,
                )
            ],
        }
    raise SystemExit(f"unknown compression mode {mode!r}")


async def run_server(mode):
    async def handler(ws, path):
        emit(
            "open",
            path=path,
            extensions=ws.response_headers.get("Sec-WebSocket-Extensions", ""),
        )
        try:
            async for msg in ws:
                if isinstance(msg, str) and msg.startswith("cmd:close "):
                    _, code, reason = msg.split(" ", 2)
                    await ws.close(int(code), reason)
                    break
                if msg == "cmd:ping":
                    waiter = await ws.ping(b"python-server")
                    await asyncio.wait_for(waiter, TIMEOUT)
                    await ws.send("cmd:pinged")
                    continue
                await ws.send(msg)
        except websockets.ConnectionClosed:
            pass
        await ws.wait_closed()
        emit("closed", code=ws.close_code, reason=ws.close_reason)

    async with websockets.serve(
        handler,
        "127.0.0.1",
        0,
        max_size=MAX_SIZE,
        ping_interval=None,
        **server_kwargs(mode),
    ) as server:
        port = server.sockets[0].getsockname()[1]
        emit("listening", port=port)
        await asyncio.Future()


async def expect_echo(ws, name, msg):
    await ws.send(msg)
    got = await asyncio.wait_for(ws.recv(), TIMEOUT)
    if type(got) is not type(msg):
        raise Failure(f"{name}: sent {type(msg).__name__}, echo is {type(got).__name__}")
    if got != msg:
        raise Failure(f"{name}: echo differs ({len(got)} vs {len(msg)} units)")
    emit("check", name=name)


async def basic(url, kwargs):
    async with websockets.connect(url, max_size=MAX_SIZE, ping_interval=None, **kwargs) as ws:
        emit("open", extensions=ws.response_headers.get("Sec-WebSocket-Extensions", ""))
        await expect_echo(ws, "text", "Hello, Duplex! ✓ héllo 世界")
        await expect_echo(ws, "binary", bytes(range(256)))
        await expect_echo(ws, "empty text", "")
        await expect_echo(ws, "empty binary", b"")
        await expect_echo(ws, "large binary", binary((1 << 20) + 13))
        await expect_echo(ws, "large text", text(1 << 20))

        await ws.send(["frag-1 ", "frag-2 ✓ ", "frag-3"])
        got = await asyncio.wait_for(ws.recv(), TIMEOUT)
        if got != "frag-1 frag-2 ✓ frag-3":
            raise Failure(f"fragmented text: echo is {got!r}")
        emit("check", name="fragmented text")
        await ws.send([b"\x00\x01", b"\x02", b"\x03\x04"])
        got = await asyncio.wait_for(ws.recv(), TIMEOUT)
        if got != b"\x00\x01\x02\x03\x04":
            raise Failure(f"fragmented binary: echo is {got!r}")
        emit("check", name="fragmented binary")

        waiter = await ws.ping(b"python-client")
        await asyncio.wait_for(waiter, TIMEOUT)
        emit("check", name="ping")
        await ws.send("cmd:ping")
        got = await asyncio.wait_for(ws.recv(), TIMEOUT)
        if got != "cmd:pinged":
            raise Failure(f"server ping: got {got!r}, want 'cmd:pinged'")
        emit("check", name="pinged by server")

        # The server closes: its code and reason must arrive.
        await ws.send("cmd:close 4001 server says bye ✓")
        try:
            got = await asyncio.wait_for(ws.recv(), TIMEOUT)
            raise Failure(f"server close: got message {got!r} instead of a close")
        except websockets.ConnectionClosed:
            pass
        if (ws.close_code, ws.close_reason) != (4001, "server says bye ✓"):
            raise Failure(f"server close: got {ws.close_code} {ws.close_reason!r}")
        emit("check", name="close by server")

    # The client closes: the server reports what it received.
    async with websockets.connect(url, max_size=MAX_SIZE, ping_interval=None, **kwargs) as ws:
        await expect_echo(ws, "second connection", "again")
        await ws.close(4002, "client says bye ✓")
        emit("check", name="close by client", echoed_code=ws.close_code, echoed_reason=ws.close_reason)


async def compress(url, kwargs):
    async with websockets.connect(url, max_size=MAX_SIZE, ping_interval=None, **kwargs) as ws:
        emit("open", extensions=ws.response_headers.get("Sec-WebSocket-Extensions", ""))
        bases = {n: binary(n) for n in (10, 10 << 10, 1 << 20)}
        for rep in range(5):
            for n, base in bases.items():
                b = bytes([rep]) + base[1:]
                await expect_echo(ws, f"binary {n} #{rep}", b)
                await expect_echo(ws, f"text {n} #{rep}", text(n, rep))
        # A compressed message in fragments: only the first has RSV1.
        parts = [text(10 << 10, 7), text(10 << 10, 8), text(10 << 10, 9)]
        await ws.send(parts)
        got = await asyncio.wait_for(ws.recv(), TIMEOUT)
        if got != "".join(parts):
            raise Failure(f"fragmented text: echo of {len(got)} characters differs")
        emit("check", name="fragmented text")
        parts = [binary(10 << 10, 7), binary(10 << 10, 8), binary(10 << 10, 9)]
        await ws.send(parts)
        got = await asyncio.wait_for(ws.recv(), TIMEOUT)
        if got != b"".join(parts):
            raise Failure(f"fragmented binary: echo of {len(got)} bytes differs")
        emit("check", name="fragmented binary")
        await ws.close(1000, "done")
        emit("check", name="close", echoed_code=ws.close_code)


async def run_client(url, mode, scenario):
    kwargs = client_kwargs(mode)
    try:
        if scenario == "basic":
            await basic(url, kwargs)
        elif scenario == "compress":
            await compress(url, kwargs)
        else:
            raise SystemExit(f"unknown scenario {scenario!r}")
    except Failure as e:
        emit("fail", error=str(e))
        return 1
    emit("done")
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["server", "client"])
    p.add_argument("--url")
    p.add_argument("--compression", default="none")
    p.add_argument("--scenario", default="basic")
    a = p.parse_args()
    if a.role == "server":
        asyncio.run(run_server(a.compression))
        return 0
    return asyncio.run(run_client(a.url, a.compression, a.scenario))


if __name__ == "__main__":
    sys.exit(main())
