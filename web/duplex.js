// Duplex browser client: an ES module with no dependencies and no build step.
//
// It speaks the Duplex client protocol version 1 (docs/protocol.md) over a
// WebSocket: commands with ids and promise replies, pushes as events,
// automatic reconnect with full-jitter backoff, resubscription with recovery
// from the last seen stream position, duplicate suppression by offset, the
// server-driven heartbeat, and token refresh. Types are in duplex.d.ts.

/** Version of this client library, sent in connect.version. */
export const VERSION = '1.0.0';

/**
 * Error codes carried by DuplexError. 100 and above come from the server
 * (docs/protocol.md section 10); the small ones are raised by this client.
 */
export const ErrorCodes = Object.freeze({
  timeout: 1, // no reply within the command timeout
  connectionClosed: 2, // the connection closed before the reply came
  clientDisconnected: 3, // the client is disconnected: call connect()
  unsubscribed: 4, // the subscription is not active
  internal: 100,
  unauthorized: 101,
  unknownChannel: 102,
  permissionDenied: 103,
  methodNotFound: 104,
  alreadySubscribed: 105,
  limitExceeded: 106,
  badRequest: 107,
  tokenExpired: 108,
  tooManyRequests: 109,
  notAvailable: 110,
  notSubscribed: 111,
  unrecoverablePosition: 112,
});

/**
 * Codes in connecting/disconnected/subscribing/unsubscribed events that this
 * client produces itself. Other codes there are WebSocket close codes, the
 * server's disconnect codes (4000-4999) or unsubscribe codes (2000-2999).
 */
export const StateCodes = Object.freeze({
  called: 0, // the application called connect/disconnect/subscribe/unsubscribe
  connectTimeout: 1, // no connect reply in time
  noPing: 2, // the server was silent for ping + pong seconds
  badMessage: 3, // the server sent something that is not protocol JSON
  transportError: 4, // the WebSocket could not be created
  tokenError: 5, // getToken failed
  resubscribe: 6, // resubscribing to heal a gap or an epoch change
  subscribeRetry: 7, // retrying a subscribe that failed temporarily
});

/** An error answered by the server or raised by the client for a command. */
export class DuplexError extends Error {
  /**
   * @param {number} code one of ErrorCodes
   * @param {string} message what happened
   * @param {boolean} temporary whether retrying the same command later may succeed
   */
  constructor(code, message, temporary = false) {
    super(message);
    this.name = 'DuplexError';
    this.code = code;
    this.temporary = temporary;
  }
}

/**
 * The reconnect delay in milliseconds before attempt number `attempt`
 * (0 for the first): uniform in [0, min(max, min * 2^attempt)), the "full
 * jitter" of docs/protocol.md section 11, so that many clients dropped at once
 * do not come back at once.
 */
export function reconnectDelay(attempt, minDelay, maxDelay, random = Math.random) {
  const ceiling = Math.min(maxDelay, minDelay * Math.pow(2, Math.min(attempt, 30)));
  return Math.floor(random() * ceiling);
}

const OPEN = 1; // WebSocket.OPEN, spelled out so a test double needs no constants

// Emitter is the small event core shared by the client and subscriptions.
class Emitter {
  constructor() {
    this._listeners = new Map();
  }

  /** Adds a listener; returns a function that removes it. */
  on(event, listener) {
    let set = this._listeners.get(event);
    if (!set) {
      set = new Set();
      this._listeners.set(event, set);
    }
    set.add(listener);
    return () => this.off(event, listener);
  }

  /** Adds a listener that runs once. */
  once(event, listener) {
    const off = this.on(event, (ctx) => {
      off();
      listener(ctx);
    });
    return off;
  }

  /** Removes a listener added with on. */
  off(event, listener) {
    const set = this._listeners.get(event);
    if (set) set.delete(listener);
  }

  _emit(event, ctx) {
    const set = this._listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(ctx);
      } catch (err) {
        // A throwing listener must not break the protocol state machine;
        // rethrow outside it so the error is still reported.
        setTimeout(() => {
          throw err;
        }, 0);
      }
    }
  }
}

// Waiters are promises waiting for a state, failed on timeout or on a state
// that makes the wait pointless.
class Waiters {
  constructor() {
    this._set = new Set();
  }

  wait(timeoutMs, what) {
    return new Promise((resolve, reject) => {
      const w = { resolve, reject, timer: null };
      w.timer = setTimeout(() => {
        this._set.delete(w);
        reject(new DuplexError(ErrorCodes.timeout, `timeout: not ${what} within ${timeoutMs} ms`, true));
      }, timeoutMs);
      this._set.add(w);
    });
  }

  resolveAll() {
    for (const w of this._set) {
      clearTimeout(w.timer);
      w.resolve();
    }
    this._set.clear();
  }

  rejectAll(err) {
    for (const w of this._set) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this._set.clear();
  }
}

/**
 * A connection to a Duplex server that reconnects by itself until
 * disconnect() is called or the server says not to reconnect.
 */
export class DuplexClient extends Emitter {
  /**
   * @param {string} url WebSocket URL, e.g. wss://example.com/connection/websocket
   * @param {object} [options] see ClientOptions in duplex.d.ts
   */
  constructor(url, options = {}) {
    super();
    this.url = url;
    this._opts = {
      name: 'duplex-js',
      version: VERSION,
      minReconnectDelay: 500,
      maxReconnectDelay: 20000,
      timeout: 10000,
      ...options,
    };
    this._token = options.token || '';
    this._getToken = options.getToken || null;
    // Ask getToken before the first connect unless a token was given.
    this._tokenStale = !this._token;
    /** @type {'disconnected'|'connecting'|'connected'} */
    this.state = 'disconnected';
    /** Connection id given by the server; '' until connected. */
    this.clientId = '';
    /** User id given by the server; '' for anonymous or until connected. */
    this.user = '';
    this._ws = null;
    this._gen = 0; // bumps on every transport change; stale callbacks compare it
    this._nextId = 1;
    this._pending = new Map();
    this._subs = new Map();
    this._serverSubs = new Map(); // channel -> {offset, epoch, recoverable}
    this._attempt = 0;
    this._reconnectTimer = null;
    this._connectTimer = null;
    this._pingTimer = null;
    this._pingMs = 0;
    this._refreshTimer = null;
    this._connected = new Waiters();
  }

  /** Starts connecting; does nothing when already connecting or connected. */
  connect() {
    if (this.state !== 'disconnected') return;
    this._attempt = 0;
    this._setState('connecting');
    this._emit('connecting', { code: StateCodes.called, reason: 'connect called' });
    this._open();
  }

  /** Closes the connection and stops reconnecting. Subscriptions stay and resume on connect(). */
  disconnect() {
    if (this.state === 'disconnected') return;
    this._goDisconnected(StateCodes.called, 'disconnect called');
  }

  /** Resolves once connected; rejects on timeout or if the client is or becomes disconnected. */
  ready(timeoutMs = this._opts.timeout) {
    if (this.state === 'connected') return Promise.resolve();
    if (this.state === 'disconnected') return Promise.reject(this._disconnectedError());
    return this._connected.wait(timeoutMs, 'connected');
  }

  /** Creates a subscription (not yet subscribed: call subscribe()). Throws if one exists for the channel. */
  newSubscription(channel, options = {}) {
    if (this._subs.has(channel)) {
      throw new Error(`duplex: a subscription to ${channel} already exists; use getSubscription or removeSubscription first`);
    }
    const sub = new Subscription(this, channel, options);
    this._subs.set(channel, sub);
    return sub;
  }

  /** Returns the subscription to channel, or null. */
  getSubscription(channel) {
    return this._subs.get(channel) || null;
  }

  /** Returns all client-side subscriptions. */
  subscriptions() {
    return [...this._subs.values()];
  }

  /** Unsubscribes and forgets a subscription so the channel can be subscribed anew. */
  removeSubscription(sub) {
    if (!sub || this._subs.get(sub.channel) !== sub) return;
    sub.unsubscribe();
    this._subs.delete(sub.channel);
  }

  /** Publishes data to a channel; resolves with its {offset, epoch}. */
  publish(channel, data) {
    return this._call('publish', { channel, data });
  }

  /** Presence of a channel: {clients: {clientId: ClientInfo}}. */
  presence(channel) {
    return this._call('presence', { channel });
  }

  /** Presence counts of a channel: {num_clients, num_users}. */
  presenceStats(channel) {
    return this._call('presence_stats', { channel });
  }

  /** History of a channel; see HistoryOptions. Resolves {publications, offset, epoch}. */
  history(channel, options = {}) {
    return this._call('history', historyParams(channel, options)).then((res) => ({
      offset: res.offset,
      epoch: res.epoch,
      publications: (res.publications || []).map((p) => toPublication(channel, p, res.epoch)),
    }));
  }

  /** Round trip to the server; resolves with no value. */
  ping() {
    return this._call('ping', {}).then(() => undefined);
  }

  // ---- state ----

  _setState(state) {
    const previous = this.state;
    if (previous === state) return;
    this.state = state;
    this._emit('state', { state, previous });
  }

  _disconnectedError() {
    return new DuplexError(ErrorCodes.clientDisconnected, 'client is disconnected: call connect() first', false);
  }

  // ---- transport ----

  async _open() {
    const gen = ++this._gen;
    this._nextId = 1;
    if (this._getToken && this._tokenStale) {
      let token;
      try {
        token = await this._getToken();
      } catch (err) {
        if (gen !== this._gen || this.state !== 'connecting') return;
        this._emit('error', { type: 'token', error: err });
        this._lose(StateCodes.tokenError, 'getToken failed', true);
        return;
      }
      if (gen !== this._gen || this.state !== 'connecting') return;
      this._token = token || '';
      this._tokenStale = false;
    }
    const WS = this._opts.websocket || globalThis.WebSocket;
    let ws;
    try {
      if (!WS) throw new Error('no WebSocket implementation: pass options.websocket');
      ws = new WS(this.url);
    } catch (err) {
      this._emit('error', { type: 'transport', error: err });
      this._lose(StateCodes.transportError, 'cannot create WebSocket', true);
      return;
    }
    this._ws = ws;
    ws.onopen = () => {
      if (ws === this._ws) this._sendConnect();
    };
    ws.onmessage = (ev) => {
      if (ws === this._ws) this._onMessage(ev.data);
    };
    ws.onerror = () => {
      if (ws === this._ws) this._emit('error', { type: 'transport', error: new Error('websocket error') });
    };
    ws.onclose = (ev) => {
      if (ws !== this._ws) return;
      const code = ev && typeof ev.code === 'number' ? ev.code : 1006;
      const reason = (ev && ev.reason) || 'connection closed';
      // 4500-4999 means "do not reconnect" (docs/protocol.md section 11).
      this._lose(code, reason, !(code >= 4500 && code <= 4999));
    };
    this._connectTimer = setTimeout(() => {
      if (ws !== this._ws || this.state !== 'connecting') return;
      this._emit('error', { type: 'timeout', error: new DuplexError(ErrorCodes.timeout, 'connect timed out', true) });
      this._lose(StateCodes.connectTimeout, 'connect timeout', true);
    }, this._opts.timeout);
  }

  _sendConnect() {
    const params = { name: this._opts.name, version: this._opts.version };
    if (this._token) params.token = this._token;
    if (this._opts.data !== undefined) params.data = this._opts.data;
    if (this._serverSubs.size > 0) {
      params.subs = {};
      for (const [channel, s] of this._serverSubs) params.subs[channel] = { offset: s.offset, epoch: s.epoch };
    }
    const gen = this._gen;
    this._request('connect', params).then(
      (res) => {
        if (gen === this._gen) this._onConnected(res);
      },
      (err) => {
        if (gen === this._gen) this._onConnectError(err);
      },
    );
  }

  _onConnected(res) {
    clearTimeout(this._connectTimer);
    this._attempt = 0;
    this.clientId = res.client || '';
    this.user = res.user || '';
    this._pingMs = (Number(res.ping) || 0) * 1000 + (Number(res.pong) || 0) * 1000;
    if (res.expires) this._scheduleRefresh(res.ttl);
    this._setState('connected');
    this._watchPing();
    this._applyServerSubs(res.subs || {});
    for (const sub of this._subs.values()) {
      if (sub.state === 'subscribing') sub._send();
    }
    this._emit('connected', {
      client: this.clientId,
      user: this.user,
      version: res.version || '',
      proto: res.proto || 1,
      expires: !!res.expires,
      ttl: res.ttl,
    });
    this._connected.resolveAll();
  }

  _onConnectError(err) {
    this._emit('error', { type: 'connect', error: err });
    // Mirror the server's mapping of connect errors to close codes, so the
    // outcome does not depend on whether its close frame arrives.
    switch (err.code) {
      case ErrorCodes.tokenExpired:
        this._tokenStale = true;
        this._lose(4003, 'token expired', !!this._getToken);
        return;
      case ErrorCodes.unauthorized:
        // A token from getToken may be stale (the server's key changed, as
        // after a restart in demo mode): fetch a new one on the next connect().
        if (this._getToken) this._tokenStale = true;
        this._lose(4501, err.message, false);
        return;
      case ErrorCodes.limitExceeded:
        this._lose(4503, err.message, false);
        return;
      case ErrorCodes.badRequest:
        this._lose(4500, err.message, false);
        return;
      case ErrorCodes.connectionClosed:
        return; // the close handler already took over
      case ErrorCodes.timeout:
        this._lose(StateCodes.connectTimeout, 'connect timeout', true);
        return;
      default:
        this._lose(4002, err.message, err.temporary || err.code === ErrorCodes.timeout);
    }
  }

  // _lose ends the current transport and either schedules a reconnect or
  // goes to disconnected.
  _lose(code, reason, reconnect) {
    this._dropTransport(new DuplexError(ErrorCodes.connectionClosed, `connection closed: ${reason}`, true));
    if (this.state === 'disconnected') return;
    if (code === 4003) this._tokenStale = true;
    for (const sub of this._subs.values()) sub._suspend(code, reason);
    if (!reconnect) {
      this._goDisconnected(code, reason);
      return;
    }
    this._setState('connecting');
    this._emit('connecting', { code, reason });
    const delay = reconnectDelay(this._attempt++, this._opts.minReconnectDelay, this._opts.maxReconnectDelay);
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = setTimeout(() => {
      this._reconnectTimer = null;
      if (this.state === 'connecting') this._open();
    }, delay);
  }

  _goDisconnected(code, reason) {
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    const err = this._disconnectedError();
    this._dropTransport(err);
    for (const sub of this._subs.values()) sub._suspend(code, reason);
    this._setState('disconnected');
    this._emit('disconnected', { code, reason });
    this._connected.rejectAll(err);
  }

  // _dropTransport detaches and closes the WebSocket and fails pending commands.
  _dropTransport(err) {
    this._gen++;
    clearTimeout(this._connectTimer);
    clearTimeout(this._pingTimer);
    clearTimeout(this._refreshTimer);
    this._connectTimer = this._pingTimer = this._refreshTimer = null;
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      try {
        ws.close(1000);
      } catch {
        // already closed
      }
    }
    const pending = [...this._pending.values()];
    this._pending.clear();
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }

  // ---- commands ----

  // _request sends a command on the current transport and waits for its reply.
  _request(method, params) {
    return new Promise((resolve, reject) => {
      const ws = this._ws;
      if (!ws || ws.readyState !== OPEN) {
        reject(new DuplexError(ErrorCodes.connectionClosed, `connection closed: cannot send ${method}`, true));
        return;
      }
      const id = this._nextId;
      this._nextId = this._nextId >= 0x7fffffff ? 1 : this._nextId + 1;
      const timeoutMs = this._opts.timeout;
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new DuplexError(ErrorCodes.timeout, `timeout: no reply to ${method} within ${timeoutMs} ms`, true));
      }, timeoutMs);
      this._pending.set(id, { resolve, reject, timer });
      try {
        ws.send(JSON.stringify({ id, method, params }));
      } catch (err) {
        clearTimeout(timer);
        this._pending.delete(id);
        reject(new DuplexError(ErrorCodes.connectionClosed, `connection closed: ${err && err.message}`, true));
      }
    });
  }

  // _call waits for the connection (bounded by the timeout) and then sends.
  async _call(method, params) {
    await this.ready();
    return this._request(method, params);
  }

  _sendRaw(obj) {
    const ws = this._ws;
    if (!ws || ws.readyState !== OPEN) return;
    try {
      ws.send(JSON.stringify(obj));
    } catch {
      // the close handler reports it
    }
  }

  // ---- incoming ----

  _onMessage(raw) {
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
      msg = null;
    }
    if (!msg || typeof msg !== 'object' || Array.isArray(msg)) {
      this._emit('error', { type: 'protocol', error: new Error('server sent a message that is not a JSON object') });
      this._lose(StateCodes.badMessage, 'bad message from server', true);
      return;
    }
    this._watchPing();
    if (typeof msg.id === 'number') {
      const p = this._pending.get(msg.id);
      if (!p) return; // a reply that came after its timeout
      this._pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.error) {
        const e = msg.error;
        p.reject(new DuplexError(Number(e.code) || ErrorCodes.internal, String(e.message || 'error'), !!e.temporary));
      } else {
        p.resolve(msg.result || {});
      }
      return;
    }
    switch (msg.push) {
      case 'ping':
        this._sendRaw({ method: 'pong' });
        return;
      case 'publication':
        this._onPublication(msg);
        return;
      case 'join':
      case 'leave':
        this._onJoinLeave(msg.push, msg);
        return;
      case 'unsubscribe':
        this._onUnsubscribePush(msg);
        return;
      case 'disconnect': {
        const code = Number(msg.code) || 4002;
        const reconnect = typeof msg.reconnect === 'boolean' ? msg.reconnect : !(code >= 4500 && code <= 4999);
        this._lose(code, String(msg.reason || ''), reconnect);
        return;
      }
      default:
      // unknown pushes are ignored: the protocol may add kinds
    }
  }

  _onPublication(msg) {
    const sub = this._subs.get(msg.channel);
    if (sub) {
      sub._onPublication(msg);
      return;
    }
    const s = this._serverSubs.get(msg.channel);
    if (!s) return;
    if (typeof msg.offset === 'number') {
      if (msg.epoch === s.epoch && msg.offset <= s.offset) return;
      s.offset = msg.offset;
      s.epoch = msg.epoch;
    }
    this._emit('publication', toPublication(msg.channel, msg));
  }

  _onJoinLeave(kind, msg) {
    const ctx = { channel: msg.channel, info: msg.info };
    const sub = this._subs.get(msg.channel);
    if (sub) {
      if (sub.state === 'subscribed') sub._emit(kind, ctx);
    } else if (this._serverSubs.has(msg.channel)) {
      this._emit(kind, ctx);
    }
  }

  _onUnsubscribePush(msg) {
    const code = Number(msg.code) || 2000;
    const reason = String(msg.reason || '');
    const sub = this._subs.get(msg.channel);
    if (sub) {
      sub._onServerUnsubscribe(code, reason, !!msg.resubscribe);
      return;
    }
    if (this._serverSubs.delete(msg.channel)) {
      this._emit('unsubscribed', { channel: msg.channel, code, reason });
    }
  }

  _applyServerSubs(subs) {
    for (const channel of [...this._serverSubs.keys()]) {
      if (!(channel in subs)) {
        this._serverSubs.delete(channel);
        this._emit('unsubscribed', { channel, code: 2000, reason: 'server-side subscription ended' });
      }
    }
    for (const channel of Object.keys(subs)) {
      const res = subs[channel] || {};
      const known = this._serverSubs.get(channel);
      const wasRecovering = !!known;
      const recovered = !!res.recovered;
      const s = known || { offset: 0, epoch: '' };
      if (!recovered) {
        s.offset = res.offset || 0;
        s.epoch = res.epoch || '';
      }
      s.recoverable = !!res.recoverable;
      this._serverSubs.set(channel, s);
      const ctx = subscribedContext(channel, res, wasRecovering);
      if (ctx.unrecoverable) {
        this._emit('unrecoverable', { channel, previous: known ? { offset: known.offset, epoch: known.epoch } : null, offset: ctx.offset, epoch: ctx.epoch });
      }
      this._emit('subscribed', ctx);
      if (recovered) {
        for (const p of res.publications || []) {
          if (typeof p.offset === 'number' && p.offset <= s.offset) continue;
          if (typeof p.offset === 'number') s.offset = p.offset;
          this._emit('publication', toPublication(channel, p, res.epoch));
        }
        s.offset = Math.max(s.offset, res.offset || 0);
      }
    }
  }

  // ---- heartbeat and refresh ----

  // _watchPing restarts the dead-server timer: ping + pong seconds of silence
  // (docs/protocol.md section 9) mean the connection is gone.
  _watchPing() {
    if (this.state !== 'connected' || !this._pingMs) return;
    clearTimeout(this._pingTimer);
    this._pingTimer = setTimeout(() => {
      if (this.state !== 'connected') return;
      this._emit('error', { type: 'heartbeat', error: new Error('no message from server within ping + pong interval') });
      this._lose(StateCodes.noPing, 'no ping from server', true);
    }, this._pingMs);
  }

  _scheduleRefresh(ttl) {
    clearTimeout(this._refreshTimer);
    if (!this._getToken || typeof ttl !== 'number') return;
    this._refreshTimer = setTimeout(() => this._refresh(), refreshDelay(ttl));
  }

  async _refresh() {
    const gen = this._gen;
    let token;
    try {
      token = (await this._getToken()) || '';
      if (gen !== this._gen) return;
      const res = await this._request('refresh', { token });
      if (gen !== this._gen) return;
      this._token = token;
      if (res.expires) this._scheduleRefresh(res.ttl);
    } catch (err) {
      if (gen !== this._gen) return;
      this._emit('error', { type: 'refresh', error: err });
      // A temporary failure is retried; otherwise the server ends the
      // connection at expiry (4003) and the reconnect fetches a new token.
      if (!(err instanceof DuplexError) || err.temporary) {
        clearTimeout(this._refreshTimer);
        this._refreshTimer = setTimeout(() => this._refresh(), 5000);
      }
    }
  }
}

/** A channel subscription made with DuplexClient.newSubscription. */
export class Subscription extends Emitter {
  constructor(client, channel, options = {}) {
    super();
    this._client = client;
    /** The channel name. */
    this.channel = channel;
    /** @type {'unsubscribed'|'subscribing'|'subscribed'} */
    this.state = 'unsubscribed';
    this._token = options.token || '';
    this._getToken = options.getToken || null;
    this._tokenStale = !this._token;
    this._presence = !!options.presence;
    this._data = options.data;
    this._since = options.since || null;
    /** Offset of the last publication seen (or of the stream top at subscribe); null before. */
    this.offset = this._since ? this._since.offset : null;
    /** Epoch of the stream this subscription follows; null before. */
    this.epoch = this._since ? this._since.epoch : null;
    /** Whether the server keeps history for this channel, so recovery can succeed. */
    this.recoverable = false;
    this._gen = 0;
    this._attempt = 0;
    this._retryTimer = null;
    this._refreshTimer = null;
    this._needUnsubscribe = false;
    this._subscribed = new Waiters();
  }

  /** Starts subscribing (now if connected, else once connected); no-op unless unsubscribed. */
  subscribe() {
    if (this.state !== 'unsubscribed') return;
    this._attempt = 0;
    this._setState('subscribing');
    this._emit('subscribing', { code: StateCodes.called, reason: 'subscribe called' });
    if (this._client.state === 'connected') this._send();
  }

  /** Unsubscribes; the next subscribe() starts from the live stream, without recovery. */
  unsubscribe() {
    if (this.state === 'unsubscribed') return;
    if (this._client.state === 'connected') {
      this._client._request('unsubscribe', { channel: this.channel }).catch(() => {});
    }
    this._goUnsubscribed(StateCodes.called, 'unsubscribe called');
    this.offset = null;
    this.epoch = null;
  }

  /** Resolves once subscribed; rejects on timeout or if it becomes unsubscribed. */
  ready(timeoutMs = this._client._opts.timeout) {
    if (this.state === 'subscribed') return Promise.resolve();
    if (this.state === 'unsubscribed') return Promise.reject(this._unsubscribedError());
    return this._subscribed.wait(timeoutMs, 'subscribed');
  }

  /** Publishes data to this channel once subscribed; resolves with {offset, epoch}. */
  async publish(data) {
    await this.ready();
    return this._client._request('publish', { channel: this.channel, data });
  }

  /** Presence once subscribed: {clients: {clientId: ClientInfo}}. */
  async presence() {
    await this.ready();
    return this._client._request('presence', { channel: this.channel });
  }

  /** Presence counts once subscribed: {num_clients, num_users}. */
  async presenceStats() {
    await this.ready();
    return this._client._request('presence_stats', { channel: this.channel });
  }

  /** History once subscribed; see HistoryOptions. */
  async history(options = {}) {
    await this.ready();
    const res = await this._client._request('history', historyParams(this.channel, options));
    return {
      offset: res.offset,
      epoch: res.epoch,
      publications: (res.publications || []).map((p) => toPublication(this.channel, p, res.epoch)),
    };
  }

  _setState(state) {
    const previous = this.state;
    if (previous === state) return;
    this.state = state;
    this._emit('state', { state, previous, channel: this.channel });
  }

  _unsubscribedError() {
    return new DuplexError(ErrorCodes.unsubscribed, `subscription to ${this.channel} is not active: call subscribe()`, false);
  }

  // _send sends subscribe (with recovery when a position is known).
  async _send() {
    const gen = ++this._gen;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    if (this._getToken && this._tokenStale) {
      let token;
      try {
        token = await this._getToken({ channel: this.channel });
      } catch (err) {
        if (gen !== this._gen) return;
        this._emit('error', { type: 'token', channel: this.channel, error: err });
        this._retry(StateCodes.tokenError, 'getToken failed');
        return;
      }
      if (gen !== this._gen) return;
      this._token = token || '';
      this._tokenStale = false;
    }
    const client = this._client;
    if (client.state !== 'connected' || this.state !== 'subscribing') return;
    if (this._needUnsubscribe) {
      // The server may still hold the old subscription (after a timeout, a
      // gap or an epoch change); commands run in order, so this clears it.
      this._needUnsubscribe = false;
      client._request('unsubscribe', { channel: this.channel }).catch(() => {});
    }
    const params = { channel: this.channel };
    if (this._token) params.token = this._token;
    // Recover only where the server keeps history (or from a position the
    // application saved): elsewhere there is nothing to recover from.
    const recovering = (this.recoverable || this._since !== null) && typeof this.offset === 'number' && typeof this.epoch === 'string';
    if (recovering) {
      params.recover = true;
      params.offset = this.offset;
      params.epoch = this.epoch;
    }
    if (this._presence) params.presence = true;
    if (this._data !== undefined) params.data = this._data;
    let res;
    try {
      res = await client._request('subscribe', params);
    } catch (err) {
      if (gen === this._gen) this._onSubscribeError(err);
      return;
    }
    if (gen === this._gen) this._onSubscribed(res, recovering);
  }

  _onSubscribeError(err) {
    if (err.code === ErrorCodes.connectionClosed || err.code === ErrorCodes.clientDisconnected) {
      return; // resent after the reconnect
    }
    this._emit('error', { type: 'subscribe', channel: this.channel, error: err });
    if (err.code === ErrorCodes.timeout) this._needUnsubscribe = true;
    if (err.code === ErrorCodes.tokenExpired && this._getToken) {
      this._tokenStale = true;
      this._retry(StateCodes.subscribeRetry, err.message);
      return;
    }
    if (err.temporary) {
      this._retry(StateCodes.subscribeRetry, err.message);
      return;
    }
    this._goUnsubscribed(err.code, err.message);
  }

  _onSubscribed(res, wasRecovering) {
    this._attempt = 0;
    const previous = typeof this.offset === 'number' ? { offset: this.offset, epoch: this.epoch } : null;
    const ctx = subscribedContext(this.channel, res, wasRecovering);
    this.recoverable = ctx.recoverable;
    if (!ctx.recovered) {
      this.offset = ctx.offset;
      this.epoch = ctx.epoch;
    }
    this._since = null;
    this._setState('subscribed');
    if (res.expires) this._scheduleRefresh(res.ttl);
    this._subscribed.resolveAll();
    if (ctx.unrecoverable) {
      this._emit('unrecoverable', { channel: this.channel, previous, offset: ctx.offset, epoch: ctx.epoch });
    }
    this._emit('subscribed', ctx);
    if (ctx.recovered) {
      const gen = this._gen;
      for (const p of res.publications || []) {
        if (gen !== this._gen) return; // a listener unsubscribed
        if (typeof p.offset === 'number') {
          if (p.offset <= this.offset) continue;
          this.offset = p.offset;
        }
        this._emit('publication', toPublication(this.channel, p, res.epoch));
      }
      if (typeof ctx.offset === 'number' && ctx.offset > this.offset) this.offset = ctx.offset;
    }
  }

  _onPublication(msg) {
    if (this.state !== 'subscribed') return;
    if (typeof msg.offset === 'number' && typeof this.offset === 'number') {
      if (typeof msg.epoch === 'string' && msg.epoch !== this.epoch) {
        this._resubscribe('stream epoch changed'); // recovery will report unrecoverable
        return;
      }
      if (msg.offset <= this.offset) return; // duplicate
      if (msg.offset > this.offset + 1 && this.recoverable) {
        this._resubscribe('gap in offsets'); // recovery fills the gap
        return;
      }
      this.offset = msg.offset;
    }
    this._emit('publication', toPublication(this.channel, msg));
  }

  _onServerUnsubscribe(code, reason, resubscribe) {
    if (this.state === 'unsubscribed') return;
    if (!resubscribe) {
      this._goUnsubscribed(code, reason);
      return;
    }
    if (code === 2001) this._tokenStale = true;
    this._gen++;
    clearTimeout(this._refreshTimer);
    this._setState('subscribing');
    this._emit('subscribing', { code, reason });
    this._retry(code, reason, true);
  }

  _resubscribe(reason) {
    this._gen++;
    clearTimeout(this._refreshTimer);
    this._needUnsubscribe = true;
    this._setState('subscribing');
    this._emit('subscribing', { code: StateCodes.resubscribe, reason });
    this._send();
  }

  // _retry schedules another subscribe after a full-jitter delay.
  _retry(code, reason, quiet = false) {
    if (!quiet) this._emit('subscribing', { code, reason });
    const o = this._client._opts;
    const delay = reconnectDelay(this._attempt++, o.minReconnectDelay, o.maxReconnectDelay);
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      if (this.state === 'subscribing' && this._client.state === 'connected') this._send();
    }, delay);
  }

  // _suspend is called when the connection is lost: keep the position and
  // wait for the next connect to resubscribe.
  _suspend(code, reason) {
    this._gen++;
    this._needUnsubscribe = false;
    clearTimeout(this._retryTimer);
    clearTimeout(this._refreshTimer);
    this._retryTimer = this._refreshTimer = null;
    if (this.state === 'subscribed') {
      this._setState('subscribing');
      this._emit('subscribing', { code, reason });
    }
  }

  _goUnsubscribed(code, reason) {
    this._gen++;
    this._needUnsubscribe = false;
    clearTimeout(this._retryTimer);
    clearTimeout(this._refreshTimer);
    this._retryTimer = this._refreshTimer = null;
    this._setState('unsubscribed');
    this._emit('unsubscribed', { channel: this.channel, code, reason });
    this._subscribed.rejectAll(this._unsubscribedError());
  }

  _scheduleRefresh(ttl) {
    clearTimeout(this._refreshTimer);
    if (!this._getToken || typeof ttl !== 'number') return;
    this._refreshTimer = setTimeout(() => this._refresh(), refreshDelay(ttl));
  }

  async _refresh() {
    const gen = this._gen;
    try {
      const token = (await this._getToken({ channel: this.channel })) || '';
      if (gen !== this._gen) return;
      const res = await this._client._request('sub_refresh', { channel: this.channel, token });
      if (gen !== this._gen) return;
      this._token = token;
      if (res.expires) this._scheduleRefresh(res.ttl);
    } catch (err) {
      if (gen !== this._gen) return;
      this._emit('error', { type: 'refresh', channel: this.channel, error: err });
      if (!(err instanceof DuplexError) || err.temporary) {
        clearTimeout(this._refreshTimer);
        this._refreshTimer = setTimeout(() => this._refresh(), 5000);
      }
    }
  }
}

// refreshDelay is when to refresh a token that expires in ttl seconds: at
// 80% of its life, so a slow token endpoint still has time.
function refreshDelay(ttlSeconds) {
  return Math.max(0, Math.floor(ttlSeconds * 1000 * 0.8));
}

function historyParams(channel, options) {
  const params = { channel };
  if (typeof options.limit === 'number') params.limit = options.limit;
  if (options.since) params.since = { offset: options.since.offset, epoch: options.since.epoch };
  if (options.reverse) params.reverse = true;
  return params;
}

function toPublication(channel, p, epoch) {
  const pub = { channel, data: p.data };
  if (typeof p.offset === 'number') {
    pub.offset = p.offset;
    pub.epoch = typeof p.epoch === 'string' ? p.epoch : epoch;
  }
  if (p.info) pub.info = p.info;
  return pub;
}

function subscribedContext(channel, res, wasRecovering) {
  const recovered = !!res.recovered;
  const ctx = {
    channel,
    recoverable: !!res.recoverable,
    recovered,
    wasRecovering,
    unrecoverable: wasRecovering && !recovered,
    offset: typeof res.offset === 'number' ? res.offset : 0,
    epoch: typeof res.epoch === 'string' ? res.epoch : '',
    expires: !!res.expires,
  };
  if (typeof res.ttl === 'number') ctx.ttl = res.ttl;
  if (res.presence) ctx.presence = res.presence;
  return ctx;
}
