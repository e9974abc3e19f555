// Tokens against a real server started with `--auth jwt`: a refused token or space pauses
// replay (nothing dropped, nothing retried in a loop) and says so; a token function is asked
// again after a 401; logout wipes the user's data; users of one device have their own outbox.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import { pageTokens, readPause, storedTokens, storeToken, writePause } from '../src/net/auth.js';
import { DEFAULT_DB_NAME, getClientId, openDatabase, userDatabaseName } from '../src/local/db.js';
import { countOutbox, enqueueWrite, listDeadLetters, readOutbox } from '../src/replay/outbox.js';
import { replayOutbox } from '../src/replay/replay.js';
import { getRecord } from '../src/local/store.js';
import { createSyncClient, databaseNameOf } from '../src/page/sync-client.js';
import { freshDb } from './helpers.js';
import { SyncServer, freePort } from './server.js';

const SECRET = 'client-auth-test-secret-of-at-least-32-chars';

/**
 * An HS256 JWT signed with the server's secret.
 * @param {string} sub
 * @param {Record<string, string>} spaces  e.g. {'a1': 'rw'}
 * @param {number} [ttl]  seconds; negative: already expired
 */
export function mint(sub, spaces, ttl = 600) {
  const b64 = (/** @type {unknown} */ v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, exp: now + ttl, iat: now, spaces })}`;
  return `${head}.${createHmac('sha256', SECRET).update(head).digest('base64url')}`;
}

/** A notifier that records what replay announces. */
function recorder() {
  /** @type {any[]} */
  const messages = [];
  return { messages, post: (/** @type {any} */ m) => messages.push(m), listen: () => () => {}, close() {} };
}

/** fetch that counts the pushes and the tokens they carried. */
function countingFetch() {
  /** @type {Array<string | null>} */
  const tokens = [];
  /** @type {typeof fetch} */
  const doFetch = (url, init) => {
    tokens.push(new Headers(init?.headers).get('authorization'));
    return fetch(url, init);
  };
  return { tokens, doFetch };
}

/** @type {SyncServer} */
let server;
before(async () => {
  server = await new SyncServer(await freePort(), { SYNCSERVER_AUTH: 'jwt', SYNCSERVER_JWT_SECRET: SECRET }).start();
});
after(async () => { await server?.dispose(); });

test('a 401 pauses replay with the outbox intact and announces auth; nothing is retried until resumed', async () => {
  const db = await freshDb();
  await enqueueWrite(db, { space: 'u1', collection: 'todos', id: 't1', op: 'put', data: { title: 'milk' } });
  await storeToken(db, mint('alice', { u1: 'rw' }, -120)); // expired
  const notifier = recorder();
  const { tokens, doFetch } = countingFetch();
  const summary = await replayOutbox({ db, url: server.url, notifier, tokens: storedTokens(db), fetch: doFetch });
  assert.deepEqual(summary.paused, { status: 401, code: 'unauthorized' });
  assert.equal(tokens.length, 1, 'the same stored token is not worth a retry');
  assert.equal(await countOutbox(db), 1);
  assert.deepEqual(await listDeadLetters(db), []);
  assert.deepEqual(notifier.messages.filter((m) => m.type === 'auth').map((m) => [m.status, m.code]), [[401, 'unauthorized']]);
  // Paused: another replay (a Background Sync retry, the page's fallback) sends nothing.
  const again = await replayOutbox({ db, url: server.url, tokens: storedTokens(db), fetch: doFetch });
  assert.equal(again.paused?.status, 401);
  assert.equal(tokens.length, 1);
  // A page provides a token and lifts the pause: the write goes through.
  await storeToken(db, mint('alice', { u1: 'rw' }));
  await writePause(db, undefined);
  const done = await replayOutbox({ db, url: server.url, tokens: storedTokens(db), fetch: doFetch });
  assert.equal(done.applied, 1);
  assert.equal(done.paused, undefined);
  assert.equal(await countOutbox(db), 0);
  assert.match(String(tokens.at(-1)), /^Bearer /);
});

test('a token function is called again after a 401 and the push is retried once with the new token', async () => {
  const db = await freshDb();
  await enqueueWrite(db, { space: 'u2', collection: 'todos', id: 't1', op: 'put', data: { title: 'eggs' } });
  const issued = [mint('carol', { u2: 'rw' }, -120), mint('carol', { u2: 'rw' })];
  let calls = 0;
  const source = pageTokens(async () => issued[calls++], db);
  const { tokens, doFetch } = countingFetch();
  const summary = await replayOutbox({ db, url: server.url, tokens: source, fetch: doFetch });
  assert.equal(calls, 2, 'once at first use, once after the 401');
  assert.deepEqual(tokens, issued.map((t) => `Bearer ${t}`));
  assert.equal(summary.applied, 1);
  assert.equal(await countOutbox(db), 0);
  assert.equal(await readPause(db), undefined);
  // The token obtained is stored for the service worker.
  assert.equal(await storedTokens(db).get(), issued[1]);
});

test('a token function that keeps failing is asked once per 401, then replay pauses', async () => {
  const db = await freshDb();
  await enqueueWrite(db, { space: 'u3', collection: 'todos', id: 't1', op: 'put', data: {} });
  let calls = 0;
  const source = pageTokens(() => { calls += 1; return mint('dave', { u3: 'rw' }, -120); }, db);
  const { tokens, doFetch } = countingFetch();
  const summary = await replayOutbox({ db, url: server.url, tokens: source, fetch: doFetch });
  assert.equal(summary.paused?.status, 401);
  assert.equal(calls, 2);
  assert.equal(tokens.length, 2);
  assert.equal(await countOutbox(db), 1);
});

test('a 403 for the batch (a client id of another user) pauses replay and keeps the outbox', async () => {
  const db = await freshDb();
  const clientId = await getClientId(db);
  // Alice uses the client id first; Bob's token then pushes with it.
  const first = await fetch(`${server.url}v1/push`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${mint('alice', { u4: 'rw' })}` },
    body: JSON.stringify({ client_id: clientId, mutations: [] }),
  });
  assert.equal(first.status, 200, await first.clone().text());
  await enqueueWrite(db, { space: 'u4', collection: 'todos', id: 't1', op: 'put', data: {} });
  await storeToken(db, mint('bob', { u4: 'rw' }));
  const notifier = recorder();
  const summary = await replayOutbox({ db, url: server.url, notifier, tokens: storedTokens(db) });
  assert.equal(summary.paused?.status, 403);
  assert.equal(summary.paused?.code, 'forbidden');
  assert.equal(await countOutbox(db), 1);
  assert.deepEqual(await listDeadLetters(db), []);
  assert.equal(notifier.messages.filter((m) => m.type === 'auth').length, 1);
});

test('a forbidden mutation in a batch spanning spaces stays queued; the others are applied; replay pauses', async () => {
  const db = await freshDb();
  await enqueueWrite(db, { space: 'ok-space', collection: 'todos', id: 'a', op: 'put', data: { n: 1 } });
  await enqueueWrite(db, { space: 'locked-space', collection: 'todos', id: 'b', op: 'put', data: { n: 2 } });
  await enqueueWrite(db, { space: 'ok-space', collection: 'todos', id: 'c', op: 'put', data: { n: 3 } });
  await storeToken(db, mint('erin', { 'ok-space': 'rw', 'locked-space': 'r' }));
  const notifier = recorder();
  const summary = await replayOutbox({ db, url: server.url, notifier, tokens: storedTokens(db) });
  assert.deepEqual(summary.paused, { status: 403, code: 'forbidden', space: 'locked-space' });
  assert.equal(summary.applied, 2);
  assert.deepEqual((await readOutbox(db)).map((e) => e.id), ['b']);
  assert.deepEqual(await listDeadLetters(db), [], 'forbidden is not final: never dead-lettered');
  assert.equal((await getRecord(db, 'ok-space', 'todos', 'c'))?.version, 1);
  // Access granted later: the same mid succeeds (the server kept no result for it).
  await storeToken(db, mint('erin', { 'ok-space': 'rw', 'locked-space': 'rw' }));
  await writePause(db, undefined);
  const later = await replayOutbox({ db, url: server.url, tokens: storedTokens(db) });
  assert.equal(later.applied, 1);
  assert.equal(await countOutbox(db), 0);
});

let names = 0;
/** @param {Partial<import('../src/page/sync-client.js').SyncClientOptions>} options */
function clientOptions(options) {
  names += 1;
  return {
    space: 'x', url: server.url, live: false, serviceWorker: false, pollWaitSeconds: 1,
    dbName: `auth-client-${process.pid}-${names}`, ...options,
  };
}

test('the client emits auth on a refused space and resumes with setToken', async () => {
  const client = await createSyncClient(clientOptions({ space: 'f1', token: mint('frank', { other: 'rw' }) }));
  try {
    /** @type {any[]} */
    const events = [];
    client.on('auth', (e) => events.push(e));
    await client.collection('todos').put('t1', { title: 'offline' });
    await client.flush();
    const deadline = Date.now() + 5000;
    while (events.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(events.some((e) => e.status === 403 && e.code === 'forbidden' && e.space === 'f1'), JSON.stringify(events));
    assert.equal(await countOutbox(client.db), 1);
    assert.equal((await client.authPaused())?.status, 403);
    await client.setToken(mint('frank', { f1: 'rw' }));
    await client.flush();
    assert.equal(await countOutbox(client.db), 0);
    assert.equal(await client.authPaused(), undefined);
    assert.equal((await client.collection('todos').get('t1'))?.version, 1);
  } finally {
    client.close();
  }
});

test('logout wipes the local data, outbox, cursors and token, and emits logout', async () => {
  const options = clientOptions({ space: 'g1', token: mint('gina', { g1: 'rw' }) });
  const client = await createSyncClient(options);
  await client.collection('todos').put('sent', { title: 'synced' });
  await client.flush();
  await client.pull();
  await client.setToken(mint('gina', { g1: 'r' })); // the next write is refused and stays queued
  await client.collection('todos').put('queued', { title: 'not sent' });
  await client.flush();
  assert.equal(await countOutbox(client.db), 1);
  /** @type {any[]} */
  const events = [];
  client.on('logout', (e) => events.push(e));
  await client.logout();
  assert.deepEqual(events, [{ dbName: options.dbName }]);
  assert.equal(client.closed, true);
  const db = await openDatabase({ name: options.dbName });
  try {
    for (const store of Array.from(db.objectStoreNames)) {
      const count = await new Promise((resolve) => {
        const request = db.transaction([store]).objectStore(store).count();
        request.onsuccess = () => resolve(request.result);
      });
      assert.equal(count, 0, `${store} is empty`);
    }
  } finally {
    db.close();
  }
});

test('two users of one device keep separate databases and outboxes; no user keeps the default name', async () => {
  assert.equal(databaseNameOf({}), DEFAULT_DB_NAME);
  assert.equal(databaseNameOf({ dbName: 'app' }), 'app');
  assert.equal(databaseNameOf({ user: 'alice' }), `${DEFAULT_DB_NAME}~alice`);
  assert.equal(userDatabaseName('a/b~c', 'app'), 'app~a%2Fb~c');
  const dbName = `shared-device-${process.pid}`;
  const alice = await createSyncClient(clientOptions({ space: 'h1', dbName, user: 'alice', token: mint('alice', { h1: 'r' }) }));
  const bob = await createSyncClient(clientOptions({ space: 'h1', dbName, user: 'bob', token: mint('bob', { h1: 'rw' }) }));
  try {
    assert.notEqual(alice.db.name, bob.db.name);
    assert.notEqual(alice.clientId, bob.clientId);
    await alice.collection('todos').put('a', { by: 'alice' });
    await bob.collection('todos').put('b', { by: 'bob' });
    assert.deepEqual((await readOutbox(alice.db)).map((e) => e.id), ['a']);
    assert.deepEqual((await readOutbox(bob.db)).map((e) => e.id), ['b']);
    // Each outbox goes out with its own user's token: Bob's write is applied, Alice's (read
    // only) waits, and Bob's replay never sends it.
    await bob.flush();
    await alice.flush();
    assert.equal(await countOutbox(bob.db), 0);
    assert.equal(await countOutbox(alice.db), 1);
    assert.deepEqual((await readOutbox(alice.db)).map((e) => e.id), ['a'], 'only Alice\'s own write waits');
  } finally {
    alice.close();
    bob.close();
  }
});
