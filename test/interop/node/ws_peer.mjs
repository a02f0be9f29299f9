// Node ws peer for the Duplex interop tests; the same command line, events
// and control messages as python/ws_peer.py:
//
//   node ws_peer.mjs server --compression MODE
//   node ws_peer.mjs client --url URL --compression MODE --scenario basic|compress
//
// MODE is none, default (perMessageDeflate with ws's defaults, every message
// compressed) or notakeover (no context takeover in either direction).
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';

const MAX_PAYLOAD = 64 << 20;
const TIMEOUT_MS = 30000;

function emit(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
}

class Failure extends Error {}

function deflateOptions(mode) {
  switch (mode) {
    case 'none':
      return false;
    case 'default':
      return { threshold: 0 };
    case 'notakeover':
      return { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true };
    default:
      throw new Error(`unknown compression mode ${mode}`);
  }
}

// binary returns n bytes of a compressible, non-trivial pattern; rep varies
// the first byte.
function binary(n, rep = 0) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (((i % 97) * 31) + (i >> 12)) & 0xff;
  if (n > 0) b[0] = rep & 0xff;
  return b;
}

// text returns at most n bytes of UTF-8 with multi-byte characters.
function text(n, rep = 0) {
  const unit = 'interop ✓ 世界 duplex ';
  let b = Buffer.from(`${rep}:` + unit.repeat(Math.floor(n / Buffer.byteLength(unit)) + 1)).subarray(0, n);
  // Drop a character cut in two by the limit.
  let end = b.length;
  for (let i = b.length - 1; i >= Math.max(0, b.length - 4); i--) {
    const c = b[i];
    if (c < 0x80) break;
    if (c >= 0xc0) {
      const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
      if (b.length - i < need) end = i;
      break;
    }
  }
  return b.subarray(0, end).toString('utf8');
}

function runServer(mode) {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    perMessageDeflate: deflateOptions(mode),
    maxPayload: MAX_PAYLOAD,
  });
  wss.on('headers', (headers, req) => {
    const h = headers.find((l) => l.toLowerCase().startsWith('sec-websocket-extensions:'));
    req.duplexExtensions = h ? h.slice(h.indexOf(':') + 1).trim() : '';
  });
  wss.on('connection', (ws, req) => {
    emit('open', { path: req.url, extensions: req.duplexExtensions || '' });
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        const s = data.toString('utf8');
        if (s.startsWith('cmd:close ')) {
          const [, code, ...reason] = s.split(' ');
          ws.close(Number(code), reason.join(' '));
          return;
        }
        if (s === 'cmd:ping') {
          ws.once('pong', () => ws.send('cmd:pinged'));
          ws.ping(Buffer.from('node-server'));
          return;
        }
      }
      ws.send(data, { binary: isBinary });
    });
    ws.on('close', (code, reason) => emit('closed', { code, reason: reason.toString('utf8') }));
    ws.on('error', (err) => process.stderr.write(`connection error: ${err.message}\n`));
  });
  wss.on('listening', () => emit('listening', { port: wss.address().port }));
}

// Connection wraps a client WebSocket with a queue of received messages.
class Connection {
  constructor(url, mode) {
    this.ws = new WebSocket(url, { perMessageDeflate: deflateOptions(mode), maxPayload: MAX_PAYLOAD });
    this.items = [];
    this.waiters = [];
    this.closed = null;
    this.extensions = '';
    this.ws.on('upgrade', (res) => {
      this.extensions = res.headers['sec-websocket-extensions'] || '';
    });
    this.ws.on('message', (data, isBinary) => this.push({ data, isBinary }));
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString('utf8') };
      this.push({ close: this.closed });
    });
    this.ws.on('error', (err) => this.push({ error: err }));
  }

  async open() {
    const [ev] = await Promise.race([
      once(this.ws, 'open').then(() => ['open']),
      once(this.ws, 'error').then(([e]) => [e]),
    ]);
    if (ev !== 'open') throw new Failure(`connect: ${ev.message}`);
  }

  push(item) {
    const w = this.waiters.shift();
    if (w) w(item);
    else this.items.push(item);
  }

  recv() {
    if (this.items.length > 0) return Promise.resolve(this.items.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Failure('no message within the timeout')), TIMEOUT_MS);
      this.waiters.push((item) => {
        clearTimeout(timer);
        resolve(item);
      });
    });
  }

  async recvMessage(name) {
    const item = await this.recv();
    if (item.close) throw new Failure(`${name}: closed ${item.close.code} ${item.close.reason}`);
    if (item.error) throw new Failure(`${name}: ${item.error.message}`);
    return item;
  }

  async expectEcho(name, msg) {
    const isBinary = typeof msg !== 'string';
    this.ws.send(msg, { binary: isBinary });
    const got = await this.recvMessage(name);
    if (got.isBinary !== isBinary) throw new Failure(`${name}: sent binary=${isBinary}, echo binary=${got.isBinary}`);
    const want = isBinary ? msg : Buffer.from(msg, 'utf8');
    if (!got.data.equals(want)) throw new Failure(`${name}: echo of ${got.data.length} bytes differs from the ${want.length} sent`);
    emit('check', { name });
  }

  async close(code, reason) {
    this.ws.close(code, reason);
    while (!this.closed) await this.recv();
    return this.closed;
  }
}

async function basic(url, mode) {
  const c = new Connection(url, mode);
  await c.open();
  emit('open', { extensions: c.extensions });
  await c.expectEcho('text', 'Hello, Duplex! ✓ héllo 世界');
  await c.expectEcho('binary', Buffer.from([...Array(256).keys()]));
  await c.expectEcho('empty text', '');
  await c.expectEcho('empty binary', Buffer.alloc(0));
  await c.expectEcho('large binary', binary((1 << 20) + 13));
  await c.expectEcho('large text', text(1 << 20));

  // Fragments that cut a three-byte character in two.
  const frag = Buffer.from('frag-1 ✓ frag-2 ✓✓ frag-3');
  const cuts = [0, 8, 9, 20, frag.length];
  for (let i = 0; i + 1 < cuts.length; i++) {
    c.ws.send(frag.subarray(cuts[i], cuts[i + 1]), { binary: false, fin: i + 2 === cuts.length });
  }
  let got = await c.recvMessage('fragmented text');
  if (got.isBinary || !got.data.equals(frag)) throw new Failure(`fragmented text: echo is ${got.data.toString()}`);
  emit('check', { name: 'fragmented text' });
  const parts = [Buffer.from([0, 1]), Buffer.from([2]), Buffer.from([3, 4])];
  parts.forEach((p, i) => c.ws.send(p, { binary: true, fin: i === parts.length - 1 }));
  got = await c.recvMessage('fragmented binary');
  if (!got.isBinary || !got.data.equals(Buffer.from([0, 1, 2, 3, 4]))) {
    throw new Failure(`fragmented binary: echo is ${got.data.toString('hex')}`);
  }
  emit('check', { name: 'fragmented binary' });

  const pong = once(c.ws, 'pong');
  c.ws.ping(Buffer.from('node-client'));
  const [payload] = await pong;
  if (payload.toString() !== 'node-client') throw new Failure(`ping: pong carries ${payload}`);
  emit('check', { name: 'ping' });
  c.ws.send('cmd:ping');
  got = await c.recvMessage('pinged by server');
  if (got.data.toString() !== 'cmd:pinged') throw new Failure(`server ping: got ${got.data}`);
  emit('check', { name: 'pinged by server' });

  c.ws.send('cmd:close 4001 server says bye ✓');
  const item = await c.recv();
  if (!item.close || item.close.code !== 4001 || item.close.reason !== 'server says bye ✓') {
    throw new Failure(`server close: got ${JSON.stringify(item.close || 'a message')}`);
  }
  emit('check', { name: 'close by server' });

  const c2 = new Connection(url, mode);
  await c2.open();
  await c2.expectEcho('second connection', 'again');
  const closed = await c2.close(4002, 'client says bye ✓');
  emit('check', { name: 'close by client', echoed_code: closed.code, echoed_reason: closed.reason });
}

async function compress(url, mode) {
  const c = new Connection(url, mode);
  await c.open();
  emit('open', { extensions: c.extensions });
  for (let rep = 0; rep < 5; rep++) {
    for (const n of [10, 10 << 10, 1 << 20]) {
      await c.expectEcho(`binary ${n} #${rep}`, binary(n, rep));
      await c.expectEcho(`text ${n} #${rep}`, text(n, rep));
    }
  }
  // A compressed message in fragments, cut inside characters.
  const t = Buffer.from(text(30 << 10, 7));
  const cuts = [0, 10001, 20002, t.length];
  for (let i = 0; i + 1 < cuts.length; i++) {
    c.ws.send(t.subarray(cuts[i], cuts[i + 1]), { binary: false, fin: i + 2 === cuts.length });
  }
  let got = await c.recvMessage('fragmented text');
  if (got.isBinary || !got.data.equals(t)) throw new Failure(`fragmented text: echo of ${got.data.length} bytes differs`);
  emit('check', { name: 'fragmented text' });
  const b = binary(30 << 10, 8);
  for (let i = 0; i + 1 < cuts.length; i++) {
    c.ws.send(b.subarray(cuts[i], Math.min(cuts[i + 1], b.length)), { binary: true, fin: i + 2 === cuts.length });
  }
  got = await c.recvMessage('fragmented binary');
  if (!got.isBinary || !got.data.equals(b)) throw new Failure(`fragmented binary: echo of ${got.data.length} bytes differs`);
  emit('check', { name: 'fragmented binary' });
  const closed = await c.close(1000, 'done');
  emit('check', { name: 'close', echoed_code: closed.code });
}

async function runClient(url, mode, scenario) {
  try {
    if (scenario === 'basic') await basic(url, mode);
    else if (scenario === 'compress') await compress(url, mode);
    else throw new Error(`unknown scenario ${scenario}`);
  } catch (err) {
    emit('fail', { error: err.message });
    process.exit(1);
  }
  emit('done');
  process.exit(0);
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string' },
    compression: { type: 'string', default: 'none' },
    scenario: { type: 'string', default: 'basic' },
  },
});
if (positionals[0] === 'server') runServer(values.compression);
else if (positionals[0] === 'client') runClient(values.url, values.compression, values.scenario);
else {
  process.stderr.write('usage: ws_peer.mjs server|client [--url URL] [--compression MODE] [--scenario NAME]\n');
  process.exit(2);
}
