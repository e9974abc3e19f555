// A push refused as a whole (400: a bad client_id or protocol) against a real syncserver
// process: replay pauses and says why; nothing is dead-lettered, the outbox stays in order.
// Only a mutation's own rejection (its per-mutation result) dead-letters that mutation.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { req, setMeta, transact } from '../src/local/db.js';
import { createNotifier } from '../src/local/notify.js';
import { enqueueWrite, listDeadLetters, readOutbox } from '../src/replay/outbox.js';
import { readRefusal, writeRefusal } from '../src/replay/refusal.js';
import { replayOutbox } from '../src/replay/replay.js';
import { freshDb } from './helpers.js';
import { SyncServer, freePort } from './server.js';

/** @type {SyncServer} */
let server;
before(async () => { server = await new SyncServer(await freePort()).start(); });
after(async () => { await server?.dispose(); });

/** @param {IDBDatabase} db */
async function queueThree(db, space) {
  for (const id of ['a', 'b', 'c']) {
    await enqueueWrite(db, { space, collection: 'todos', id, op: 'put', data: { title: id } });
  }
}

/** @param {IDBDatabase} db */
function setClientId(db, id) {
  return transact(db, ['meta'], 'readwrite', (tx) => setMeta(tx, 'client_id', id));
}

test('a batch refused for its client_id pauses replay, says why and dead-letters nothing', async () => {
  const db = await freshDb();
  await setClientId(db, 'c-refusal-1');
  await queueThree(db, 'refused-1');
  const before = await readOutbox(db);
  // The server reserves this client id for its own stamps: a 400 for the whole batch.
  await setClientId(db, 'server');
  const notifier = createNotifier(db.name);
  /** @type {any[]} */
  const messages = [];
  notifier.listen((m) => messages.push(m));
  try {
    const summary = await replayOutbox({ db, url: server.url, notifier });
    assert.deepEqual(await listDeadLetters(db), [], 'a batch-level refusal is no mutation\'s fault');
    assert.deepEqual(await readOutbox(db), before, 'the outbox is kept as it was');
    assert.equal(summary.rejected, 0);
    assert.equal(summary.refused?.status, 400);
    assert.equal(summary.refused?.code, 'invalid_request');
    assert.equal(summary.refused?.field, 'client_id');
    assert.match(summary.refused?.detail ?? '', /reserved/);
    const refused = messages.filter((m) => m.type === 'refused');
    assert.equal(refused.length, 1, 'the pages are told once');
    assert.equal(refused[0].field, 'client_id');
    assert.deepEqual(await readRefusal(db), summary.refused, 'the pause is kept for every tab and the worker');

    // Paused: a replay from anywhere sends nothing until the pause is lifted.
    const again = await replayOutbox({ db, url: server.url, notifier });
    assert.equal(again.sent, 0);
    assert.deepEqual(again.refused, summary.refused);

    // Fixed (here: a valid client id) and lifted: the same writes are delivered, in order.
    await setClientId(db, 'c-refusal-1');
    await writeRefusal(db, undefined);
    const delivered = await replayOutbox({ db, url: server.url, notifier });
    assert.equal(delivered.applied, 3);
    assert.deepEqual(await readOutbox(db), []);
  } finally {
    notifier.close();
  }
});

test('a batch refused for its protocol pauses replay and dead-letters nothing', async () => {
  const db = await freshDb();
  await queueThree(db, 'refused-2');
  // Entries written under a protocol this server does not know (a client newer than it).
  await transact(db, ['outbox'], 'readwrite', async (tx) => {
    const store = tx.objectStore('outbox');
    const entries = await req(store.getAll());
    for (const entry of entries) await req(store.put({ ...entry, protocol: 99 }));
  });
  const summary = await replayOutbox({ db, url: server.url });
  assert.deepEqual(await listDeadLetters(db), []);
  assert.equal((await readOutbox(db)).length, 3);
  assert.equal(summary.refused?.field, 'protocol');
});

test('a mutation rejected in its own result is dead-lettered; its neighbours are applied', async () => {
  const db = await freshDb();
  await setClientId(db, 'c-refusal-own');
  await queueThree(db, 'refused-3');
  // The middle entry is made invalid on the wire (an op the server does not know).
  await transact(db, ['outbox'], 'readwrite', async (tx) => {
    const store = tx.objectStore('outbox');
    const entry = (await req(store.getAll()))[1];
    await req(store.put({ ...entry, op: 'frobnicate' }));
  });
  const summary = await replayOutbox({ db, url: server.url });
  assert.equal(summary.refused, undefined);
  assert.equal(summary.applied, 2);
  const dead = await listDeadLetters(db);
  assert.deepEqual(dead.map((d) => [d.mutation.id, d.code]), [['b', 'unknown_op']]);
  assert.deepEqual(await readOutbox(db), []);
});

test('a write holding a lone surrogate is refused at the call site (it could never be sent)', async () => {
  const db = await freshDb();
  await assert.rejects(
    enqueueWrite(db, { space: 's1', collection: 'todos', id: 'x', op: 'put', data: { title: 'a\ud800b' } }),
    TypeError);
  await assert.rejects(
    enqueueWrite(db, { space: 's1', collection: 'todos', id: 'x', op: 'put', data: { ['\udc00']: 1 } }),
    TypeError);
  // A well-formed pair is fine.
  await enqueueWrite(db, { space: 's1', collection: 'todos', id: 'x', op: 'put', data: { title: 'a\ud83d\ude00b' } });
  assert.equal((await readOutbox(db)).length, 1);
});

test('an entry queued with a lone surrogate before that check is its own dead letter, not the batch\'s pause', async () => {
  const db = await freshDb();
  await setClientId(db, 'c-refusal-surrogate');
  await queueThree(db, 'refused-4');
  await transact(db, ['outbox'], 'readwrite', async (tx) => {
    const store = tx.objectStore('outbox');
    const entry = (await req(store.getAll()))[0];
    await req(store.put({ ...entry, data: { title: 'x\ud800' } }));
  });
  const summary = await replayOutbox({ db, url: server.url });
  assert.equal(summary.refused, undefined, 'no pause: the poison write is alone at fault');
  assert.equal(summary.applied, 2);
  assert.deepEqual((await listDeadLetters(db)).map((d) => [d.mutation.id, d.code]), [['a', 'malformed_json']]);
  assert.deepEqual(await readOutbox(db), []);
});
