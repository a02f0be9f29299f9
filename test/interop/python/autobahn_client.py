#!/usr/bin/python3
"""Autobahn (asyncio) client for the Duplex interop tests.

  autobahn_client.py --url URL --compression none|offer --scenario basic|compress

Prints the same JSON events as ws_peer.py's client. "offer" offers
permessage-deflate with autobahn's defaults and accepts whatever valid
answer the server gives.

txaio must be told to use asyncio and this script's loop before autobahn
runs, or the opening handshake silently never completes.
"""

import argparse
import asyncio
import json
import sys
from urllib.parse import urlparse

import txaio

txaio.use_asyncio()

from autobahn.asyncio.websocket import (  # noqa: E402  (after txaio setup)
    WebSocketClientFactory,
    WebSocketClientProtocol,
)
from autobahn.websocket.compress import (  # noqa: E402
    PerMessageDeflateOffer,
    PerMessageDeflateResponse,
    PerMessageDeflateResponseAccept,
)

TIMEOUT = 30


def emit(event, **fields):
    fields["event"] = event
    print(json.dumps(fields), flush=True)


class Failure(Exception):
    pass


def binary(n, rep=0):
    base = bytes(((i % 97 * 31 + (i >> 12)) & 0xFF) for i in range(n))
    return base if n == 0 else bytes([rep & 0xFF]) + base[1:]


def text(n, rep=0):
    unit = "interop ✓ 世界 duplex "
    s = f"{rep}:" + unit * (n // len(unit.encode()) + 1)
    return s.encode()[:n].decode("utf-8", "ignore")


class Client(WebSocketClientProtocol):
    def onConnect(self, response):
        self.factory.extensions = response.headers.get("sec-websocket-extensions", "")

    def onOpen(self):
        if not self.factory.opened.done():
            self.factory.opened.set_result(self)

    def onMessage(self, payload, isBinary):
        self.factory.messages.put_nowait((payload, isBinary))

    def onPong(self, payload):
        self.factory.pongs.put_nowait(payload)

    def onClose(self, wasClean, code, reason):
        if not self.factory.opened.done():
            self.factory.opened.set_exception(Failure(f"closed before opening: {code} {reason}"))
        if not self.factory.closed.done():
            self.factory.closed.set_result((wasClean, code, reason))


async def connect(url, compression):
    loop = asyncio.get_running_loop()
    txaio.config.loop = loop
    factory = WebSocketClientFactory(url)
    factory.protocol = Client
    factory.opened = loop.create_future()
    factory.closed = loop.create_future()
    factory.messages = asyncio.Queue()
    factory.pongs = asyncio.Queue()
    factory.extensions = ""
    options = dict(
        maxFramePayloadSize=0,
        maxMessagePayloadSize=0,
        openHandshakeTimeout=TIMEOUT,
        closeHandshakeTimeout=TIMEOUT,
    )
    if compression == "offer":

        def accept(response):
            if isinstance(response, PerMessageDeflateResponse):
                return PerMessageDeflateResponseAccept(response)
            return None

        options.update(
            perMessageCompressionOffers=[PerMessageDeflateOffer()],
            perMessageCompressionAccept=accept,
        )
    factory.setProtocolOptions(**options)
    u = urlparse(url)
    await loop.create_connection(factory, u.hostname, u.port)
    proto = await asyncio.wait_for(factory.opened, TIMEOUT)
    in_use = [e.EXTENSION_NAME for e in proto.websocket_extensions_in_use]
    emit("open", extensions=factory.extensions, in_use=",".join(in_use))
    return proto, factory


async def expect_echo(proto, factory, name, msg):
    is_binary = isinstance(msg, bytes)
    payload = msg if is_binary else msg.encode()
    proto.sendMessage(payload, isBinary=is_binary)
    got, got_binary = await asyncio.wait_for(factory.messages.get(), TIMEOUT)
    if got_binary != is_binary:
        raise Failure(f"{name}: sent binary={is_binary}, echo binary={got_binary}")
    if got != payload:
        raise Failure(f"{name}: echo of {len(got)} bytes differs from the {len(payload)} sent")
    emit("check", name=name)


async def close(proto, factory, code, reason):
    proto.sendClose(code=code, reason=reason)
    clean, got_code, got_reason = await asyncio.wait_for(factory.closed, TIMEOUT)
    if not clean:
        raise Failure(f"close {code}: the closing handshake was not clean ({got_code} {got_reason})")
    return got_code


async def basic(url, compression):
    proto, factory = await connect(url, compression)
    await expect_echo(proto, factory, "text", "Hello, Duplex! ✓ héllo 世界")
    await expect_echo(proto, factory, "binary", bytes(range(256)))
    await expect_echo(proto, factory, "large binary", binary((1 << 20) + 13))
    await expect_echo(proto, factory, "large text", text(1 << 20))
    proto.sendPing(b"autobahn")
    got = await asyncio.wait_for(factory.pongs.get(), TIMEOUT)
    if got != b"autobahn":
        raise Failure(f"ping: pong carries {got!r}")
    emit("check", name="ping")
    code = await close(proto, factory, 4002, "client says bye ✓")
    emit("check", name="close by client", echoed_code=code)


async def compress(url, compression):
    proto, factory = await connect(url, compression)
    bases = {n: binary(n) for n in (10, 10 << 10, 1 << 20)}
    for rep in range(5):
        for n, base in bases.items():
            await expect_echo(proto, factory, f"binary {n} #{rep}", bytes([rep]) + base[1:])
            await expect_echo(proto, factory, f"text {n} #{rep}", text(n, rep))
    # autoFragmentSize cuts the compressed payload, which is a few hundred
    # bytes for these 100 KiB messages: 32-byte frames make many fragments.
    proto.autoFragmentSize = 32
    await expect_echo(proto, factory, "fragmented text", text(100 << 10, 7))
    await expect_echo(proto, factory, "fragmented binary", binary(100 << 10, 8))
    code = await close(proto, factory, 1000, "done")
    emit("check", name="close", echoed_code=code)


async def main_async(a):
    try:
        await {"basic": basic, "compress": compress}[a.scenario](a.url, a.compression)
    except (Failure, asyncio.TimeoutError) as e:
        emit("fail", error=f"{type(e).__name__}: {e}")
        return 1
    emit("done")
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--compression", default="none", choices=["none", "offer"])
    p.add_argument("--scenario", default="basic", choices=["basic", "compress"])
    return asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
