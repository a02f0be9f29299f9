// Compile-time check of web/duplex.d.ts: uses every part of the client API the
// way an application would. It is type checked (tsc --noEmit), never run.
import {
  DuplexClient,
  DuplexError,
  ErrorCodes,
  StateCodes,
  VERSION,
  reconnectDelay,
  type ClientInfo,
  type HistoryResult,
  type Publication,
  type StreamPosition,
  type Subscription,
  type SubscribedContext,
} from '../../web/duplex.js';

interface ChatMessage {
  text: string;
  name: string;
}

const version: string = VERSION;
const firstDelay: number = reconnectDelay(0, 500, 20000);
const fixedDelay: number = reconnectDelay(3, 500, 20000, () => 0.5);

const client = new DuplexClient('wss://example.com/connection/websocket', {
  getToken: async () => {
    const res = await fetch('/demo/token?user=alice');
    if (res.status === 404) return '';
    const body = (await res.json()) as { token: string };
    return body.token;
  },
  name: 'example',
  version,
  data: { locale: 'en' },
  minReconnectDelay: 250,
  maxReconnectDelay: 10000,
  timeout: 5000,
});

const staticClient = new DuplexClient('ws://127.0.0.1:8000/connection/websocket', { token: 'eyJ...' });
staticClient.disconnect();

const offState = client.on('state', ({ state, previous }) => {
  const s: 'disconnected' | 'connecting' | 'connected' = state;
  console.log(previous, '->', s);
});
offState();
client.on('connecting', ({ code, reason }) => {
  if (code === StateCodes.noPing) console.log('server went silent', reason);
});
client.on('connected', (ctx) => {
  const id: string = ctx.client;
  const ttl: number | undefined = ctx.ttl;
  console.log(id, ctx.user, ctx.version, ctx.proto, ctx.expires, ttl);
});
client.once('disconnected', ({ code, reason }) => {
  if (code >= 4500) console.log('server said goodbye for good:', reason);
});
client.on('error', ({ type, error, channel }) => {
  if (error instanceof DuplexError && error.code === ErrorCodes.unauthorized) console.log(type, channel);
});
client.on('publication', (pub: Publication) => console.log('server-side', pub.channel, pub.data));
client.on('subscribed', (ctx: SubscribedContext) => console.log(ctx.channel, ctx.recovered));
client.on('unsubscribed', ({ channel, code }) => console.log(channel, code));
client.on('unrecoverable', ({ channel, previous }) => console.log(channel, previous?.offset));
client.on('join', ({ info }) => console.log(info.user));
client.on('leave', ({ info }) => console.log(info.client));

client.connect();

const saved: StreamPosition = { offset: 41, epoch: 'c1d9a7e3b05f4b7a' };
const sub: Subscription<ChatMessage> = client.newSubscription<ChatMessage>('chat:lobby', {
  presence: true,
  since: saved,
  getToken: async ({ channel }) => `token-for-${channel}`,
  data: { why: 'example' },
});
sub.on('state', ({ state, channel }) => console.log(channel, state));
sub.on('subscribing', ({ code, reason }) => console.log(code, reason));
sub.on('subscribed', (ctx) => {
  if (ctx.unrecoverable) void reload();
  const people: Record<string, ClientInfo> | undefined = ctx.presence;
  console.log(ctx.recoverable, ctx.wasRecovering, ctx.offset, ctx.epoch, ctx.expires, ctx.ttl, people);
});
sub.on('unrecoverable', ({ previous, offset, epoch }) => console.log(previous, offset, epoch));
sub.on('publication', (pub) => {
  const text: string = pub.data.text;
  const who: string | undefined = pub.info?.user;
  console.log(pub.offset, pub.epoch, text, who);
});
sub.on('join', ({ info }) => console.log('join', info.user, info.info));
sub.on('leave', ({ info }) => console.log('leave', info.user));
sub.on('unsubscribed', ({ code, reason }) => console.log(code, reason));
sub.on('error', ({ error }) => console.log(error.message));
sub.subscribe();

async function reload(): Promise<void> {
  const h: HistoryResult<ChatMessage> = await sub.history({ limit: 50, reverse: true });
  for (const p of h.publications) console.log(p.data.name, p.data.text);
  const older = await sub.history({ since: { offset: h.offset, epoch: h.epoch }, reverse: true, limit: 10 });
  console.log(older.publications.length);
}

async function main(): Promise<void> {
  await client.ready();
  await sub.ready(2000);
  const res = await sub.publish({ text: 'hi', name: 'alice' });
  console.log(res.offset, res.epoch);
  const direct = await client.publish('chat:lobby', { text: 'direct', name: 'alice' });
  console.log(direct.offset);
  const presence = await sub.presence();
  for (const [id, info] of Object.entries(presence.clients)) console.log(id, info.user);
  const stats = await sub.presenceStats();
  console.log(stats.num_clients, stats.num_users);
  const clientPresence = await client.presence('chat:lobby');
  console.log(Object.keys(clientPresence.clients).length);
  const clientStats = await client.presenceStats('chat:lobby');
  console.log(clientStats.num_users);
  const hist = await client.history<ChatMessage>('chat:lobby', { limit: 0 });
  console.log(hist.offset, hist.publications.map((p) => p.data.text));
  await client.ping();
  try {
    await client.publish('nope:x', null);
  } catch (err) {
    if (err instanceof DuplexError && err.temporary) console.log('retry later', err.code);
  }
  const same = client.getSubscription<ChatMessage>('chat:lobby');
  console.log(same?.state, same?.offset, same?.epoch, same?.recoverable, client.subscriptions().length);
  sub.unsubscribe();
  client.removeSubscription(sub);
  console.log(client.state, client.clientId, client.user, client.url, firstDelay, fixedDelay);
  client.disconnect();
}

void main();

// @ts-expect-error: publish data must match the subscription's type
void sub.publish({ wrong: true });
// @ts-expect-error: unknown events are rejected
client.on('nonsense', () => {});
