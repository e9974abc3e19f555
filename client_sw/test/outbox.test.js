import assert from 'node:assert/strict';
import test from 'node:test';
import { getClientId } from '../src/local/db.js';
import { countOutbox, enqueueWrite, readOutbox, toWireMutation } from '../src/replay/outbox.js';
import { applyPushResults } from '../src/replay/results.js';
import { applyRemoteChanges, getRecord, listRecords } from '../src/local/store.js';
import { freshDb, serverRecord } from './helpers.js';

const write = (op, id, data) => ({ space: 's1', collection: 'todos', id, op, data });

test('a write lands in the store and the outbox together', async () => {
  const db = await freshDb();
  const { entry } = await enqueueWrite(db, write('put', 't1', { title: 'milk' }), 1763756400000);
  const clientId = await getClientId(db);
  assert.equal(entry.mid, 1);
  assert.equal(entry.base_version, 0);
  assert.equal(entry.hlc, `1763756400000:00000:${clientId}`);
  const record = await getRecord(db, 's1', 'todos', 't1');
  assert.deepEqual(record?.data, { title: 'milk' });
  assert.equal(record?.pending, 1);
  assert.equal(record?.version, 0);
  assert.equal(await countOutbox(db), 1);
});

test('the client id is stable and mids count up per client', async () => {
  const db = await freshDb();
  const id = await getClientId(db);
  assert.match(id, /^[A-Za-z0-9_.:-]{1,128}$/);
  assert.equal(await getClientId(db), id);
  const mids = [];
  for (const n of [1, 2, 3]) mids.push((await enqueueWrite(db, write('put', `t${n}`, { n }))).entry.mid);
  assert.deepEqual(mids, [1, 2, 3]);
});

test('a chain of queued writes is based on the confirmed version (protocol 2)', async () => {
  const db = await freshDb();
  await enqueueWrite(db, write('put', 't1', { title: 'milk', done: false }));
  await enqueueWrite(db, write('patch', 't1', { done: true }));
  await enqueueWrite(db, write('delete', 't1'));
  await enqueueWrite(db, write('put', 't2', { title: 'eggs' }));
  const entries = await readOutbox(db);
  // Nothing confirmed yet: every write of t1 says "I have seen no version of it".
  assert.deepEqual(entries.map((e) => [e.id, e.op, e.base_version, e.protocol]),
    [['t1', 'put', 0, 2], ['t1', 'patch', 0, 2], ['t1', 'delete', 0, 2], ['t2', 'put', 0, 2]]);
  assert.equal(await getRecord(db, 's1', 'todos', 't1'), null, 'deleted locally');
  assert.deepEqual((await listRecords(db, 's1', 'todos')).map((r) => r.id), ['t2']);
});

test('the base version is the last version the server confirmed, for every queued write', async () => {
  const db = await freshDb();
  await applyRemoteChanges(db, 's1', [serverRecord({ version: 4, data: { title: 'milk' } })], 'c4');
  const first = await enqueueWrite(db, write('patch', 't1', { done: true }));
  const second = await enqueueWrite(db, write('patch', 't1', { title: 'oat milk' }));
  assert.equal(first.entry.base_version, 4);
  assert.equal(second.entry.base_version, 4);
  const record = await getRecord(db, 's1', 'todos', 't1');
  assert.deepEqual(record?.data, { title: 'oat milk', done: true });
  assert.equal(record?.version, 4);
});

test('an answer does not move the base of writes already queued; later writes take the new version', async () => {
  const db = await freshDb();
  await applyRemoteChanges(db, 's1', [serverRecord({ version: 4, data: { title: 'milk' } })], 'c4');
  await enqueueWrite(db, write('patch', 't1', { done: true }));
  await enqueueWrite(db, write('patch', 't1', { title: 'oat milk' }));
  const [first] = await readOutbox(db);
  await applyPushResults(db, [first], [{ mid: first.mid, status: 'applied', version: 5, seq: 9 }]);
  // The second write may already be on the wire with base 4: it keeps it (a replay must be
  // byte-identical), and the server does not count our own version 5 as a concurrent change.
  assert.deepEqual((await readOutbox(db)).map((e) => e.base_version), [4]);
  const third = await enqueueWrite(db, write('patch', 't1', { done: false }));
  assert.equal(third.entry.base_version, 5, 'a write queued after the answer saw version 5');
  // A version from the feed (another device's change) is what later writes are based on.
  await applyRemoteChanges(db, 's1', [serverRecord({ version: 7, data: { title: 'theirs', done: true } })], 'c7');
  const fourth = await enqueueWrite(db, write('patch', 't1', { note: 'x' }));
  assert.equal(fourth.entry.base_version, 7);
});

test('HLC stamps of consecutive writes are strictly increasing even in one millisecond', async () => {
  const db = await freshDb();
  const a = await enqueueWrite(db, write('put', 'a', {}), 5000);
  const b = await enqueueWrite(db, write('put', 'b', {}), 5000);
  const c = await enqueueWrite(db, write('put', 'c', {}), 4000);
  assert.ok(a.entry.hlc < b.entry.hlc && b.entry.hlc < c.entry.hlc);
});

test('an invalid write is refused before anything is stored', async () => {
  const db = await freshDb();
  await assert.rejects(enqueueWrite(db, write('put', 'bad id!', {})), TypeError);
  await assert.rejects(enqueueWrite(db, write('patch', 't1', 'text')), TypeError);
  await assert.rejects(enqueueWrite(db, { ...write('put', 't1', {}), collection: '' }), TypeError);
  assert.equal(await countOutbox(db), 0);
  assert.deepEqual(await listRecords(db, 's1', 'todos'), []);
});

test('the wire form is derived from the stored entry only', async () => {
  const db = await freshDb();
  await enqueueWrite(db, write('put', 't1', { title: 'milk' }));
  await enqueueWrite(db, write('delete', 't1'));
  const [put, del] = await readOutbox(db);
  assert.deepEqual(Object.keys(toWireMutation(put)).sort(),
    ['base_version', 'collection', 'data', 'hlc', 'id', 'mid', 'op', 'space']);
  assert.equal('data' in toWireMutation(del), false);
  assert.equal(JSON.stringify(toWireMutation(put)), JSON.stringify(toWireMutation((await readOutbox(db))[0])));
});
