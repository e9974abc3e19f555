// Commutative operations ($inc, $add, $remove inside a patch) applied locally as the server
// applies them, and confirmed data that always comes from the server's copy.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import test from 'node:test';
import { enqueueWrite, readOutbox } from '../src/replay/outbox.js';
import { applyPushResults } from '../src/replay/results.js';
import { applyRemoteChanges, foldPending, getRecord } from '../src/local/store.js';
import { freshDb, serverRecord } from './helpers.js';

const todo = (op, id, data) => ({ space: 's1', collection: 'todos', id, op, data });

/** @param {Array<{op: 'put' | 'patch' | 'delete', data?: any}>} writes */
const entries = (writes) => writes.map((w, i) => ({
  ...w, mid: i + 1, space: 's1', collection: 'todos', id: 'r', base_version: 0, hlc: '', queued_at: 0,
}));

test('chains of puts, patches, operations and deletes settle as the server settles them', () => {
  // Computed by the server's own rules: client_sw/scripts/op-vectors.py (tests/client keeps
  // the file in step with the server).
  const { chains } = JSON.parse(readFileSync(new URL('./op-vectors.json', import.meta.url), 'utf8'));
  assert.ok(chains.length >= 100);
  for (const [n, chain] of chains.entries()) {
    const local = foldPending(null, entries(chain.writes));
    const view = local && { deleted: local.deleted, data: local.deleted ? null : local.data };
    assert.deepEqual(view, chain.server, `chain ${n}: ${JSON.stringify(chain.writes)}`);
  }
});

test('a set is the sorted list of its elements, compared by their JSON, in code point order', () => {
  const view = foldPending(serverRecord({ data: { tags: ['b', 'a', 'b'] } }), entries([
    { op: 'patch', data: { tags: { $add: ['\u{1F600}', '\uFF5A', { k: 1 }, 'a', 10, 2] } } },
    { op: 'patch', data: { tags: { $remove: ['b', 'never-there'] } } },
  ]));
  // '"' < '2' < '{'; then by code point: U+FF5A before U+1F600 (UTF-16 order says otherwise).
  assert.deepEqual(view?.data.tags, ['a', '\uFF5A', '\u{1F600}', 10, 2, { k: 1 }]);
});

test('$inc counts from 0 when the field is missing or null; a bad result changes nothing', () => {
  const view = foldPending(serverRecord({ data: { n: 2, z: null, title: 'x' } }), entries([
    { op: 'patch', data: { n: { $inc: 3 }, z: { $inc: 1 }, m: { $inc: -1 } } },
    { op: 'patch', data: { n: { $inc: 1e308 }, other: 'kept?' } },
    { op: 'patch', data: { n: { $inc: 1e308 }, other: 'no' } },
  ]));
  // The last write would take the counter to infinity: the server rejects it whole.
  assert.deepEqual(view?.data, { n: 1e308 + 5, z: 1, m: -1, title: 'x', other: 'kept?' });
});

test('an operation onto another kind of value changes nothing, as the server rejects it', () => {
  // Issue 18: `$inc` onto a string made it 1 and `$add` onto a number made it a list, here
  // and on the server; the server now answers operation_type_mismatch.
  const data = { s: 'five', o: { a: 1 }, l: [1], b: true, n: 3, t: ['a'] };
  const bad = [
    { s: { $inc: 1 } }, { o: { $inc: 1 } }, { l: { $inc: 1 } }, { b: { $inc: 1 } },
    { s: { $add: ['x'] } }, { n: { $add: ['x'] } }, { o: { $remove: ['a'] } }, { b: { $remove: [true] } },
    { t: { $inc: 1 } }, { n: { $remove: [3] } },
  ];
  for (const patch of bad) {
    const view = foldPending(serverRecord({ data }), entries([{ op: 'patch', data: { ...patch, other: 'no' } }]));
    assert.deepEqual(view?.data, data, JSON.stringify(patch));
  }
});

test('operations never revive a deleted record; a plain patch re-creates it from nothing', () => {
  const deleted = serverRecord({ version: 4, deleted: true, data: null });
  assert.deepEqual(foldPending(deleted, entries([{ op: 'patch', data: { likes: { $inc: 1 } } }])),
    { data: null, deleted: true });
  assert.deepEqual(foldPending(deleted, entries([{ op: 'patch', data: {} }])), { data: null, deleted: true });
  assert.deepEqual(foldPending(deleted, entries([{ op: 'patch', data: { title: 'back', likes: { $inc: 1 } } }])),
    { data: { title: 'back', likes: 1 }, deleted: false });
});

test('a put stores operation-shaped values as plain data, as the server does', () => {
  const view = foldPending(null, entries([{ op: 'put', data: { n: { $inc: 1 } } }]));
  assert.deepEqual(view?.data, { n: { $inc: 1 } });
});

test('an applied $inc is confirmed as the counter, never as the operation', async () => {
  const db = await freshDb();
  await applyRemoteChanges(db, 's1', [serverRecord({ version: 3, data: { likes: 4, tags: ['a'] } })], 'c3');
  await enqueueWrite(db, todo('patch', 't1', { likes: { $inc: 1 }, tags: { $add: ['b'] } }));
  assert.deepEqual((await getRecord(db, 's1', 'todos', 't1'))?.data, { likes: 5, tags: ['a', 'b'] });
  await applyPushResults(db, await readOutbox(db), [{ mid: 1, status: 'applied', version: 4, seq: 8 }]);
  const record = await getRecord(db, 's1', 'todos', 't1');
  assert.deepEqual([record?.version, record?.pending, record?.data], [4, 0, { likes: 5, tags: ['a', 'b'] }]);
});

test("the feed's copy of a version known from our own result replaces the local derivation", async () => {
  const db = await freshDb();
  await applyRemoteChanges(db, 's1', [serverRecord({ version: 3, data: { likes: 4 } })], 'c3');
  await enqueueWrite(db, todo('patch', 't1', { likes: { $inc: 1 } }));
  await applyPushResults(db, await readOutbox(db), [{ mid: 1, status: 'applied', version: 4, seq: 8 }]);
  // The server's version 4 differs from what we derived (e.g. an element's newer removal
  // elsewhere): its copy is the confirmed state.
  const changed = await applyRemoteChanges(db, 's1', [serverRecord({ version: 4, seq: 8, data: { likes: 7 } })], 'c8');
  assert.equal(changed.length, 1);
  assert.deepEqual((await getRecord(db, 's1', 'todos', 't1'))?.data, { likes: 7 });
  // The same copy again is not a change.
  assert.deepEqual(await applyRemoteChanges(db, 's1', [serverRecord({ version: 4, seq: 8, data: { likes: 7 } })], 'c8'), []);
});

test('bad operation arguments are refused before anything is stored', async () => {
  const db = await freshDb();
  await assert.rejects(enqueueWrite(db, todo('patch', 't1', { n: { $inc: '1' } })), TypeError);
  await assert.rejects(enqueueWrite(db, todo('patch', 't1', { n: { $inc: true } })), TypeError);
  await assert.rejects(enqueueWrite(db, todo('patch', 't1', { tags: { $add: 'a' } })), TypeError);
  assert.deepEqual(await readOutbox(db), []);
});
