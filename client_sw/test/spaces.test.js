// One client, many spaces, against a real server with `--auth jwt`: the spaces come from a
// list or from the token (GET /v1/spaces), writes to all of them share one outbox and go out
// in one push, catch-up is one POST /v1/pull, a read-only space refuses writes before the
// outbox, and a space the token no longer grants is dropped from the device (records,
// cursors, conflict log), its queued writes dead-lettered, in every tab.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openDatabase, req, transact } from '../src/local/db.js';
import { createNotifier } from '../src/local/notify.js';
import { pullSpaces } from '../src/feed/multipull.js';
import { applyRemoteChanges, listRecords } from '../src/local/store.js';
import { storeToken, storedTokens } from '../src/net/auth.js';
import { countOutbox, enqueueWrite, listConflicts, listDeadLetters, readOutbox } from '../src/replay/outbox.js';
import { replayOutbox } from '../src/replay/replay.js';
import { SpaceError } from '../src/page/space.js';
import { createSyncClient } from '../src/page/sync-client.js';
import { freshDb, serverRecord } from './helpers.js';
import { SyncServer, freePort, put } from './server.js';
import { JWT_SECRET, mint, pushAs } from './tokens.js';

/** @type {SyncServer} */
let server;
before(async () => {
  server = await new SyncServer(await freePort(), {
    SYNCSERVER_AUTH: 'jwt', SYNCSERVER_JWT_SECRET: JWT_SECRET, SYNCSERVER_WS_MAX_SUBSCRIPTIONS: '64',
  }).start();
});
after(async () => { await server?.dispose(); });

let counter = 0;
/** @param {string} name  a space name of its own for this test run */
const sp = (name) => `${name}-${process.pid}-${++counter}`;

let mids = 0;
/**
 * Another device (user bob, read-write everywhere) writes one todo in each space.
 * @param {string[]} spaces
 * @param {string} id
 */
async function bobWrites(spaces, id) {
  const grants = Object.fromEntries(spaces.map((s) => [s, 'rw']));
  await pushAs(server.url, mint('bob', grants), 'c-other', spaces.map((s) => put(++mids, s, 'todos', id, { title: `${id} in ${s}` })));
}

/**
 * @param {() => boolean | Promise<boolean>} check
 * @param {string} what
 */
async function until(check, what, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
}

/**
 * globalThis.fetch, recorded: each request's method and path (and a push's body), with the
 * paths in `blocked` failing as a network failure does (the server is not reached).
 */
function recordFetch() {
  const real = globalThis.fetch;
  /** @type {Array<{method: string, path: string, body?: any}>} */
  const requests = [];
  /** @type {Set<string>} */
  const blocked = new Set();
  globalThis.fetch = async (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const method = init?.method ?? 'GET';
    if (blocked.has(url.pathname)) throw new TypeError('fetch failed (blocked by the test)');
    requests.push({ method, path: url.pathname, body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined });
    return real(input, init);
  };
  return { requests, blocked, real, restore: () => { globalThis.fetch = real; } };
}

/** @param {Partial<import('../src/page/sync-client.js').SyncClientOptions>} options */
function clientOptions(options) {
  counter += 1;
  return {
    url: server.url, live: false, serviceWorker: false, pollWaitSeconds: 1, dbName: `spaces-${process.pid}-${counter}`,
    ...options,
  };
}

test('writes to many spaces share one outbox and one push; catch-up of all is one POST /v1/pull', async () => {
  const [a, b] = [sp('a'), sp('b')];
  await bobWrites([a, b], 'from-bob');
  const fetches = recordFetch();
  const client = await createSyncClient(clientOptions({ spaces: [a, b], token: mint('ann', { [a]: 'rw', [b]: 'rw' }), pollWaitSeconds: 30 }));
  try {
    assert.deepEqual(client.spaces, [a, b]);
    await until(async () => (await client.space(a).collection('todos').all()).length === 1
      && (await client.space(b).collection('todos').all()).length === 1, 'both spaces pulled');
    const pulls = fetches.requests.filter((r) => r.path === '/v1/pull');
    assert.equal(pulls.length, 1, 'one request for both spaces');
    assert.deepEqual(Object.keys(pulls[0].body.cursors), [a, b]);
    assert.equal(fetches.requests.filter((r) => r.path === '/v1/changes').length, 0, 'no pull per space');

    fetches.blocked.add('/v1/push');
    await client.space(a).collection('todos').put('x', { title: 'mine in a' });
    await client.space(b).collection('todos').patch('from-bob', { done: true });
    assert.equal(client.pending, 2);
    assert.deepEqual([await client.space(a).pending(), await client.space(b).pending()], [1, 1]);
    // Unreachable is said as the failed push is reported; the replay ends a moment later
    // (a flush before that joins it and fails with it).
    await until(() => client.space(b).status === 'unreachable' && !client.replays.running, 'unreachable while pushes fail');
    fetches.blocked.delete('/v1/push');
    const before = fetches.requests.length;
    await client.flush();
    const pushes = fetches.requests.slice(before).filter((r) => r.path === '/v1/push');
    assert.equal(pushes.length, 1, 'one push');
    assert.deepEqual(pushes[0].body.mutations.map((/** @type {any} */ m) => m.space), [a, b], 'one batch over both spaces');
    assert.equal(client.pending, 0);
    assert.deepEqual((await client.space(b).collection('todos').get('from-bob'))?.data, { title: `from-bob in ${b}`, done: true });
    await client.pull();
    await until(() => client.space(a).status === 'up-to-date' && client.space(b).status === 'up-to-date', 'both up to date');
  } finally {
    fetches.restore();
    client.close();
  }
});

test('the spaces of the token, their modes, and the API refusing what they do not allow', async () => {
  const [a, b] = [sp('a'), sp('b')].sort();
  const client = await createSyncClient(clientOptions({ spaces: 'token', token: async () => mint('dan', { [a]: 'rw', [b]: 'r' }) }));
  try {
    assert.deepEqual(client.spaces, [a, b]);
    assert.deepEqual([client.space(a).mode, client.space(b).mode], ['rw', 'r']);
    assert.throws(() => client.collection('todos'), /follows several spaces: use sync\.space\(name\)\.collection\('todos'\)/);
    assert.throws(() => client.space('elsewhere'), (e) => e instanceof SpaceError && e.code === 'not_followed');
    await assert.rejects(client.space(b).collection('todos').put('t1', { title: 'no' }), (e) => e instanceof SpaceError
      && e.code === 'forbidden' && e.space === b && e.mode === 'r' && e.message.includes(`'${b}'`) && /mode r/.test(e.message));
    assert.equal(await countOutbox(client.db), 0, 'nothing queued');
    await client.space(a).collection('todos').put('t1', { title: 'yes' });
    await client.flush();
    assert.equal((await client.space(a).collection('todos').get('t1'))?.version, 1);
  } finally {
    client.close();
  }
  await assert.rejects(createSyncClient(clientOptions({ space: a, spaces: [b] })), /either `space`.*or `spaces`/);
});

test('a refreshed token without a space revokes it in every tab; one with a new space adds it', async () => {
  const [a, b, c] = [sp('a'), sp('b'), sp('c')];
  await bobWrites([a, b, c], 'shared');
  /** @type {Record<string, string>} */
  let grants = { [a]: 'rw', [b]: 'rw' };
  const options = clientOptions({ spaces: 'token', token: async () => mint('eve', grants) });
  const fetches = recordFetch();
  const tab1 = await createSyncClient(options);
  const tab2 = await createSyncClient(options);
  /** @type {Record<string, any[]>} */
  const events = { tab1: [], tab2: [], added: [] };
  tab1.on('space-revoked', (e) => events.tab1.push(e));
  tab2.on('space-revoked', (e) => events.tab2.push(e));
  tab1.on('space-added', (e) => events.added.push(e));
  try {
    await until(async () => (await listRecords(tab1.db, b, 'todos')).length === 1, 'b pulled');
    // A conflict log entry of each space, as a settled write leaves it.
    await transact(tab1.db, ['conflicts'], 'readwrite', async (tx) => {
      for (const space of [a, b]) {
        await req(tx.objectStore('conflicts').add({ status: 'conflict', mutation: { space, collection: 'todos', id: 'shared' }, record: null, at: 1 }));
      }
    });
    fetches.blocked.add('/v1/push');
    const bTodos = tab1.space(b).collection('todos'); // the app keeps it
    await bTodos.patch('shared', { mine: true });
    await tab1.space(a).collection('todos').put('kept', { title: 'still goes out' });

    grants = { [a]: 'rw', [c]: 'r' };
    await tab1.resume(); // the token function is called again: a refresh
    await until(() => events.tab1.length === 1 && events.tab2.length === 1, 'space-revoked in both tabs');
    const expected = { space: b, code: 'forbidden', dropped: 1, deadLetters: 1 };
    for (const event of [events.tab1[0], events.tab2[0]]) {
      assert.deepEqual({ space: event.space, code: event.code, dropped: event.dropped, deadLetters: event.deadLetters }, expected);
    }
    assert.deepEqual(await listRecords(tab1.db, b, 'todos'), [], 'its records are gone');
    const cursors = await transact(tab1.db, ['cursors'], 'readonly', (tx) => req(tx.objectStore('cursors').getAll()));
    assert.deepEqual(cursors.filter((/** @type {any} */ row) => row.space === b), [], 'its cursors are gone');
    assert.deepEqual((await listConflicts(tab1.db)).map((entry) => entry.mutation.space), [a], 'its conflict log is gone');
    const [dead] = await listDeadLetters(tab1.db);
    assert.deepEqual([dead.code, dead.mutation.space, dead.mutation.id], ['forbidden', b, 'shared']);
    assert.deepEqual((await readOutbox(tab1.db)).map((e) => e.space), [a], 'the other space\'s write waits');
    assert.ok(!tab2.spaces.includes(b), 'the other tab no longer follows it');
    await assert.rejects(bTodos.put('again', {}), (e) => e instanceof SpaceError && e.code === 'forbidden' && e.space === b);
    assert.deepEqual(await bTodos.all(), []);
    assert.throws(() => tab1.space(b), (e) => e instanceof SpaceError && e.code === 'not_followed');

    await until(async () => (await listRecords(tab1.db, c, 'todos')).length === 1, 'the granted space pulled');
    assert.deepEqual(events.added, [{ space: c, mode: 'r' }]);
    assert.deepEqual(tab1.spaces.sort(), [a, c].sort());
    fetches.blocked.delete('/v1/push');
    await tab1.flush();
    assert.equal(await countOutbox(tab1.db), 0);
  } finally {
    fetches.restore();
    tab1.close();
    tab2.close();
  }
});

test('a space that a pull answers forbidden is revoked, and a late page of it is not stored', async () => {
  const [a, x] = [sp('a'), sp('x')];
  await bobWrites([a, x], 'r1');
  const options = clientOptions({ spaces: [a, x], token: mint('fay', { [a]: 'rw' }) });
  // This device kept a copy of x from when it could read it.
  const db = await openDatabase({ name: options.dbName });
  await applyRemoteChanges(db, x, [serverRecord({ space: x, id: 'old' })], undefined);
  db.close();
  const fetches = recordFetch();
  fetches.blocked.add('/v1/spaces'); // only the pull can tell
  /** @type {any[]} */
  const revoked = [];
  const client = await createSyncClient(options);
  client.on('space-revoked', (e) => revoked.push(e));
  try {
    await until(() => revoked.length === 1, 'x revoked');
    assert.equal(revoked[0].space, x);
    assert.deepEqual(client.spaces, [a]);
    assert.deepEqual(await listRecords(client.db, x, 'todos'), []);
    await until(async () => (await listRecords(client.db, a, 'todos')).length === 1, 'a pulled');
    // A pull of x that was in flight when it was revoked stores nothing.
    assert.deepEqual(await applyRemoteChanges(client.db, x, [serverRecord({ space: x, id: 'late' })], 'c'), []);
    assert.deepEqual(await listRecords(client.db, x, 'todos'), []);
  } finally {
    fetches.restore();
    client.close();
  }
});

test('follow() adds a space of a list and unfollow() stops following it, keeping its data', async () => {
  const [a, b] = [sp('a'), sp('b')];
  await bobWrites([a, b], 'f1');
  const client = await createSyncClient(clientOptions({ spaces: [a], token: mint('gus', { [a]: 'rw', [b]: 'rw' }) }));
  try {
    /** @type {any[]} */
    const added = [];
    client.on('space-added', (e) => added.push(e));
    await client.follow(b);
    assert.deepEqual(added, [{ space: b, mode: 'rw' }]);
    await until(async () => (await client.space(b).collection('todos').all()).length === 1, 'b pulled');
    client.unfollow(b);
    assert.deepEqual(client.spaces, [a]);
    assert.equal(client.space(a).followed, true);
    assert.equal((await listRecords(client.db, b, 'todos')).length, 1, 'its data stays');
    assert.throws(() => client.space(b), (e) => e instanceof SpaceError && e.code === 'not_followed');
  } finally {
    client.close();
  }
});

test('replay holds back a space the server refuses and sends the other spaces\' writes behind it', async () => {
  const [a, locked] = [sp('a'), sp('locked')];
  const db = await freshDb();
  for (const [space, id] of [[locked, 'l1'], [a, 'a1'], [a, 'a2'], [locked, 'l2'], [a, 'a3']]) {
    await enqueueWrite(db, { space, collection: 'todos', id, op: 'put', data: {} });
  }
  await storeToken(db, mint('hal', { [a]: 'rw', [locked]: 'r' }));
  const summary = await replayOutbox({ db, url: server.url, batchSize: 2, tokens: storedTokens(db) });
  assert.equal(summary.applied, 3, 'every write of the other space went out');
  assert.deepEqual(summary.paused, { status: 403, code: 'forbidden', space: locked });
  assert.deepEqual((await readOutbox(db)).map((e) => e.id), ['l1', 'l2']);
  assert.deepEqual(await listDeadLetters(db), []);
});

test('a refusal the worker met is settled by a page of many spaces: the pause is lifted and the write delivered', async () => {
  const [a, b] = [sp('a'), sp('b')];
  const options = clientOptions({ spaces: 'token', token: async () => mint('ivy', { [a]: 'rw', [b]: 'rw' }) });
  const fetches = recordFetch();
  const client = await createSyncClient(options);
  try {
    fetches.blocked.add('/v1/push'); // the page does not deliver it first
    await client.space(b).collection('todos').put('w', { title: 'queued' });
    // The worker replays with an older token of the user, stored before b was made writable.
    const worker = await openDatabase({ name: options.dbName });
    const notifier = createNotifier(options.dbName);
    const older = mint('ivy', { [a]: 'rw', [b]: 'r' });
    const summary = await replayOutbox({
      db: worker, url: server.url, notifier, fetch: fetches.real, source: 'worker:sync',
      tokens: { get: async () => older, refresh: async () => undefined },
    });
    assert.deepEqual(summary.paused, { status: 403, code: 'forbidden', space: b });
    fetches.blocked.delete('/v1/push');
    await until(async () => (await client.authPaused()) === undefined && client.pending === 0, 'the pause lifted and the write delivered');
    assert.equal((await client.space(b).collection('todos').get('w'))?.version, 1);
    assert.deepEqual(await listDeadLetters(client.db), []);
    notifier.close();
    worker.close();
  } finally {
    fetches.restore();
    client.close();
  }
});

test('a space made read-only by a refreshed token has its queued writes dead-lettered and keeps its data', async () => {
  const [a] = [sp('a')];
  await bobWrites([a], 'ro');
  /** @type {Record<string, string>} */
  let grants = { [a]: 'rw' };
  const fetches = recordFetch();
  const client = await createSyncClient(clientOptions({ spaces: 'token', token: async () => mint('jon', grants) }));
  try {
    await until(async () => (await listRecords(client.db, a, 'todos')).length === 1, 'a pulled');
    fetches.blocked.add('/v1/push');
    await client.space(a).collection('todos').patch('ro', { title: 'mine' });
    /** @type {any[]} */
    const rejected = [];
    client.on('rejected', (e) => rejected.push(e));
    grants = { [a]: 'r' };
    await client.resume();
    await until(() => client.space(a).mode === 'r' && client.pending === 0, 'mode r, nothing queued');
    assert.deepEqual(rejected.map((e) => [e.mutation.id, e.result.code]), [['ro', 'forbidden']]);
    const [dead] = await listDeadLetters(client.db);
    assert.equal(dead.code, 'forbidden');
    assert.deepEqual((await client.space(a).collection('todos').get('ro'))?.data, { title: `ro in ${a}` }, 'the view without the write');
    assert.deepEqual(client.spaces, [a], 'still followed');
  } finally {
    fetches.restore();
    client.close();
  }
});

test('thirty-odd spaces live on one WebSocket: caught up, live changes, revoked by a new hello, a grant subscribed', async () => {
  // Node 20 has WebSocket behind a flag: the client runs in a child process with it on.
  const child = join(dirname(fileURLToPath(import.meta.url)), 'spaces-feed-child.js');
  const out = await new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--experimental-websocket', '--no-warnings', child, server.url, `live${process.pid}`],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    proc.stdout.on('data', (chunk) => { text += chunk; });
    proc.on('exit', (code) => (code === 0 ? resolve(JSON.parse(text)) : reject(new Error(`child exited ${code}: ${text}`))));
  });
  const seen = /** @type {any} */ (out);
  assert.equal(seen.followed, 31);
  assert.equal(seen.sockets, 1, 'one socket for every space, through a revocation and a grant');
  assert.equal(seen.wsGauge, 1, 'the server counts one WebSocket');
  assert.equal(seen.pulls, 0, 'the socket never closed: no HTTP catch-up');
  assert.ok(seen.liveMs < 5000, `live changes after ${seen.liveMs} ms`);
  assert.equal(seen.spaceStatus, 'up-to-date');
  assert.deepEqual(seen.revoked, [`live${process.pid}-x`]);
  assert.equal(seen.xRecords, 0, 'the revoked space\'s records are gone');
  assert.deepEqual(seen.added, [{ space: `live${process.pid}-y`, mode: 'r' }]);
  assert.equal(seen.spaces, 31);
});

test('a server that takes fewer spaces per pull (too_many_spaces) gets them in smaller requests', async () => {
  const small = await new SyncServer(await freePort(), { SYNCSERVER_MAX_PULL_SPACES: '2' }).start();
  try {
    const spaces = ['p0', 'p1', 'p2', 'p3', 'p4'];
    await small.push('c-other', spaces.map((space, i) => put(i + 1, space, 'todos', 't1', { n: i })));
    const db = await freshDb();
    /** @type {number[]} */
    const sizes = [];
    /** @type {typeof fetch} */
    const counting = async (url, init) => {
      const response = await fetch(url, init);
      sizes.push(response.ok ? Object.keys(JSON.parse(String(init?.body)).cursors).length : -response.status);
      return response;
    };
    const changed = await pullSpaces({ db, url: small.url, spaces, fetch: counting });
    assert.deepEqual(sizes, [-400, -400, 2, 2, 1], 'refused at 5 and 3 spaces, then 2 at a time');
    assert.deepEqual(changed.map((r) => r.space).sort(), spaces);
    for (const space of spaces) assert.equal((await listRecords(db, space, 'todos')).length, 1);
  } finally {
    await small.dispose();
  }
});
