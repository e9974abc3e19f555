// The worker's Web Push handlers: payloads read, a sync nudge pulled from the real server
// into IndexedDB with the outbox replayed and the open tabs told, the notification the
// app's onPush writes (or the default), and where a click goes. The worker runs as the
// classic build (src/sw-sync.js) in a worker-like scope, as importScripts() loads it; the
// browser's own objects it calls (registration.showNotification, clients) are minimal
// stand-ins that record the calls. The server is the real one.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import vm from 'node:vm';
import { channelName } from '../src/local/notify.js';
import { getRecord } from '../src/local/store.js';
import { writePushState } from '../src/net/webpush.js';
import { countOutbox, enqueueWrite } from '../src/replay/outbox.js';
import { defaultNotification, handleNotificationClick, parsePushPayload } from '../src/sw/push.js';
import { freshDb } from './helpers.js';
import { SyncServer, freePort, put } from './server.js';

const committed = new URL('../src/sw-sync.js', import.meta.url);

/** @type {SyncServer} */
let server;
before(async () => { server = await new SyncServer(await freePort()).start(); });
after(async () => { await server?.dispose(); });

class WorkerChannel extends BroadcastChannel {
  /** @param {string} name */
  constructor(name) {
    super(name);
    this.unref();
  }
}

/** A PushMessageData of this JSON (or text). @param {unknown} body */
const data = (body) => ({
  text: () => (typeof body === 'string' ? body : JSON.stringify(body)),
  json: () => JSON.parse(typeof body === 'string' ? body : JSON.stringify(body)),
});

/**
 * The classic build in a worker scope at `origin` with Background Sync present (no replay
 * at start), a registration that records the notifications shown and the given clients.
 * @param {string} origin
 * @param {{clients?: any, pushManager?: any}} [browser]
 */
function loadWorker(origin, browser = {}) {
  /** @type {Map<string, Function[]>} */
  const handlers = new Map();
  /** @type {Array<{title: string, options: any}>} */
  const shown = [];
  const scope = {
    indexedDB, IDBKeyRange, BroadcastChannel: WorkerChannel, fetch, URL, URLSearchParams, Request, Response, Headers,
    structuredClone, setTimeout, clearTimeout, setInterval, clearInterval, console, crypto, atob, btoa,
    location: { href: `${origin}/sw.js`, origin },
    SyncManager: function SyncManager() {},
    registration: {
      scope: `${origin}/`, sync: {}, pushManager: browser.pushManager,
      async showNotification(/** @type {string} */ title, /** @type {any} */ options) { shown.push({ title, options }); },
    },
    clients: browser.clients ?? { matchAll: async () => [] },
    addEventListener(/** @type {string} */ type, /** @type {Function} */ fn) { handlers.set(type, [...(handlers.get(type) ?? []), fn]); },
  };
  /** @type {any} */ (scope).self = scope;
  vm.createContext(scope);
  vm.runInContext(readFileSync(committed, 'utf8'), scope, { filename: 'sw-sync.js' });
  /**
   * Fire one event and wait for what it asked the worker to wait for.
   * @param {string} type
   * @param {object} event
   */
  const fire = async (type, event) => {
    const [handler] = handlers.get(type) ?? [];
    assert.ok(handler, `a ${type} handler`);
    /** @type {Promise<unknown> | undefined} */
    let waited;
    handler({ ...event, waitUntil: (/** @type {Promise<unknown>} */ p) => { waited = p; } });
    return waited;
  };
  return { api: /** @type {any} */ (scope).SyncServerSW, shown, fire };
}

/** Values made in the worker's realm, as plain values of this one. @param {unknown} value */
const plain = (value) => JSON.parse(JSON.stringify(value));

/** @param {string} space */
const stateFor = (space) => ({ endpoint: 'https://push.example/e1', key: 'k', spaces: [space], resolved: [space], at: 1 });

test('push payloads are read for what they are, and anything else is unknown', () => {
  assert.deepEqual(parsePushPayload(data({ type: 'sync', space: 'family', head: 42 })), { type: 'sync', space: 'family', head: 42 });
  assert.deepEqual(parsePushPayload(data({ type: 'sync', space: 'family' })), { type: 'sync', space: 'family', head: 0 });
  assert.deepEqual(parsePushPayload(data({ type: 'notify', space: 'family', title: 'Dinner', body: 'at 7', url: '/?x=1', tag: 'd' })),
    { type: 'notify', space: 'family', title: 'Dinner', body: 'at 7', url: '/?x=1', tag: 'd' });
  assert.deepEqual(parsePushPayload(data({ type: 'notify', space: 'family', title: 3 })),
    { type: 'notify', space: 'family', title: '', body: '', url: '', tag: '' }, 'wrong types are dropped, not shown');
  assert.equal(parsePushPayload(data({ type: 'sync' })).type, 'unknown', 'a nudge names its space');
  assert.deepEqual(parsePushPayload(data('not json')), { type: 'unknown', text: 'not json' });
  assert.deepEqual(parsePushPayload(null), { type: 'unknown', text: '' });
});

test('the default notification counts what the nudge brought and replaces the last one of its space', () => {
  const scope = 'https://app.example/';
  const two = [{ space: 'family', collection: 'todos', id: 'a' }, { space: 'family', collection: 'todos', id: 'b' }];
  assert.deepEqual(defaultNotification({ type: 'sync', space: 'family', head: 2 }, two, scope),
    { title: '2 new changes in family', body: 'Synced to this device: open the app to see them.', url: scope, tag: 'syncserver:family' });
  assert.equal(defaultNotification({ type: 'sync', space: 'family', head: 2 }, [], scope).title, 'family is up to date');
  assert.deepEqual(defaultNotification({ type: 'notify', space: 'family', title: 'Dinner', body: '', url: '', tag: '' }, [], scope),
    { title: 'Dinner', body: '', url: scope, tag: 'syncserver:family' });
});

test('a sync nudge pulls the space into IndexedDB, replays the outbox, tells the tabs and shows what onPush wrote', async () => {
  const db = await freshDb();
  const space = `push-${process.pid}-a`;
  await writePushState(db, stateFor(space));
  await enqueueWrite(db, { space, collection: 'todos', id: 'mine', op: 'put', data: { title: 'written offline' } });
  await server.push('c-other', [put(1, space, 'todos', 't1', { title: 'milk' }), put(2, space, 'todos', 't2', { title: 'eggs' })]);
  const { api, shown, fire } = loadWorker(server.url.replace(/\/$/, ''));
  /** @type {any[]} */
  const seen = [];
  api.installSyncHandlers({
    dbName: db.name, url: server.url,
    onPush: (/** @type {any} */ changes) => {
      seen.push(changes);
      const items = changes.collections.todos;
      return { title: `${items} new items in Family list`, body: changes.values.map((/** @type {any} */ v) => v.data.title).join(', '), url: '/?list=family' };
    },
  });
  const tab = new BroadcastChannel(channelName(db.name));
  /** @type {any[]} */
  const heard = [];
  tab.onmessage = (event) => heard.push(event.data);
  try {
    await fire('push', { data: data({ type: 'sync', space, head: 2 }) });
    assert.deepEqual((await getRecord(db, space, 'todos', 't1'))?.data, { title: 'milk' });
    assert.deepEqual((await getRecord(db, space, 'todos', 't2'))?.data, { title: 'eggs' });
    assert.equal(await countOutbox(db), 0, 'the queued write went out while the worker was awake');
    const onServer = await (await fetch(`${server.url}v1/changes?space=${space}&since=`)).json();
    assert.deepEqual(onServer.changes.map((/** @type {any} */ c) => c.id).sort(), ['mine', 't1', 't2']);
    assert.equal(seen.length, 1);
    assert.deepEqual(plain(seen[0].records).map((/** @type {any} */ r) => r.id).sort(), ['t1', 't2']);
    assert.deepEqual(plain(seen[0].databases), [db.name]);
    assert.equal(seen[0].head, 2);
    assert.deepEqual(shown.map((n) => n.title), ['2 new items in Family list']);
    const [{ options }] = shown;
    assert.equal(options.body.split(', ').sort().join(', '), 'eggs, milk');
    assert.equal(options.tag, `syncserver:${space}`, "the default's tag, onPush gave none");
    assert.deepEqual(plain(options.data), { syncserver: true, type: 'sync', space, url: '/?list=family' });
    await waitFor(() => heard.some((m) => m.type === 'change' && m.origin === 'remote' && m.records.length === 2), 'the tabs to hear of the pulled records');
  } finally {
    tab.close();
    db.close();
  }
});

test("a nudge counting other users' new records shows the server's title and passes the counts to onPush", async () => {
  const scope = 'https://app.example/';
  const nudge = { type: 'sync', space: 'family', head: 5, new: { messages: 2, todos: 3 }, title: 'New item' };
  assert.deepEqual(parsePushPayload(data({ ...nudge, new: { messages: 2, todos: 3, bad: -1, worse: 'x' } })), nudge, 'only positive whole counts');
  assert.deepEqual(parsePushPayload(data({ type: 'sync', space: 'family', head: 5, new: {}, title: 'New item' })),
    { type: 'sync', space: 'family', head: 5 }, 'no counts: a plain nudge');
  assert.deepEqual(defaultNotification(/** @type {any} */ (nudge), [], scope),
    { title: 'New item', body: '3 new in todos, 2 new in messages', url: scope, tag: 'syncserver:family' });

  const db = await freshDb();
  const space = `push-${process.pid}-new`;
  await writePushState(db, stateFor(space));
  await server.push('c-other', [put(4, space, 'messages', 'm1', { text: 'hi' }), put(5, space, 'messages', 'm2', { text: 'there' })]);
  const { api, shown, fire } = loadWorker(server.url.replace(/\/$/, ''));
  /** @type {any[]} */
  const seen = [];
  api.installSyncHandlers({ dbName: db.name, url: server.url, onPush: (/** @type {any} */ c) => { seen.push(c); } });
  try {
    await fire('push', { data: data({ type: 'sync', space, head: 2, new: { messages: 2 }, title: 'New message' }) });
    assert.deepEqual(plain(seen[0].new), { messages: 2 });
    assert.deepEqual(plain(seen[0].collections), { messages: 2 });
    assert.deepEqual(shown.map((n) => [n.title, n.options.body]), [['New message', '2 new in messages']], "onPush gave none: the server's title");
    await fire('push', { data: data({ type: 'sync', space, head: 2 }) });
    assert.deepEqual(plain(seen[1].new), {}, 'a plain nudge: nothing new');
  } finally {
    db.close();
  }
});

test('a nudge for a space no database registered pulls nothing and still shows a notification', async () => {
  const db = await freshDb();
  const space = `push-${process.pid}-b`;
  await writePushState(db, stateFor('another-space'));
  await server.push('c-other', [put(3, space, 'todos', 't1', { title: 'milk' })]);
  const { api, shown, fire } = loadWorker(server.url.replace(/\/$/, ''));
  api.installSyncHandlers({ dbName: db.name, url: server.url, onPush: () => { throw new Error('an app bug'); } });
  try {
    await fire('push', { data: data({ type: 'sync', space, head: 1 }) });
    assert.equal(await getRecord(db, space, 'todos', 't1'), null);
    assert.deepEqual(shown.map((n) => n.title), [`${space} is up to date`], 'a failing onPush falls back to the default');
  } finally {
    db.close();
  }
});

test("a notify push shows the server's title, body, url and tag, and pulls nothing", async () => {
  const db = await freshDb();
  await writePushState(db, stateFor('family'));
  const { api, shown, fire } = loadWorker(server.url.replace(/\/$/, ''));
  /** @type {any[]} */
  const seen = [];
  api.installSyncHandlers({ dbName: db.name, url: server.url, onPush: (/** @type {any} */ c) => { seen.push(c); } });
  try {
    await fire('push', { data: data({ type: 'notify', space: 'family', title: 'Dinner', body: 'at 7', url: '/?list=family', tag: 'dinner' }) });
    assert.deepEqual(plain(shown), [{ title: 'Dinner', options: { body: 'at 7', tag: 'dinner', data: { syncserver: true, type: 'notify', space: 'family', url: '/?list=family' } } }]);
    assert.deepEqual(plain(seen[0].message), { title: 'Dinner', body: 'at 7', url: '/?list=family', tag: 'dinner' });
    assert.deepEqual(plain(seen[0].records), []);
  } finally {
    db.close();
  }
});

/**
 * Windows as clients.matchAll gives them, recording focus, navigate and openWindow.
 * @param {string[]} urls
 */
function windows(urls) {
  /** @type {string[]} */
  const calls = [];
  const list = urls.map((url) => {
    const client = {
      url,
      async focus() { calls.push(`focus ${client.url}`); return client; },
      async navigate(/** @type {string} */ to) { calls.push(`navigate ${to}`); client.url = to; return client; },
    };
    return client;
  });
  return {
    calls,
    clients: {
      matchAll: async (/** @type {any} */ options) => {
        assert.deepEqual(options, { type: 'window', includeUncontrolled: true });
        return list;
      },
      openWindow: async (/** @type {string} */ url) => { calls.push(`open ${url}`); return { url }; },
    },
  };
}

/** A notification of ours, recording its close. @param {object} fields */
const notification = (fields) => {
  const n = { data: { syncserver: true, ...fields }, closed: false, close() { n.closed = true; } };
  return n;
};

test("a click focuses the window showing the notification's URL, or brings another window of the app there, or opens one", async () => {
  const registration = { scope: 'https://app.example/' };
  const exact = windows(['https://app.example/?user=bob', 'https://app.example/?list=family']);
  const clicked = notification({ url: '/?list=family' });
  await handleNotificationClick({ registration, clients: exact.clients }, clicked);
  assert.deepEqual(exact.calls, ['focus https://app.example/?list=family']);
  assert.ok(clicked.closed);

  const other = windows(['https://elsewhere.example/', 'https://app.example/?user=bob']);
  await handleNotificationClick({ registration, clients: other.clients }, notification({ url: '/?list=family' }));
  assert.deepEqual(other.calls, ['focus https://app.example/?user=bob', 'navigate https://app.example/?list=family']);

  const none = windows([]);
  await handleNotificationClick({ registration, clients: none.clients }, notification({ url: '/?list=family' }));
  assert.deepEqual(none.calls, ['open https://app.example/?list=family']);
});

test("a click never leaves the app's origin, and leaves the app's own notifications alone", async () => {
  const registration = { scope: 'https://app.example/' };
  const none = windows([]);
  await handleNotificationClick({ registration, clients: none.clients }, notification({ url: 'https://evil.example/phish' }));
  assert.deepEqual(none.calls, ['open https://app.example/']);
  const theirs = { data: { mine: true }, closed: false, close() { theirs.closed = true; } };
  assert.equal(await handleNotificationClick({ registration, clients: none.clients }, theirs), undefined);
  assert.equal(theirs.closed, false);
  assert.deepEqual(none.calls, ['open https://app.example/']);
});

/**
 * @param {() => boolean} check
 * @param {string} what
 */
async function waitFor(check, what) {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
