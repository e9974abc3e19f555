// Replay failure paths against real sockets: a port nobody listens on (network error) and
// a real HTTP server answering 503 (what a proxy says while the sync server is down). The
// success path runs against the real sync server in tests/browser.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import test from 'node:test';
import { req, setMeta, transact } from '../src/local/db.js';
import { withReplayLock } from '../src/replay/lock.js';
import { countOutbox, enqueueWrite, readOutbox } from '../src/replay/outbox.js';
import { replayOutbox, ReplayError } from '../src/replay/replay.js';
import { getRecord } from '../src/local/store.js';
import { freshDb } from './helpers.js';

/** @returns {Promise<number>} a port that was free a moment ago, now closed */
async function closedPort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function queueTwo(db) {
  await enqueueWrite(db, { space: 's1', collection: 'todos', id: 't1', op: 'put', data: { title: 'milk' } });
  await enqueueWrite(db, { space: 's1', collection: 'todos', id: 't1', op: 'patch', data: { done: true } });
}

test('a network error keeps every entry and rejects so the browser retries', async () => {
  const db = await freshDb();
  await queueTwo(db);
  const before = await readOutbox(db);
  await assert.rejects(replayOutbox({ db, url: `http://127.0.0.1:${await closedPort()}/` }), TypeError);
  assert.deepEqual(await readOutbox(db), before);
  assert.equal((await getRecord(db, 's1', 'todos', 't1'))?.pending, 2);
});

test('a 503 keeps every entry and rejects; the request carried the whole batch in order', async () => {
  const db = await freshDb();
  await queueTwo(db);
  /** @type {any[]} */
  const bodies = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => { body += chunk; });
    request.on('end', () => {
      bodies.push({ path: request.url, type: request.headers['content-type'], body: JSON.parse(body) });
      response.writeHead(503, { 'content-type': 'text/plain' }).end('upstream unavailable');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  try {
    const error = await replayOutbox({ db, url: `http://127.0.0.1:${port}` }).catch((e) => e);
    assert.ok(error instanceof ReplayError);
    assert.equal(error.status, 503);
  } finally {
    server.close();
  }
  assert.equal(await countOutbox(db), 2);
  assert.equal(bodies.length, 1);
  assert.equal(bodies[0].path, '/v1/push');
  assert.equal(bodies[0].type, 'application/json');
  assert.deepEqual(bodies[0].body.mutations.map((m) => [m.mid, m.op, m.base_version]), [[1, 'put', 0], [2, 'patch', 0]]);
  assert.equal(bodies[0].body.protocol, 2, 'the bases are protocol 2 bases');
  assert.match(bodies[0].body.client_id, /^c-/);
});

/**
 * A real HTTP server that records each push body and answers 503.
 * @returns {Promise<{url: string, bodies: any[], close: () => void}>}
 */
async function unavailableServer() {
  /** @type {any[]} */
  const bodies = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => { body += chunk; });
    request.on('end', () => {
      bodies.push(JSON.parse(body));
      response.writeHead(503, { 'content-type': 'text/plain' }).end('upstream unavailable');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return { url: `http://127.0.0.1:${port}/`, bodies, close: () => server.close() };
}

test('writes queued by a protocol 1 client are sent in a batch of their own, as protocol 1', async () => {
  const db = await freshDb();
  // An outbox entry left by the previous client version: its base counts the writes queued
  // before it, which only a protocol 1 batch reads correctly.
  await transact(db, ['outbox'], 'readwrite', (tx) => req(tx.objectStore('outbox').add({
    mid: 1, space: 's1', collection: 'todos', id: 't0', op: 'patch', data: { a: 1 },
    base_version: 3, hlc: '1763756400000:00000:c-old', queued_at: 1,
  })));
  await transact(db, ['meta'], 'readwrite', (tx) => setMeta(tx, 'next_mid', 2));
  await queueTwo(db);
  const server = await unavailableServer();
  try {
    await assert.rejects(replayOutbox({ db, url: server.url }), ReplayError);
    await transact(db, ['outbox'], 'readwrite', (tx) => req(tx.objectStore('outbox').delete(1)));
    await assert.rejects(replayOutbox({ db, url: server.url }), ReplayError);
  } finally {
    server.close();
  }
  assert.deepEqual(server.bodies.map((b) => [b.protocol, b.mutations.map((m) => m.mid)]),
    [[undefined, [1]], [2, [2, 3]]]);
});

test('an empty outbox makes no request', async () => {
  const db = await freshDb();
  const summary = await replayOutbox({ db, url: `http://127.0.0.1:${await closedPort()}/` });
  assert.deepEqual(summary, { sent: 0, applied: 0, conflicts: 0, merged: 0, rejected: 0 });
});

test('the database lease lets one replay run at a time', async () => {
  const db = await freshDb();
  let inside = 0;
  let maxInside = 0;
  const order = [];
  const work = (name) => withReplayLock(db, async () => {
    inside += 1;
    maxInside = Math.max(maxInside, inside);
    order.push(`${name}:in`);
    await new Promise((resolve) => setTimeout(resolve, 30));
    order.push(`${name}:out`);
    inside -= 1;
  }, { locks: null, pollMs: 5 });
  await Promise.all([work('a'), work('b'), work('c')]);
  assert.equal(maxInside, 1);
  assert.equal(order.length, 6);
});

test('a lease left by a dead holder expires', async () => {
  const db = await freshDb();
  // A worker killed while replaying leaves its lease behind and never renews it.
  await transact(db, ['meta'], 'readwrite',
    (tx) => setMeta(tx, 'replay_lease', { owner: 'dead-worker', expires: Date.now() + 80 }));
  const started = Date.now();
  let ran = false;
  await withReplayLock(db, async () => { ran = true; }, { locks: null, pollMs: 5 });
  assert.ok(ran);
  assert.ok(Date.now() - started >= 60, 'it waited for the lease to expire');
});
