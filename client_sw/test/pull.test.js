// The pull path against a real syncserver process: cursors per collection filter, and the
// resync on `410 resync_required` and `400 bad_cursor`.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { getCursor } from '../src/local/db.js';
import { enqueueWrite, readOutbox } from '../src/replay/outbox.js';
import { pullChanges } from '../src/feed/pull.js';
import { replayOutbox } from '../src/replay/replay.js';
import { applyRemoteChanges, getRecord, listRecords } from '../src/local/store.js';
import { freshDb, serverRecord } from './helpers.js';
import { SyncServer, freePort, put } from './server.js';

/** @type {SyncServer} */
let server;
before(async () => { server = await new SyncServer(await freePort()).start(); });
after(async () => { await server?.dispose(); });

test('a filtered pull does not move the cursor of the unfiltered feed past other collections', async () => {
  const db = await freshDb();
  await server.push('c-other', [put(1, 'f1', 'todos', 't1', { title: 'milk' }), put(2, 'f1', 'notes', 'n1', { text: 'hi' })]);
  const todosOnly = await pullChanges({ db, url: server.url, space: 'f1', collections: ['todos'] });
  assert.deepEqual(todosOnly.map((r) => r.id), ['t1']);
  assert.notEqual(await getCursor(db, 'f1', ['todos']), '');
  // An unfiltered tab of the same app (same database) still receives the note.
  const all = await pullChanges({ db, url: server.url, space: 'f1' });
  assert.deepEqual(all.map((r) => r.id), ['n1'], 'the todo is known already; the note is new');
  assert.deepEqual((await listRecords(db, 'f1', 'notes')).map((r) => r.data), [{ text: 'hi' }]);
});

test('410 resync_required: the space is dropped and pulled again, the outbox stays and is shown on top', async () => {
  const db = await freshDb();
  // One cursor secret for both databases (as an operator who sets SYNCSERVER_SECRET has), so
  // the old cursor is genuine but ahead of the new database's feed: 410, not bad_cursor.
  const restarted = await new SyncServer(await freePort(), { SYNCSERVER_SECRET: 'client-resync-test-secret' }).start('before.db');
  try {
    await restarted.push('c-other', [
      put(1, 'r1', 'todos', 'gone', { title: 'only in the old database' }),
      put(2, 'r1', 'todos', 'kept', { title: 'old' }),
      put(3, 'r1', 'todos', 'filler', {}),
    ]);
    await pullChanges({ db, url: restarted.url, space: 'r1' });
    await enqueueWrite(db, { space: 'r1', collection: 'todos', id: 'kept', op: 'patch', data: { done: true } });
    await enqueueWrite(db, { space: 'r1', collection: 'todos', id: 'mine', op: 'put', data: { title: 'offline' } });
    // The server comes back on another database whose feed is behind our cursor.
    await restarted.stop();
    await restarted.start('after.db');
    await restarted.push('c-other', [put(1, 'r1', 'todos', 'kept', { title: 'new' })]);
    /** @type {any[]} */
    const events = [];
    await pullChanges({ db, url: restarted.url, space: 'r1', onResync: (event) => events.push(event) });
    assert.deepEqual(events.map((e) => [e.space, e.code]), [['r1', 'resync_required']]);
    assert.deepEqual(events[0].dropped.map((r) => r.id).sort(), ['filler', 'gone', 'kept']);
    const records = await listRecords(db, 'r1', 'todos');
    assert.deepEqual(records.map((r) => [r.id, r.version, r.data]), [
      ['kept', 1, { title: 'new', done: true }], // the server's fresh copy, our queued patch on top
      ['mine', 0, { title: 'offline' }],
    ]);
    assert.deepEqual((await readOutbox(db)).map((e) => e.id), ['kept', 'mine'], 'the outbox is kept');
    assert.notEqual(await getCursor(db, 'r1'), '');
  } finally {
    await restarted.dispose();
  }
});

test('400 bad_cursor: the space is dropped and pulled from the empty cursor', async () => {
  const db = await freshDb();
  await server.push('c-other', [put(10, 'b1', 'todos', 'real', { title: 'on the server' })]);
  await applyRemoteChanges(db, 'b1', [serverRecord({ space: 'b1', id: 'ghost', data: { title: 'unknown to it' } })], 'not-a-cursor');
  /** @type {any[]} */
  const events = [];
  await pullChanges({ db, url: server.url, space: 'b1', onResync: (event) => events.push(event) });
  assert.deepEqual(events.map((e) => e.code), ['bad_cursor']);
  assert.equal(await getRecord(db, 'b1', 'todos', 'ghost'), null);
  assert.deepEqual((await getRecord(db, 'b1', 'todos', 'real'))?.data, { title: 'on the server' });
});

test('a pull refused for another reason fails and drops nothing', async () => {
  const db = await freshDb();
  await applyRemoteChanges(db, 'bad space!', [serverRecord({ space: 'bad space!' })], 'x');
  await assert.rejects(pullChanges({ db, url: server.url, space: 'bad space!' }), /pull failed: invalid_request/);
  assert.notEqual(await getRecord(db, 'bad space!', 'todos', 't1'), null);
  assert.equal(await getCursor(db, 'bad space!'), 'x');
});

test('an offline chain never overwrites a newer edit it had not seen (real protocol 2 server)', async () => {
  const db = await freshDb();
  const note = { space: 'p2', collection: 'notes', id: 'n1' };
  await enqueueWrite(db, { ...note, op: 'put', data: { title: 'draft' } });
  assert.equal((await replayOutbox({ db, url: server.url })).applied, 1);
  // Another device edits the title after (by its clock) everything this device queues next.
  const later = String(Date.now() + 5000).padStart(13, '0');
  await server.push('c-other', [{ mid: 20, ...note, op: 'patch', data: { title: 'theirs' }, base_version: 1, hlc: `${later}:00000:c-other` }]);
  // This device, offline, never saw it: two edits of the title, both based on version 1.
  await enqueueWrite(db, { ...note, op: 'patch', data: { title: 'mine 1' } });
  await enqueueWrite(db, { ...note, op: 'patch', data: { title: 'mine 2' } });
  const summary = await replayOutbox({ db, url: server.url });
  // Protocol 1 based the second edit on version 2 (1 + one queued write): exactly the other
  // device's version, so it was applied over the newer title, unaudited.
  assert.deepEqual([summary.applied, summary.conflicts], [0, 2]);
  await pullChanges({ db, url: server.url, space: 'p2' });
  assert.deepEqual((await getRecord(db, 'p2', 'notes', 'n1'))?.data, { title: 'theirs' });
});
