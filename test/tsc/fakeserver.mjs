// A stand-in for a Duplex server, used by the node tests of web/duplex.js:
// a WebSocket class whose sockets talk to an in-memory server that follows
// docs/protocol.md closely enough to exercise the client (streams with
// offsets and epochs, recovery, pushes), with hooks to misbehave on purpose.

export class FakeServer {
  constructor() {
    /** Every socket the client created, oldest first. */
    this.sockets = [];
    /** channel -> {epoch, top, pubs: [{offset, epoch, data}]} */
    this.streams = new Map();
    /** method -> (params, sock, msg) => result | {error} | undefined (no reply). Overrides the defaults. */
    this.handlers = new Map();
    this.connects = 0;
    const server = this;
    /** The constructor to pass as options.websocket. */
    this.WebSocket = class FakeWebSocket {
      constructor(url) {
        this.url = url;
        this.readyState = 0;
        this.onopen = this.onmessage = this.onerror = this.onclose = null;
        /** Messages the client sent, parsed. */
        this.sent = [];
        /** Channels the client is subscribed to on this socket. */
        this.channels = new Set();
        this.closedBy = '';
        server.sockets.push(this);
        setTimeout(() => {
          if (this.readyState !== 0) return;
          this.readyState = 1;
          if (this.onopen) this.onopen({});
        }, 0);
      }

      send(data) {
        if (this.readyState !== 1) throw new Error('send on a socket that is not open');
        const msg = JSON.parse(data);
        this.sent.push(msg);
        server._handle(this, msg);
      }

      close(code = 1000, reason = '') {
        if (this.readyState >= 2) return;
        this.readyState = 3;
        this.closedBy = 'client';
        setTimeout(() => {
          if (this.onclose) this.onclose({ code, reason });
        }, 0);
      }

      /** Server side: send a message to the client now. */
      deliver(obj) {
        if (this.readyState !== 1) return;
        if (this.onmessage) this.onmessage({ data: typeof obj === 'string' ? obj : JSON.stringify(obj) });
      }

      /** Server side: the connection ends with a close frame of this code (1006 = network loss). */
      drop(code = 1006, reason = '') {
        if (this.readyState >= 2) return;
        this.readyState = 3;
        this.closedBy = 'server';
        if (this.onclose) this.onclose({ code, reason });
      }

      /** Commands this socket sent with the given method. */
      commands(method) {
        return this.sent.filter((m) => m.method === method);
      }
    };
  }

  /** The newest socket. */
  get last() {
    return this.sockets[this.sockets.length - 1];
  }

  stream(channel) {
    let s = this.streams.get(channel);
    if (!s) {
      s = { epoch: 'epoch-1', top: 0, pubs: [] };
      this.streams.set(channel, s);
    }
    return s;
  }

  /** Appends a publication to the stream and pushes it to subscribed open sockets. */
  publish(channel, data) {
    const s = this.stream(channel);
    s.top++;
    const pub = { offset: s.top, epoch: s.epoch, data };
    s.pubs.push(pub);
    for (const sock of this.sockets) {
      if (sock.readyState === 1 && sock.channels.has(channel)) {
        sock.deliver({ push: 'publication', channel, ...pub });
      }
    }
    return pub;
  }

  /** Loses the stream: new epoch, offsets from 1 again (like a restarted memory broker). */
  resetStream(channel, epoch) {
    this.streams.set(channel, { epoch, top: 0, pubs: [] });
  }

  _handle(sock, msg) {
    if (msg.method === 'pong') return;
    const custom = this.handlers.get(msg.method);
    const out = custom ? custom(msg.params || {}, sock, msg) : this._default(msg.params || {}, sock, msg);
    if (out === undefined) return;
    const reply = out && out.error ? { id: msg.id, error: out.error } : { id: msg.id, result: out };
    setTimeout(() => sock.deliver(reply), 0);
  }

  _default(params, sock, msg) {
    switch (msg.method) {
      case 'connect':
        this.connects++;
        return { client: `client-${this.connects}`, user: 'alice', version: 'fake', proto: 1, expires: false, ping: 0, pong: 0 };
      case 'subscribe':
        return this.subscribeResult(params, sock);
      case 'unsubscribe':
        sock.channels.delete(params.channel);
        return {};
      case 'publish': {
        const pub = this.publish(params.channel, params.data);
        return { offset: pub.offset, epoch: pub.epoch };
      }
      case 'ping':
        return {};
      default:
        return { error: { code: 104, message: `method not found: ${msg.method}`, temporary: false } };
    }
  }

  /** The subscribe result the protocol prescribes, recovery included; subscribes sock. */
  subscribeResult(params, sock) {
    if (sock.channels.has(params.channel)) {
      return { error: { code: 105, message: 'already subscribed', temporary: false } };
    }
    const s = this.stream(params.channel);
    sock.channels.add(params.channel);
    const result = { recoverable: true, offset: s.top, epoch: s.epoch, was_recovering: !!params.recover, recovered: false, expires: false, publications: [] };
    if (params.recover && params.epoch === s.epoch && params.offset <= s.top) {
      const missed = s.pubs.filter((p) => p.offset > params.offset);
      const complete = missed.length === s.top - params.offset;
      if (complete) {
        result.recovered = true;
        result.publications = missed;
      }
    }
    return result;
  }
}

/**
 * Resolves when cond() is true, checking after each turn of the event loop;
 * rejects after many turns so a broken client fails the test instead of
 * hanging it.
 */
export async function until(cond, what = 'condition') {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 1));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** Lets pending timers and promise callbacks run for a few turns. */
export async function settle(turns = 20) {
  for (let i = 0; i < turns; i++) await new Promise((r) => setTimeout(r, 1));
}
