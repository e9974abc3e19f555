import assert from 'node:assert/strict';
import test from 'node:test';
import { getCursor } from '../src/local/db.js';
import { enqueueWrite } from '../src/replay/outbox.js';
import { applyRemoteChanges, foldPending, getRecord, listRecords, resetSpace } from '../src/local/store.js';
import { freshDb, serverRecord } from './helpers.js';

test('feed changes and their cursor are stored together', async () => {
  const db = await freshDb();
  const changed = await applyRemoteChanges(db, 's1', [
    serverRecord({ id: 'a', data: { title: 'A' } }),
    serverRecord({ id: 'b', data: { title: 'B' }, seq: 2 }),
  ], '2.sig');
  assert.deepEqual(changed.map((c) => c.id), ['a', 'b']);
  assert.equal(await getCursor(db, 's1'), '2.sig');
  assert.deepEqual((await listRecords(db, 's1', 'todos')).map((r) => r.data.title), ['A', 'B']);
  assert.equal((await getRecord(db, 's1', 'todos', 'a'))?.version, 1);
});

test('each collection filter keeps its own cursor, whatever the order of its names', async () => {
  const db = await freshDb();
  // A tab that follows only todos moves its cursor past the notes it never receives...
  await applyRemoteChanges(db, 's1', [serverRecord({ id: 'a' })], '9.todos', ['todos']);
  assert.equal(await getCursor(db, 's1', ['todos']), '9.todos');
  // ...which an unfiltered tab, or a tab following notes, must still receive.
  assert.equal(await getCursor(db, 's1'), '');
  assert.equal(await getCursor(db, 's1', ['notes']), '');
  await applyRemoteChanges(db, 's1', [], '9.both', ['todos', 'notes', 'todos']);
  assert.equal(await getCursor(db, 's1', ['notes', 'todos']), '9.both');
  assert.equal(await getCursor(db, 's1', []), '', 'an empty filter is no filter');
  await applyRemoteChanges(db, 's1', [], '9.all', []);
  assert.deepEqual([await getCursor(db, 's1'), await getCursor(db, 's1', ['todos'])], ['9.all', '9.todos']);
});

test('an older version from the feed never overwrites a newer one', async () => {
  const db = await freshDb();
  await applyRemoteChanges(db, 's1', [serverRecord({ version: 3, data: { title: 'new' } })], 'c3');
  const changed = await applyRemoteChanges(db, 's1', [serverRecord({ version: 2, data: { title: 'old' } })], 'c2');
  assert.deepEqual(changed, []);
  assert.equal((await getRecord(db, 's1', 'todos', 't1'))?.data.title, 'new');
});

test('tombstones hide records; other spaces and collections stay apart', async () => {
  const db = await freshDb();
  await applyRemoteChanges(db, 's1', [serverRecord({ id: 'a' }), serverRecord({ id: 'b', collection: 'notes' })], 'c');
  await applyRemoteChanges(db, 's2', [serverRecord({ space: 's2', id: 'x' })], 'd');
  await applyRemoteChanges(db, 's1', [serverRecord({ id: 'a', version: 2, deleted: true, data: null })], 'e');
  assert.equal(await getRecord(db, 's1', 'todos', 'a'), null);
  assert.deepEqual((await listRecords(db, 's1', 'notes')).map((r) => r.id), ['b']);
  assert.deepEqual((await listRecords(db, 's2', 'todos')).map((r) => r.id), ['x']);
});

test('a remote change under a queued write keeps the local edit on top', async () => {
  const db = await freshDb();
  await applyRemoteChanges(db, 's1', [serverRecord({ data: { title: 'milk', done: false } })], 'c1');
  await enqueueWrite(db, { space: 's1', collection: 'todos', id: 't1', op: 'patch', data: { done: true } });
  await applyRemoteChanges(db, 's1', [serverRecord({ version: 2, data: { title: 'oat milk', done: false } })], 'c2');
  const record = await getRecord(db, 's1', 'todos', 't1');
  assert.deepEqual(record?.data, { title: 'oat milk', done: true });
  assert.equal(record?.version, 2);
  assert.equal(record?.pending, 1);
});

test('fold applies queued writes in mid order', () => {
  const server = serverRecord({ data: { a: 1 } });
  const view = foldPending(server, [
    { mid: 9, op: 'patch', data: { b: 2 } },
    { mid: 8, op: 'put', data: { c: 3 } },
  ].map((e) => ({ ...e, space: 's1', collection: 'todos', id: 't1', base_version: 1, hlc: '', queued_at: 0 })));
  assert.deepEqual(view, { data: { c: 3, b: 2 }, deleted: false });
  assert.equal(foldPending(null, []), null);
});

test('resync drops confirmed data of the space but keeps queued writes', async () => {
  const db = await freshDb();
  await applyRemoteChanges(db, 's1', [serverRecord({ id: 'a' }), serverRecord({ id: 'b' })], 'c');
  await applyRemoteChanges(db, 's2', [serverRecord({ space: 's2', id: 'x' })], 'd');
  await enqueueWrite(db, { space: 's1', collection: 'todos', id: 'b', op: 'patch', data: { mine: true } });
  await applyRemoteChanges(db, 's1', [], 'c-todos', ['todos']);
  await applyRemoteChanges(db, 's2', [], 'd-todos', ['todos']);
  await resetSpace(db, 's1');
  const left = await listRecords(db, 's1', 'todos');
  assert.deepEqual(left.map((r) => [r.id, r.version, r.data]), [['b', 0, { mine: true }]]);
  // Every cursor of the space goes, whatever its filter: they all point past dropped data.
  assert.deepEqual([await getCursor(db, 's1'), await getCursor(db, 's1', ['todos'])], ['', '']);
  assert.equal(await getCursor(db, 's2', ['todos']), 'd-todos');
  assert.equal((await listRecords(db, 's2', 'todos')).length, 1);
});
