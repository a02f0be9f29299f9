// Tests of web/duplex.js against the in-memory FakeServer: run with
// `node --test` in this folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuplexClient, DuplexError, ErrorCodes, StateCodes, reconnectDelay } from '../../web/duplex.js';
import { FakeServer, until, settle } from './fakeserver.mjs';

// newClient returns a client wired to a fresh FakeServer, disconnected when
// the test ends so no timer outlives it.
function newClient(t, options = {}) {
  const server = new FakeServer();
  const client = new DuplexClient('ws://fake/connection/websocket', {
    websocket: server.WebSocket,
    minReconnectDelay: 2,
    maxReconnectDelay: 10,
    timeout: 2000,
    ...options,
  });
  const events = [];
  for (const ev of ['state', 'connecting', 'connected', 'disconnected', 'error']) {
    client.on(ev, (ctx) => events.push([ev, ctx]));
  }
  t.after(() => client.disconnect());
  return { server, client, events };
}

// record collects the events of a subscription.
function record(sub) {
  const got = { pubs: [], subscribed: [], unrecoverable: [], unsubscribed: [], subscribing: [], errors: [] };
  sub.on('publication', (p) => got.pubs.push(p.offset));
  sub.on('subscribed', (c) => got.subscribed.push(c));
  sub.on('unrecoverable', (c) => got.unrecoverable.push(c));
  sub.on('unsubscribed', (c) => got.unsubscribed.push(c));
  sub.on('subscribing', (c) => got.subscribing.push(c));
  sub.on('error', (c) => got.errors.push(c));
  return got;
}

test('reconnectDelay is full jitter under a doubling, capped ceiling', () => {
  const almostOne = () => 0.999999;
  assert.equal(reconnectDelay(0, 500, 20000, () => 0), 0);
  assert.equal(reconnectDelay(0, 500, 20000, almostOne), 499);
  assert.equal(reconnectDelay(1, 500, 20000, almostOne), 999);
  assert.equal(reconnectDelay(3, 500, 20000, almostOne), 3999);
  assert.equal(reconnectDelay(6, 500, 20000, almostOne), 19999); // 32000 capped
  assert.equal(reconnectDelay(1000, 500, 20000, almostOne), 19999); // no overflow
  assert.equal(reconnectDelay(2, 500, 20000, () => 0.5), 1000);
  for (let attempt = 0; attempt < 12; attempt++) {
    const ceiling = Math.min(20000, 500 * 2 ** attempt);
    for (let i = 0; i < 50; i++) {
      const d = reconnectDelay(attempt, 500, 20000);
      assert.ok(d >= 0 && d < ceiling, `attempt ${attempt}: ${d} not in [0, ${ceiling})`);
    }
  }
});

test('connect is the first command and carries token, name and version', async (t) => {
  const { server, client, events } = newClient(t, { token: 'tok-1', name: 'tests', data: { a: 1 } });
  client.connect();
  await client.ready();
  const first = server.last.sent[0];
  assert.equal(first.method, 'connect');
  assert.equal(first.id, 1);
  assert.deepEqual(first.params, { name: 'tests', version: '1.0.0', token: 'tok-1', data: { a: 1 } });
  assert.equal(client.state, 'connected');
  assert.equal(client.clientId, 'client-1');
  assert.equal(client.user, 'alice');
  assert.deepEqual(
    events.filter(([e]) => e === 'state').map(([, c]) => c.state),
    ['connecting', 'connected'],
  );
});

test('replies are matched to commands by id, whatever their order', async (t) => {
  const { server, client } = newClient(t);
  const held = [];
  server.handlers.set('presence', (params, sock, msg) => {
    held.push({ sock, msg });
    return undefined;
  });
  client.connect();
  await client.ready();
  const a = client.presence('chat:a');
  const b = client.presence('chat:b');
  await until(() => held.length === 2, 'two presence commands');
  assert.notEqual(held[0].msg.id, held[1].msg.id);
  for (const { sock, msg } of held.reverse()) {
    sock.deliver({ id: msg.id, result: { clients: { [msg.params.channel]: { client: 'x', user: msg.params.channel } } } });
  }
  assert.deepEqual(Object.keys((await a).clients), ['chat:a']);
  assert.deepEqual(Object.keys((await b).clients), ['chat:b']);
});

test('error replies reject with DuplexError, and silence with a timeout', async (t) => {
  const { server, client } = newClient(t, { timeout: 50 });
  server.handlers.set('publish', () => ({ error: { code: 109, message: 'too many requests', temporary: true } }));
  server.handlers.set('history', () => undefined);
  client.connect();
  await client.ready();
  await assert.rejects(client.publish('chat:x', 1), (err) => {
    assert.ok(err instanceof DuplexError);
    assert.equal(err.code, ErrorCodes.tooManyRequests);
    assert.equal(err.temporary, true);
    return true;
  });
  await assert.rejects(client.history('chat:x'), (err) => err instanceof DuplexError && err.code === ErrorCodes.timeout);
  // A late reply to the timed-out command is ignored and the connection stays usable.
  const id = server.last.commands('history')[0].id;
  server.last.deliver({ id, result: { publications: [], offset: 0, epoch: 'e' } });
  await client.ping();
  assert.equal(client.state, 'connected');
});

test('commands made while connecting are sent once connected', async (t) => {
  const { server, client } = newClient(t);
  client.connect();
  const res = client.publish('chat:x', { text: 'early' });
  assert.deepEqual(await res, { offset: 1, epoch: 'epoch-1' });
  const methods = server.last.sent.map((m) => m.method);
  assert.deepEqual(methods, ['connect', 'publish']);
});

test('commands on a disconnected client fail at once', async (t) => {
  const { client } = newClient(t);
  await assert.rejects(client.publish('chat:x', 1), (err) => err.code === ErrorCodes.clientDisconnected);
});

test('a publication is delivered once: duplicates by offset are dropped', async (t) => {
  const { server, client } = newClient(t);
  client.connect();
  const sub = client.newSubscription('chat:dup');
  const got = record(sub);
  sub.subscribe();
  await sub.ready();
  const sock = server.last;
  const push = (offset) => sock.deliver({ push: 'publication', channel: 'chat:dup', offset, epoch: 'epoch-1', data: { n: offset } });
  server.stream('chat:dup').top = 3; // keep the fake's stream consistent with the pushes
  push(1);
  push(2);
  push(2);
  push(1);
  push(3);
  push(3);
  assert.deepEqual(got.pubs, [1, 2, 3]);
  assert.equal(sub.offset, 3);
  assert.equal(sub.epoch, 'epoch-1');
});

test('after a reconnect each subscription recovers from its last position', async (t) => {
  const { server, client, events } = newClient(t);
  client.connect();
  const sub = client.newSubscription('chat:rec');
  const got = record(sub);
  sub.subscribe();
  await sub.ready();
  server.publish('chat:rec', 'a');
  server.publish('chat:rec', 'b');
  assert.deepEqual(got.pubs, [1, 2]);

  server.last.drop(1006);
  assert.equal(client.state, 'connecting');
  assert.equal(sub.state, 'subscribing');
  server.publish('chat:rec', 'c'); // missed while away
  server.publish('chat:rec', 'd');

  await until(() => sub.state === 'subscribed', 'resubscribed');
  assert.equal(server.sockets.length, 2);
  const resub = server.last.commands('subscribe')[0].params;
  assert.deepEqual(resub, { channel: 'chat:rec', recover: true, offset: 2, epoch: 'epoch-1' });
  const ctx = got.subscribed[1];
  assert.equal(ctx.wasRecovering, true);
  assert.equal(ctx.recovered, true);
  assert.equal(ctx.unrecoverable, false);
  assert.deepEqual(got.pubs, [1, 2, 3, 4]);
  assert.equal(got.unrecoverable.length, 0);
  server.publish('chat:rec', 'e');
  assert.deepEqual(got.pubs, [1, 2, 3, 4, 5]);
  const connecting = events.filter(([e]) => e === 'connecting').map(([, c]) => c.code);
  assert.deepEqual(connecting, [StateCodes.called, 1006]);
});

test('an epoch change while away is reported as unrecoverable', async (t) => {
  const { server, client } = newClient(t);
  client.connect();
  const sub = client.newSubscription('chat:lost');
  const got = record(sub);
  sub.subscribe();
  await sub.ready();
  server.publish('chat:lost', 'a');
  server.last.drop(1001, 'going away');
  server.resetStream('chat:lost', 'epoch-2');
  server.publish('chat:lost', 'x');
  await until(() => got.subscribed.length === 2, 'resubscribed');
  const ctx = got.subscribed[1];
  assert.equal(ctx.wasRecovering, true);
  assert.equal(ctx.recovered, false);
  assert.equal(ctx.unrecoverable, true);
  assert.deepEqual(got.unrecoverable, [{ channel: 'chat:lost', previous: { offset: 1, epoch: 'epoch-1' }, offset: 1, epoch: 'epoch-2' }]);
  assert.equal(sub.epoch, 'epoch-2');
  assert.equal(sub.offset, 1);
  server.publish('chat:lost', 'y');
  assert.deepEqual(got.pubs, [1, 2]); // offset 1 of epoch-1, then offset 2 of epoch-2
});

test('a gap in offsets makes the subscription recover the missing ones', async (t) => {
  const { server, client } = newClient(t);
  client.connect();
  const sub = client.newSubscription('chat:gap');
  const got = record(sub);
  sub.subscribe();
  await sub.ready();
  server.last.channels.delete('chat:gap'); // the fake "loses" pushes 2 and 3 ...
  server.publish('chat:gap', 'a');
  server.publish('chat:gap', 'b');
  server.publish('chat:gap', 'c');
  server.last.channels.add('chat:gap');
  const s = server.stream('chat:gap');
  server.last.deliver({ push: 'publication', channel: 'chat:gap', ...s.pubs[0] });
  server.last.deliver({ push: 'publication', channel: 'chat:gap', ...s.pubs[2] }); // ... and sends 3 after 1
  await until(() => got.pubs.length === 3, 'gap filled');
  assert.deepEqual(got.pubs, [1, 2, 3]);
  const methods = server.last.sent.map((m) => m.method);
  assert.deepEqual(methods, ['connect', 'subscribe', 'unsubscribe', 'subscribe']);
  assert.deepEqual(server.last.commands('subscribe')[1].params, { channel: 'chat:gap', recover: true, offset: 1, epoch: 'epoch-1' });
});

test('disconnect push with reconnect:false stops the client', async (t) => {
  const { server, client, events } = newClient(t);
  client.connect();
  await client.ready();
  server.last.deliver({ push: 'disconnect', code: 4502, reason: 'forced disconnect', reconnect: false });
  assert.equal(client.state, 'disconnected');
  await settle();
  assert.equal(server.sockets.length, 1, 'no reconnect');
  assert.deepEqual(events.filter(([e]) => e === 'disconnected').map(([, c]) => c), [{ code: 4502, reason: 'forced disconnect' }]);
});

test('close codes 4500-4999 stop, 4000-4499 and others reconnect', async (t) => {
  const { server, client } = newClient(t);
  client.connect();
  await client.ready();
  server.last.drop(4001, 'shutdown');
  await until(() => client.state === 'connected' && server.sockets.length === 2, 'reconnect after 4001');
  server.last.drop(1011, 'server error');
  await until(() => client.state === 'connected' && server.sockets.length === 3, 'reconnect after 1011');
  server.last.drop(4503, 'connection limit');
  assert.equal(client.state, 'disconnected');
  await settle();
  assert.equal(server.sockets.length, 3);
});

test('pings are answered with pongs, and a silent server is left', async (t) => {
  const { server, client, events } = newClient(t);
  // Fractional seconds keep the test short; the wire uses whole seconds.
  server.handlers.set('connect', () => ({ client: 'c', user: '', version: 'fake', proto: 1, expires: false, ping: 0.02, pong: 0.02 }));
  client.connect();
  await client.ready();
  server.last.deliver({ push: 'ping' });
  assert.deepEqual(server.last.sent.at(-1), { method: 'pong' });
  await until(() => server.sockets.length === 2, 'reconnect after silence');
  assert.ok(events.some(([e, c]) => e === 'connecting' && c.code === StateCodes.noPing));
  assert.equal(server.sockets[0].closedBy, 'client');
});

test('server unsubscribe: resubscribe with recovery, or stop', async (t) => {
  const { server, client } = newClient(t);
  client.connect();
  const sub = client.newSubscription('chat:unsub');
  const got = record(sub);
  sub.subscribe();
  await sub.ready();
  server.publish('chat:unsub', 'a');
  server.last.channels.delete('chat:unsub');
  server.last.deliver({ push: 'unsubscribe', channel: 'chat:unsub', code: 2500, reason: 'resubscribe', resubscribe: true });
  assert.equal(sub.state, 'subscribing');
  await until(() => sub.state === 'subscribed', 'resubscribed');
  assert.deepEqual(server.last.commands('subscribe')[1].params, { channel: 'chat:unsub', recover: true, offset: 1, epoch: 'epoch-1' });
  assert.equal(got.subscribed[1].recovered, true);

  server.last.deliver({ push: 'unsubscribe', channel: 'chat:unsub', code: 2000, reason: 'unsubscribed by server', resubscribe: false });
  assert.equal(sub.state, 'unsubscribed');
  assert.deepEqual(got.unsubscribed, [{ channel: 'chat:unsub', code: 2000, reason: 'unsubscribed by server' }]);
  await settle();
  assert.equal(server.last.commands('subscribe').length, 2);
});

test('subscribe errors: temporary ones are retried, others end the subscription', async (t) => {
  const { server, client } = newClient(t);
  let failures = 1;
  server.handlers.set('subscribe', (params, sock) => {
    if (params.channel === 'chat:flaky' && failures-- > 0) return { error: { code: 100, message: 'internal', temporary: true } };
    if (params.channel === 'secret:x') return { error: { code: 103, message: 'permission denied', temporary: false } };
    return server.subscribeResult(params, sock);
  });
  client.connect();
  const flaky = client.newSubscription('chat:flaky');
  const denied = client.newSubscription('secret:x');
  const gotDenied = record(denied);
  flaky.subscribe();
  denied.subscribe();
  await flaky.ready();
  assert.equal(server.last.commands('subscribe').filter((c) => c.params.channel === 'chat:flaky').length, 2);
  await assert.rejects(denied.ready(), (err) => err.code === ErrorCodes.unsubscribed);
  assert.equal(denied.state, 'unsubscribed');
  assert.equal(gotDenied.unsubscribed[0].code, 103);
});

test('getToken is asked before connecting and again after an expired token', async (t) => {
  let calls = 0;
  const { server, client } = newClient(t, { getToken: async () => `tok-${++calls}` });
  server.handlers.set('connect', (params) => {
    if (params.token === 'tok-1') return { error: { code: 108, message: 'token expired', temporary: false } };
    return { client: 'c', user: 'alice', version: 'fake', proto: 1, expires: false, ping: 0, pong: 0 };
  });
  client.connect();
  await until(() => client.state === 'connected', 'connected with a fresh token');
  assert.equal(calls, 2);
  assert.equal(server.sockets[0].sent[0].params.token, 'tok-1');
  assert.equal(server.last.sent[0].params.token, 'tok-2');
});

test('an unauthorized connect stops the client', async (t) => {
  const { server, client, events } = newClient(t, { token: 'bad' });
  server.handlers.set('connect', () => ({ error: { code: 101, message: 'unauthorized', temporary: false } }));
  client.connect();
  await until(() => client.state === 'disconnected', 'disconnected');
  await settle();
  assert.equal(server.sockets.length, 1);
  assert.equal(events.find(([e]) => e === 'disconnected')[1].code, 4501);
});

test('an expiring connection is refreshed with a new token', async (t) => {
  let calls = 0;
  const { server, client } = newClient(t, { getToken: async () => `tok-${++calls}` });
  server.handlers.set('connect', () => ({ client: 'c', user: 'alice', version: 'fake', proto: 1, expires: true, ttl: 0.01, ping: 0, pong: 0 }));
  server.handlers.set('refresh', () => ({ expires: false }));
  client.connect();
  await until(() => server.last && server.last.commands('refresh').length === 1, 'refresh sent');
  assert.deepEqual(server.last.commands('refresh')[0].params, { token: 'tok-2' });
});

test('a live epoch change resubscribes and reports unrecoverable', async (t) => {
  const { server, client } = newClient(t);
  client.connect();
  const sub = client.newSubscription('chat:epoch');
  const got = record(sub);
  sub.subscribe();
  await sub.ready();
  server.publish('chat:epoch', 'a');
  server.resetStream('chat:epoch', 'epoch-9');
  server.publish('chat:epoch', 'b'); // arrives with offset 1 of epoch-9
  await until(() => got.unrecoverable.length === 1, 'unrecoverable');
  assert.equal(sub.epoch, 'epoch-9');
  assert.deepEqual(got.pubs, [1]); // 'b' came on the reset stream: not delivered, the app reloads instead
  server.publish('chat:epoch', 'c');
  assert.deepEqual(got.pubs, [1, 2]);
});

test('unsubscribe sends the command and forgets the position', async (t) => {
  const { server, client } = newClient(t);
  client.connect();
  const sub = client.newSubscription('chat:bye');
  sub.subscribe();
  await sub.ready();
  server.publish('chat:bye', 'a');
  sub.unsubscribe();
  assert.equal(sub.state, 'unsubscribed');
  assert.equal(sub.offset, null);
  await until(() => server.last.commands('unsubscribe').length === 1, 'unsubscribe sent');
  client.removeSubscription(sub);
  assert.equal(client.getSubscription('chat:bye'), null);
  const again = client.newSubscription('chat:bye');
  again.subscribe();
  await again.ready();
  assert.deepEqual(server.last.commands('subscribe')[1].params, { channel: 'chat:bye' });
});

test('join and leave pushes reach the subscription', async (t) => {
  const { server, client } = newClient(t);
  client.connect();
  const sub = client.newSubscription('chat:people', { presence: true });
  const seen = [];
  sub.on('join', (c) => seen.push(['join', c.info.user]));
  sub.on('leave', (c) => seen.push(['leave', c.info.user]));
  sub.subscribe();
  await sub.ready();
  assert.equal(server.last.commands('subscribe')[0].params.presence, true);
  server.last.deliver({ push: 'join', channel: 'chat:people', info: { client: 'b1', user: 'bob' } });
  server.last.deliver({ push: 'leave', channel: 'chat:people', info: { client: 'b1', user: 'bob' } });
  server.last.deliver({ push: 'join', channel: 'chat:other', info: { client: 'c1', user: 'carol' } });
  assert.deepEqual(seen, [['join', 'bob'], ['leave', 'bob']]);
});

test('channels without history are neither recovered nor deduplicated', async (t) => {
  const { server, client } = newClient(t);
  server.handlers.set('subscribe', (params, sock) => {
    sock.channels.add(params.channel);
    return { recoverable: false, was_recovering: !!params.recover, recovered: false, expires: false, publications: [] };
  });
  client.connect();
  const sub = client.newSubscription('live:ticker');
  const got = record(sub);
  const texts = [];
  sub.on('publication', (p) => texts.push(p.data));
  sub.subscribe();
  await sub.ready();
  assert.equal(sub.recoverable, false);
  server.last.deliver({ push: 'publication', channel: 'live:ticker', data: 'a' });
  server.last.deliver({ push: 'publication', channel: 'live:ticker', data: 'a' });
  assert.deepEqual(texts, ['a', 'a']);
  server.last.drop(1006);
  await until(() => got.subscribed.length === 2, 'resubscribed');
  assert.deepEqual(server.last.commands('subscribe')[0].params, { channel: 'live:ticker' });
  assert.equal(got.subscribed[1].wasRecovering, false);
  assert.equal(got.unrecoverable.length, 0);
});

test('a saved position is recovered on the first subscribe', async (t) => {
  const { server, client } = newClient(t);
  server.publish('chat:saved', 'a');
  server.publish('chat:saved', 'b');
  server.publish('chat:saved', 'c');
  client.connect();
  const sub = client.newSubscription('chat:saved', { since: { offset: 1, epoch: 'epoch-1' } });
  const got = record(sub);
  sub.subscribe();
  await sub.ready();
  assert.deepEqual(server.last.commands('subscribe')[0].params, { channel: 'chat:saved', recover: true, offset: 1, epoch: 'epoch-1' });
  assert.equal(got.subscribed[0].recovered, true);
  assert.deepEqual(got.pubs, [2, 3]);
});
