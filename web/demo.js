// @ts-check
// The demo chat served at "/". index.html documents the DOM ids and the
// window.duplexDemo hooks that end-to-end tests rely on.
import { DuplexClient, DuplexError, ErrorCodes } from './duplex.js';

/** @typedef {import('./duplex.js').Subscription<ChatData>} ChatSubscription */
/** @typedef {import('./duplex.js').ClientInfo} ClientInfo */
/** @typedef {import('./duplex.js').Publication<ChatData>} ChatPublication */
/** @typedef {{text: string, name?: string, time?: number}} ChatData */
/**
 * @typedef {object} Message
 * @property {number|null} offset position in the channel stream (null for unpositioned publications)
 * @property {string} name who wrote it, as shown
 * @property {string} user the publisher's user id ('' for anonymous or backend publications)
 * @property {string} client the publisher's connection id ('' for backend publications)
 * @property {string} text
 * @property {number} time milliseconds since the epoch, as sent by the writer (0 if unknown)
 */

const MAX_MESSAGES = 200;
const HISTORY_ON_JOIN = 50;
const NAME_RE = /^[A-Za-z0-9_.-]{1,32}$/;
const ROOM_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** @param {string} id */
function el(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`demo: element #${id} is missing from index.html`);
  return node;
}

const ui = {
  state: el('state'),
  form: /** @type {HTMLFormElement} */ (el('join-form')),
  name: /** @type {HTMLInputElement} */ (el('name')),
  room: /** @type {HTMLInputElement} */ (el('room')),
  join: /** @type {HTMLButtonElement} */ (el('join')),
  roomTitle: el('room-title'),
  messages: el('messages'),
  presence: el('presence'),
  presenceCount: el('presence-count'),
  composer: /** @type {HTMLFormElement} */ (el('composer')),
  text: /** @type {HTMLInputElement} */ (el('text')),
  send: /** @type {HTMLButtonElement} */ (el('send')),
  notice: el('notice'),
};

/** @type {DuplexClient|null} */
let client = null;
/** @type {ChatSubscription|null} */
let sub = null;
let currentName = '';
let currentRoom = '';
/** @type {Message[]} sorted by offset; unpositioned ones stay where they arrived */
let messages = [];
/** @type {Map<string, ClientInfo>} client id -> info */
let presence = new Map();

function wsURL() {
  const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  return `${scheme}${location.host}/connection/websocket`;
}

/**
 * Token for the name from the demo endpoint; '' (anonymous) when the server
 * does not run in demo mode and answers 404.
 * @param {string} name
 */
async function demoToken(name) {
  const res = await fetch(`/demo/token?user=${encodeURIComponent(name)}`, { cache: 'no-store' });
  if (res.status === 404) return '';
  if (!res.ok) throw new Error(`demo token endpoint answered ${res.status}`);
  const body = await res.json();
  return typeof body.token === 'string' ? body.token : '';
}

// ---- rendering ----

/** @param {string} state */
function renderState(state) {
  ui.state.textContent = state;
  ui.state.dataset.state = state;
  const ready = state === 'connected' && !!sub && sub.state === 'subscribed';
  ui.text.disabled = !ready;
  ui.send.disabled = !ready;
}

/**
 * @param {string} text
 * @param {string} kind e.g. 'unrecoverable', 'error', 'info'
 */
function showNotice(text, kind) {
  ui.notice.textContent = text;
  ui.notice.dataset.kind = kind;
  ui.notice.hidden = false;
}

function hideNotice() {
  ui.notice.hidden = true;
  ui.notice.textContent = '';
  delete ui.notice.dataset.kind;
}

/** @param {ClientInfo} info */
function displayName(info) {
  if (info.user) return info.user;
  const extra = /** @type {{name?: unknown}|undefined} */ (info.info);
  if (extra && typeof extra.name === 'string') return extra.name;
  return `guest-${info.client.slice(0, 4)}`;
}

function renderMessages() {
  const atBottom = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 40;
  const frag = document.createDocumentFragment();
  const me = client ? client.clientId : '';
  for (const m of messages) {
    const li = document.createElement('li');
    li.className = 'msg';
    if (m.client && m.client === me) li.classList.add('mine');
    if (m.offset !== null) li.dataset.offset = String(m.offset);
    const head = document.createElement('div');
    head.className = 'head';
    const author = document.createElement('span');
    author.className = 'author';
    author.textContent = m.name;
    head.append(author);
    if (m.time) {
      const time = document.createElement('time');
      time.className = 'time';
      const d = new Date(m.time);
      time.dateTime = d.toISOString();
      time.textContent = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      head.append(time);
    }
    const body = document.createElement('p');
    body.className = 'text';
    body.textContent = m.text;
    li.append(head, body);
    frag.append(li);
  }
  ui.messages.replaceChildren(frag);
  ui.messages.classList.toggle('empty', messages.length === 0);
  if (atBottom || messages.length <= 1) ui.messages.scrollTop = ui.messages.scrollHeight;
}

function renderPresence() {
  const people = presenceList();
  const frag = document.createDocumentFragment();
  for (const p of people) {
    const li = document.createElement('li');
    li.dataset.client = p.client;
    li.dataset.user = p.user;
    li.textContent = p.name;
    if (client && p.client === client.clientId) {
      li.classList.add('me');
      li.title = 'you';
    }
    frag.append(li);
  }
  ui.presence.replaceChildren(frag);
  ui.presenceCount.textContent = String(people.length);
}

// ---- state ----

/**
 * Adds a publication unless one with the same offset is already shown
 * (history and live publications can overlap).
 * @param {ChatPublication} pub
 */
function addPublication(pub) {
  const data = pub.data && typeof pub.data === 'object' ? pub.data : { text: String(pub.data) };
  const fromInfo = pub.info ? pub.info.user : '';
  /** @type {Message} */
  const m = {
    offset: typeof pub.offset === 'number' ? pub.offset : null,
    name: fromInfo || (typeof data.name === 'string' && data.name) || (pub.info ? displayName(pub.info) : 'server'),
    user: fromInfo,
    client: pub.info ? pub.info.client : '',
    text: typeof data.text === 'string' ? data.text : JSON.stringify(data),
    time: typeof data.time === 'number' ? data.time : 0,
  };
  if (m.offset === null) {
    messages.push(m);
  } else {
    if (messages.some((x) => x.offset === m.offset)) return;
    let i = messages.length;
    while (i > 0 && (messages[i - 1].offset === null || /** @type {number} */ (messages[i - 1].offset) > m.offset)) i--;
    messages.splice(i, 0, m);
  }
  if (messages.length > MAX_MESSAGES) messages = messages.slice(messages.length - MAX_MESSAGES);
  renderMessages();
}

/**
 * Replaces what is shown with the room's recent history.
 * @param {ChatSubscription} s
 */
async function loadHistory(s) {
  try {
    const h = await s.history({ limit: HISTORY_ON_JOIN, reverse: true });
    if (s !== sub) return;
    for (const p of h.publications.reverse()) addPublication(p);
  } catch (err) {
    if (err instanceof DuplexError && err.code === ErrorCodes.notAvailable) return; // room keeps no history
    if (s === sub) showNotice(`Could not load history: ${errorText(err)}`, 'error');
  }
}

/** @param {ChatSubscription} s */
async function loadPresence(s) {
  try {
    const res = await s.presence();
    if (s !== sub) return;
    presence = new Map(Object.entries(res.clients));
    renderPresence();
  } catch {
    // presence is optional for the demo
  }
}

/** @param {unknown} err */
function errorText(err) {
  return err instanceof Error ? err.message : String(err);
}

/** @param {string} name */
function newClient(name) {
  const c = new DuplexClient(wsURL(), { getToken: () => demoToken(name), name: 'duplex-demo' });
  c.on('state', ({ state }) => {
    if (c === client) renderState(state);
  });
  c.on('disconnected', ({ code, reason }) => {
    if (c === client && code !== 0) showNotice(`Disconnected by the server (${code}${reason ? `: ${reason}` : ''}). Press Join to connect again.`, 'error');
  });
  c.on('connected', () => {
    if (c !== client) return;
    if (ui.notice.dataset.kind === 'error') hideNotice();
    renderPresence();
  });
  return c;
}

/** @param {string} room */
function newSubscription(room) {
  if (!client) throw new Error('demo: no client');
  const s = /** @type {ChatSubscription} */ (client.newSubscription(`chat:${room}`, { presence: true }));
  s.on('state', () => {
    if (s === sub && client) renderState(client.state);
  });
  s.on('subscribed', (ctx) => {
    if (s !== sub) return;
    if (ctx.presence) {
      presence = new Map(Object.entries(ctx.presence));
      renderPresence();
    } else {
      void loadPresence(s);
    }
    if (ctx.recovered) return; // the missed publications follow as events
    if (ctx.unrecoverable) {
      messages = [];
      renderMessages();
      showNotice('Some messages were missed while offline and could not be recovered; the room was reloaded from history.', 'unrecoverable');
    }
    void loadHistory(s);
  });
  s.on('publication', (pub) => {
    if (s === sub) addPublication(pub);
  });
  s.on('join', ({ info }) => {
    if (s !== sub) return;
    presence.set(info.client, info);
    renderPresence();
  });
  s.on('leave', ({ info }) => {
    if (s !== sub) return;
    presence.delete(info.client);
    renderPresence();
  });
  s.on('unsubscribed', ({ code, reason }) => {
    if (s === sub && code !== 0) showNotice(`Left ${room}: ${reason} (${code})`, 'error');
  });
  return s;
}

/**
 * Connects as name (reconnecting if the name changed) and enters room.
 * @param {string} name
 * @param {string} room
 */
function join(name, room) {
  name = name.trim();
  room = room.trim();
  if (!NAME_RE.test(name)) {
    showNotice('Name: 1 to 32 letters, digits, dot, dash or underscore.', 'error');
    return false;
  }
  if (!ROOM_RE.test(room)) {
    showNotice('Room: 1 to 64 letters, digits, dash or underscore.', 'error');
    return false;
  }
  hideNotice();
  try {
    localStorage.setItem('duplex-demo', JSON.stringify({ name, room }));
  } catch {
    // storage may be off; remembering is a nicety
  }
  if (!client || name !== currentName) {
    if (client) client.disconnect();
    client = newClient(name);
    currentName = name;
    sub = null;
    currentRoom = '';
  }
  if (room !== currentRoom || !sub) {
    if (sub) client.removeSubscription(sub);
    messages = [];
    presence = new Map();
    currentRoom = room;
    sub = newSubscription(room);
    ui.roomTitle.textContent = `#${room}`;
    renderMessages();
    renderPresence();
    sub.subscribe();
  }
  client.connect();
  renderState(client.state);
  ui.text.focus();
  return true;
}

/** @param {string} text */
async function send(text) {
  text = text.trim().slice(0, 2000);
  if (!text || !sub) return false;
  try {
    await sub.publish({ text, name: currentName, time: Date.now() });
    return true;
  } catch (err) {
    showNotice(`Not sent: ${errorText(err)}`, 'error');
    return false;
  }
}

function presenceList() {
  return [...presence.values()]
    .map((info) => ({ client: info.client, user: info.user || '', name: displayName(info) }))
    .sort((a, b) => a.name.localeCompare(b.name) || a.client.localeCompare(b.client));
}

// ---- wiring ----

ui.form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  join(ui.name.value, ui.room.value);
});

ui.composer.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const text = ui.text.value;
  if (await send(text)) ui.text.value = '';
  ui.text.focus();
});

ui.notice.addEventListener('click', hideNotice);

(function init() {
  const params = new URLSearchParams(location.search);
  /** @type {{name?: string, room?: string}} */
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem('duplex-demo') || '{}') || {};
  } catch {
    saved = {};
  }
  ui.name.value = params.get('name') || saved.name || `guest${Math.floor(1000 + Math.random() * 9000)}`;
  ui.room.value = params.get('room') || saved.room || 'lobby';
  renderState('disconnected');
  renderMessages();
  renderPresence();
  if (params.has('name') || params.has('room')) join(ui.name.value, ui.room.value);
})();

/** Hooks for end-to-end tests and the curious; see the comment in index.html. */
const demo = {
  get client() {
    return client;
  },
  get subscription() {
    return sub;
  },
  state: () => (client ? client.state : 'disconnected'),
  subscriptionState: () => (sub ? sub.state : 'unsubscribed'),
  room: () => currentRoom,
  name: () => currentName,
  messages: () => messages.map((m) => ({ ...m })),
  presence: presenceList,
  notice: () => (ui.notice.hidden ? null : { kind: ui.notice.dataset.kind || '', text: ui.notice.textContent || '' }),
  join,
  send,
};
/** @type {any} */ (window).duplexDemo = demo;
