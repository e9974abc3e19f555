// Declared collections in the page client, against a real syncserver started with a
// collections file: GET /v1/collections read (with its ETag) and kept in IndexedDB, writes
// checked before they are queued (a put's data, a patch merged onto the local copy),
// refused with a SchemaInvalidError, offline too; writes stamped with `appVersion`; an app
// older than the server takes told (`upgraderequired`), and the server's own
// `upgrade_required` for writes stamped below its min_app_version. What the client pushes is
// read off its own requests (pushesSeen), never answered by anything but the server.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openDatabase } from '../src/local/db.js';
import { createNotifier } from '../src/local/notify.js';
import { fetchDeclaration, readDeclaration } from '../src/net/collections.js';
import { SchemaInvalidError } from '../src/page/declared.js';
import { createSyncClient } from '../src/page/sync-client.js';
import { countOutbox, enqueueWrite, listDeadLetters } from '../src/replay/outbox.js';
import { replayOutbox } from '../src/replay/replay.js';
import { readUpgradePause, startAppVersion } from '../src/replay/upgrade.js';
import { freshDb } from './helpers.js';
import { SyncServer, freePort } from './server.js';

const FILE = `
app_version = 3
min_app_version = 2
undeclared = "reject"

[collections.todos]
version = 3

[collections.todos.schema]
type = "object"
required = ["title"]
properties.title = { type = "string", maxLength = 20 }
properties.done = { type = "boolean" }
properties.likes = { type = "integer", maximum = 2 }

[collections.notes]
`;

/** @type {SyncServer[]} */
const servers = [];
after(async () => { for (const server of servers) await server.dispose(); });

/** @type {Promise<SyncServer> | null} */
let declaring = null;
/** The server with the collections file, started once for the tests that share it. */
function declaringServer() {
  declaring ??= (async () => {
    const server = new SyncServer(await freePort());
    const path = join(server.dir, 'collections.toml');
    writeFileSync(path, FILE);
    server.env = { SYNCSERVER_COLLECTIONS: path };
    servers.push(server);
    return server.start();
  })();
  return declaring;
}

/**
 * @param {string} url
 * @param {string} space
 * @param {Partial<import('../src/page/sync-client.js').SyncClientOptions>} [more]
 */
async function newClient(url, space, more = {}) {
  const db = await freshDb();
  const dbName = db.name;
  db.close();
  return createSyncClient({ space, url, dbName, live: false, pollWaitSeconds: 1, serviceWorker: false, ...more });
}

/**
 * @param {() => boolean} check
 * @param {string} what
 */
async function until(check, what, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * @param {Promise<unknown>} write
 * @param {Partial<SchemaInvalidError>} expected
 */
async function refused(write, expected) {
  await assert.rejects(write, (/** @type {any} */ error) => {
    assert.ok(error instanceof SchemaInvalidError, String(error));
    for (const [key, value] of Object.entries(expected)) assert.equal(error[key], value, key);
    return true;
  });
}

test('a record that breaks its schema is refused before the outbox, with the pointer and the server\'s words', async () => {
  const server = await declaringServer();
  const front = pushesSeen(server.url);
  const sync = await newClient(server.url, 'd1', { appVersion: 3 });
  try {
    assert.equal(sync.declaration?.declared, true, 'read at start');
    const todos = sync.collection('todos');
    await refused(todos.put('t1', { title: 5 }), {
      code: 'schema_invalid', collection: 'todos', id: 't1', pointer: '/title', detail: '5 is not of type "string"',
    });
    await refused(todos.put('t1', { done: true }), { pointer: '', detail: '"title" is a required property' });
    await assert.rejects(todos.put('t1', { title: 'x'.repeat(21) }), /todos\/t1 does not match the collection's schema at \/title: "x{21}" is longer than 20 characters; the write was not queued/);
    assert.equal(await countOutbox(sync.db), 0, 'nothing queued');
    assert.equal(await todos.get('t1'), null, 'nothing shown');

    await todos.put('t1', { title: 'milk', likes: 1 });
    // A patch is checked as it leaves the record: merged onto this device's copy.
    await refused(todos.patch('t1', { title: null }), { pointer: '', detail: '"title" is a required property' });
    await refused(todos.patch('t1', { done: 'yes' }), { pointer: '/done' });
    await refused(todos.patch('t1', { likes: { $inc: 2 } }), { pointer: '/likes', detail: '3 is greater than the maximum of 2' });
    await todos.patch('t1', { done: true, likes: { $inc: 1 } });
    assert.deepEqual((await todos.get('t1'))?.data, { title: 'milk', likes: 2, done: true });
    await todos.delete('t1'); // a tombstone is not checked
    await todos.put('t2', { title: 'bread' });
    await sync.collection('notes').put('n1', { anything: ['goes'] }); // declared, no schema
    await refused(sync.collection('other').put('o1', { title: 'x' }), { code: 'unknown_collection', collection: 'other' });

    // Every write went out stamped with the app version, and nothing refused did.
    await sync.flush();
    assert.equal(await countOutbox(sync.db), 0);
    assert.deepEqual(front.mutations.map((m) => [m.id, m.op, m.app_version]),
      [['t1', 'put', 3], ['t1', 'patch', 3], ['t1', 'delete', 3], ['t2', 'put', 3], ['n1', 'put', 3]]);
    const page = await (await fetch(`${server.url}v1/changes?space=d1`)).json();
    assert.deepEqual(page.changes.map((/** @type {any} */ c) => [c.id, c.deleted]), [['t1', true], ['t2', false], ['n1', false]]);
  } finally {
    sync.close();
    front.close();
  }
});

test('offline, the declaration kept in IndexedDB still refuses; online, it is revalidated with its ETag', async () => {
  const server = await declaringServer();
  const first = await newClient(server.url, 'd2', { appVersion: 3 });
  const dbName = first.db.name;
  first.close();
  // The same database, the server unreachable: the copy kept at the first start checks.
  const away = `http://127.0.0.1:${await freePort()}/`;
  const offline = await createSyncClient({ space: 'd2', url: away, dbName, live: false, serviceWorker: false, appVersion: 3 });
  try {
    assert.equal(offline.declaration?.undeclared, 'reject');
    await refused(offline.collection('todos').put('t1', { title: false }), { pointer: '/title' });
    await refused(offline.collection('other').put('o1', {}), { code: 'unknown_collection' });
    await offline.collection('todos').put('t1', { title: 'queued offline' });
    assert.equal(await countOutbox(offline.db), 1);
  } finally {
    offline.close();
  }
  // Asked again, the server answers 304 to the ETag held: the copy stays, its time moves.
  const db = await openDatabase({ name: dbName });
  try {
    const held = await readDeclaration(db);
    assert.ok(held?.etag);
    /** @type {number[]} */
    const statuses = [];
    const fresh = await fetchDeclaration({
      db, url: server.url,
      fetch: async (url, init) => { const r = await fetch(url, init); statuses.push(r.status); return r; },
    });
    assert.deepEqual(statuses, [304]);
    assert.equal(fresh.etag, held.etag);
    assert.deepEqual(fresh.body, held.body);
    assert.ok(fresh.at >= held.at);
  } finally {
    db.close();
  }
});

test('a server without a collections file checks nothing, and an app older than min_app_version is told', async () => {
  const plain = new SyncServer(await freePort());
  servers.push(plain);
  await plain.start();
  const open = await newClient(plain.url, 'd3');
  try {
    assert.equal(open.declaration?.declared, false);
    await open.collection('anything').put('a1', { title: 5 });
    assert.equal(await countOutbox(open.db), 1);
    assert.equal(open.upgradeRequired, null);
  } finally {
    open.close();
  }
  // min_app_version is 2: an app of version 1 (or one that gives none) must be reloaded.
  const server = await declaringServer();
  const old = await newClient(server.url, 'd3', { appVersion: 1 });
  try {
    /** @type {any[]} */
    const events = [];
    old.on('upgraderequired', (event) => events.push(event));
    // Found while starting (or, on a slow machine, just after): told once the app listens.
    await until(() => events.length > 0, 'upgraderequired');
    assert.deepEqual(events.map((e) => [e.appVersion, e.minAppVersion, e.source]), [[1, 2, 'collections']]);
    assert.match(events[0].message, /reload/);
    assert.equal(old.upgradeRequired?.minAppVersion, 2);
    await old.refreshCollections();
    assert.equal(events.length, 1, 'told once');
  } finally {
    old.close();
  }
  await assert.rejects(createSyncClient({ space: 'x', appVersion: 0 }), /appVersion must be a whole number from 1/);
  await assert.rejects(createSyncClient({ space: 'x', appVersion: /** @type {any} */ ('2') }), TypeError);
});

/**
 * The push bodies this process sends to `url` from now on, as the client sent them (a
 * wrapper of fetch that only looks: the real server answers every request).
 * @param {string} url
 */
function pushesSeen(url) {
  const seen = { pushes: 0, mutations: /** @type {any[]} */ ([]) };
  const realFetch = globalThis.fetch;
  /** @type {typeof fetch} */
  const looking = async (input, init) => {
    if (String(input instanceof Request ? input.url : input) === `${url}v1/push`) {
      seen.pushes += 1;
      const body = JSON.parse(String(init?.body ?? 'null'));
      for (const m of body?.mutations ?? []) {
        if (!seen.mutations.some((s) => s.mid === m.mid)) seen.mutations.push(m);
      }
    }
    return realFetch(input, init);
  };
  globalThis.fetch = looking;
  return { get pushes() { return seen.pushes; }, mutations: seen.mutations, close: () => { globalThis.fetch = realFetch; } };
}

test('upgrade_required stops replay and keeps the outbox; the app reloaded at a newer version sends again and drops what is refused', async () => {
  const server = await declaringServer();
  const front = pushesSeen(server.url); // the server's min_app_version is 2
  const db = await freshDb();
  const notifier = createNotifier(db.name);
  /** @type {any[]} */
  const posted = [];
  notifier.listen((message) => posted.push(message));
  try {
    await startAppVersion(db, 1);
    const write = (/** @type {string} */ id, /** @type {number} */ version) => enqueueWrite(db, {
      space: 'd4', collection: 'todos', id, op: 'put', data: { title: id }, app_version: version,
    });
    await write('old1', 1);
    await write('old2', 1);
    const first = await replayOutbox({ db, url: server.url, notifier, source: 'test' });
    assert.equal(first.upgradeRequired?.app_version, 1);
    assert.match(first.upgradeRequired?.message ?? '', /reload the app/);
    assert.equal(await countOutbox(db), 2, 'kept: nothing dropped');
    assert.deepEqual(await listDeadLetters(db), []);
    assert.ok(posted.some((m) => m.type === 'upgrade-required' && m.app_version === 1), 'every tab is told');
    // Paused: the next replay (the worker's, another tab's) sends nothing.
    const pushes = front.pushes;
    assert.ok((await replayOutbox({ db, url: server.url })).upgradeRequired);
    assert.equal(front.pushes, pushes);
    assert.ok(await readUpgradePause(db));

    // The app, reloaded, is version 2: the pause is lifted, the old writes are answered
    // upgrade_required once more and dropped as refused; its own go through.
    assert.equal(await startAppVersion(db, 2), undefined);
    await write('new1', 2);
    const second = await replayOutbox({ db, url: server.url, notifier });
    assert.equal(second.upgradeRequired, undefined);
    assert.equal(second.applied, 1);
    assert.deepEqual((await listDeadLetters(db)).map((d) => [d.mutation.id, d.code]),
      [['old1', 'upgrade_required'], ['old2', 'upgrade_required']]);
    assert.equal(await countOutbox(db), 0);
    const page = await (await fetch(`${server.url}v1/changes?space=d4`)).json();
    assert.deepEqual(page.changes.map((/** @type {any} */ c) => c.id), ['new1']);
  } finally {
    notifier.close();
    db.close();
    front.close();
  }
});

test('the page tells the app to reload when its own version is refused, not when an older one is', async () => {
  const server = await declaringServer();
  const sync = await newClient(server.url, 'd5', { appVersion: 3 });
  try {
    /** @type {any[]} */
    const events = [];
    sync.on('upgraderequired', (event) => events.push(event));
    // What another context posts: the worker's replay paused on a write of version 3 ...
    sync.onMessage({ type: 'upgrade-required', app_version: 3, message: 'reload', mid: 1, at: 0, source: 'worker:sync' });
    // ... and an older tab's write dropped (version 2): this page is newer, nothing to do.
    sync.onMessage({ type: 'rejected', mutation: /** @type {any} */ ({ mid: 2, app_version: 2 }), result: { mid: 2, status: 'rejected', code: 'upgrade_required', message: 'old' } });
    assert.deepEqual(events.map((e) => [e.appVersion, e.source, e.message]), [[3, 'push', 'reload']]);
    assert.equal(sync.upgradeRequired?.appVersion, 3);
  } finally {
    sync.close();
  }
});
