import assert from 'node:assert/strict';
import test from 'node:test';
import { countOutbox, enqueueWrite, listConflicts, listDeadLetters, readOutbox } from '../src/replay/outbox.js';
import { applyPushResults } from '../src/replay/results.js';
import { applyRemoteChanges, getRecord } from '../src/local/store.js';
import { freshDb, serverRecord } from './helpers.js';

const todo = (op, id, data) => ({ space: 's1', collection: 'todos', id, op, data });

test('applied: the entry leaves the outbox and the record takes the new version', async () => {
  const db = await freshDb();
  await enqueueWrite(db, todo('put', 't1', { title: 'milk' }));
  await enqueueWrite(db, todo('patch', 't1', { done: true }));
  const entries = await readOutbox(db);
  const outcome = await applyPushResults(db, entries, [
    { mid: 1, status: 'applied', version: 1, seq: 10 },
    { mid: 2, status: 'applied', version: 2, seq: 11 },
  ]);
  assert.equal(outcome.applied, 2);
  assert.equal(await countOutbox(db), 0);
  const record = await getRecord(db, 's1', 'todos', 't1');
  assert.deepEqual([record?.version, record?.pending, record?.data], [2, 0, { title: 'milk', done: true }]);
  // The next write is based on the confirmed version.
  const next = await enqueueWrite(db, todo('delete', 't1'));
  assert.equal(next.entry.base_version, 2);
});

test('a partial answer keeps the unanswered entries and their view', async () => {
  const db = await freshDb();
  await enqueueWrite(db, todo('put', 't1', { title: 'milk' }));
  await enqueueWrite(db, todo('patch', 't1', { done: true }));
  const outcome = await applyPushResults(db, await readOutbox(db), [{ mid: 1, status: 'applied', version: 1, seq: 3 }]);
  assert.deepEqual(outcome.unanswered, [2]);
  const record = await getRecord(db, 's1', 'todos', 't1');
  assert.deepEqual([record?.version, record?.pending, record?.data], [1, 1, { title: 'milk', done: true }]);
});

test('conflict: the server record wins locally and the conflict is logged', async () => {
  const db = await freshDb();
  await applyRemoteChanges(db, 's1', [serverRecord({ data: { title: 'milk' } })], 'c1');
  await enqueueWrite(db, todo('patch', 't1', { title: 'mine' }));
  const server = serverRecord({ version: 2, seq: 7, data: { title: 'theirs' } });
  const outcome = await applyPushResults(db, await readOutbox(db), [
    { mid: 1, status: 'conflict', code: 'stale_base_version', message: 'at 2', record: server },
  ]);
  assert.equal(outcome.conflicts.length, 1);
  assert.equal(await countOutbox(db), 0);
  const record = await getRecord(db, 's1', 'todos', 't1');
  assert.deepEqual([record?.version, record?.data], [2, { title: 'theirs' }]);
  const [logged] = await listConflicts(db);
  assert.equal(logged.code, 'stale_base_version');
  assert.deepEqual(logged.mutation.data, { title: 'mine' });
  assert.equal(logged.record.version, 2);
});

test('merged: the merged record is stored, later queued writes stay on top', async () => {
  const db = await freshDb();
  await enqueueWrite(db, todo('put', 't1', { a: 1 }));
  await enqueueWrite(db, todo('patch', 't1', { c: 3 }));
  const [first] = await readOutbox(db);
  const merged = serverRecord({ version: 3, data: { a: 1, b: 2 } });
  const outcome = await applyPushResults(db, [first], [{ mid: 1, status: 'merged', record: merged }]);
  assert.equal(outcome.merged.length, 1);
  const record = await getRecord(db, 's1', 'todos', 't1');
  assert.deepEqual([record?.version, record?.pending, record?.data], [3, 1, { a: 1, b: 2, c: 3 }]);
  assert.deepEqual(await listConflicts(db), []);
});

test('merged where the server won a field this write changed is reported as a conflict', async () => {
  const db = await freshDb();
  await applyRemoteChanges(db, 's1', [serverRecord({ data: { title: 'milk', done: false } })], 'c1');
  await enqueueWrite(db, todo('patch', 't1', { title: 'mine', done: true }));
  const merged = serverRecord({ version: 3, data: { title: 'theirs', done: true } });
  const resolution = { policy: 'merge', winner: 'both', fields: [{ field: 'title', winner: 'server' }] };
  const outcome = await applyPushResults(db, await readOutbox(db), [
    { mid: 1, status: 'merged', version: 3, seq: 9, record: merged, resolution },
  ]);
  assert.equal(outcome.merged.length, 1);
  assert.equal(outcome.conflicts.length, 1);
  const [logged] = await listConflicts(db);
  assert.deepEqual([logged.status, logged.resolution.fields[0].field], ['merged', 'title']);
  assert.deepEqual((await getRecord(db, 's1', 'todos', 't1'))?.data, { title: 'theirs', done: true });
});

test('an open conflict without a server record keeps the confirmed state', async () => {
  const db = await freshDb();
  await applyRemoteChanges(db, 's1', [serverRecord({ data: { title: 'milk' } })], 'c1');
  await enqueueWrite(db, todo('patch', 't1', { title: 'mine' }));
  const outcome = await applyPushResults(db, await readOutbox(db), [
    { mid: 1, status: 'conflict', code: 'conflict_open', conflict_id: '7', record: undefined },
  ]);
  assert.equal(outcome.conflicts.length, 1);
  const record = await getRecord(db, 's1', 'todos', 't1');
  assert.deepEqual([record?.version, record?.pending, record?.data], [1, 0, { title: 'milk' }]);
  assert.equal((await listConflicts(db))[0].code, 'conflict_open');
});

test('rejected: the write moves to the dead letters and its optimistic view is undone', async () => {
  const db = await freshDb();
  await enqueueWrite(db, todo('put', 'big', { blob: 'x' }));
  await enqueueWrite(db, todo('put', 'ok', { fine: true }));
  const entries = await readOutbox(db);
  const outcome = await applyPushResults(db, entries, [
    { mid: 1, status: 'rejected', code: 'record_too_large', message: 'too big' },
    { mid: 2, status: 'applied', version: 1, seq: 1 },
  ]);
  assert.equal(outcome.rejected.length, 1);
  assert.equal(outcome.applied, 1, 'a rejection does not block the writes behind it');
  assert.equal(await getRecord(db, 's1', 'todos', 'big'), null);
  const [dead] = await listDeadLetters(db);
  assert.deepEqual([dead.mid, dead.code, dead.mutation.data], [1, 'record_too_large', { blob: 'x' }]);
});

test('a duplicate answer after the feed already delivered the version changes nothing', async () => {
  const db = await freshDb();
  await enqueueWrite(db, todo('put', 't1', { title: 'milk' }));
  // Our own write comes back over the WebSocket before the push response.
  await applyRemoteChanges(db, 's1', [serverRecord({ version: 1, seq: 5, data: { title: 'milk' } })], 'c5');
  await applyPushResults(db, await readOutbox(db), [{ mid: 1, status: 'applied', version: 1, seq: 5, duplicate: true }]);
  const record = await getRecord(db, 's1', 'todos', 't1');
  assert.deepEqual([record?.version, record?.pending, record?.data], [1, 0, { title: 'milk' }]);
});
