import assert from 'node:assert/strict';
import test from 'node:test';
import { DB_VERSION, MIGRATIONS, getClientId, openDatabase, req, transact } from '../src/local/db.js';
import { countOutbox, enqueueWrite, listDeadLetters, readOutbox } from '../src/replay/outbox.js';
import { getRecord, startCursor } from '../src/local/store.js';
import './helpers.js';

test('every version upgrade keeps queued writes and records', async () => {
  assert.ok(DB_VERSION >= 2 && DB_VERSION === MIGRATIONS.length);
  const name = `upgrade-${process.pid}`;
  // A database as version 1 of the client left it: writes queued offline.
  const v1 = await openDatabase({ name, version: 1 });
  await transact(v1, ['outbox', 'records', 'meta'], 'readwrite', async (tx) => {
    await req(tx.objectStore('outbox').add({
      mid: 1, space: 's1', collection: 'todos', id: 't1', op: 'put', data: { title: 'offline' },
      base_version: 0, hlc: '1763756400000:00000:c-old', queued_at: 1,
    }));
    await req(tx.objectStore('records').put({
      space: 's1', collection: 'todos', id: 't1', server: null, data: { title: 'offline' }, deleted: false, pending: 1,
    }));
    await req(tx.objectStore('meta').put({ key: 'next_mid', value: 2 }));
    await req(tx.objectStore('meta').put({ key: 'client_id', value: 'c-old' }));
  });
  v1.close();

  const latest = await openDatabase({ name });
  assert.equal(latest.version, DB_VERSION);
  assert.deepEqual((await readOutbox(latest)).map((e) => e.data), [{ title: 'offline' }]);
  assert.deepEqual((await getRecord(latest, 's1', 'todos', 't1'))?.data, { title: 'offline' });
  // The upgraded database keeps working: the counter continues; the new write is based on
  // the confirmed version (none), whatever is queued before it.
  const { entry } = await enqueueWrite(latest, { space: 's1', collection: 'todos', id: 't1', op: 'patch', data: { done: true } });
  assert.deepEqual([entry.mid, entry.base_version], [2, 0]);
  assert.equal(await countOutbox(latest), 2);
  latest.close();
});

test('the upgrade to cursors per filter keeps the data and resyncs spaces whose cursor it cannot trust', async () => {
  const name = `cursors-${process.pid}`;
  // Version 2 kept one cursor per space, which a tab with a collection filter could move past
  // changes an unfiltered tab never received: no filter can be trusted with it.
  const v2 = await openDatabase({ name, version: 2 });
  await transact(v2, ['outbox', 'records', 'meta', 'dead_letters'], 'readwrite', async (tx) => {
    await req(tx.objectStore('meta').put({ key: 'cursor:s1', value: '40.old' }));
    await req(tx.objectStore('meta').put({ key: 'client_id', value: 'c-old' }));
    await req(tx.objectStore('records').put({
      space: 's1', collection: 'todos', id: 'seen', deleted: false, pending: 1, data: { title: 'seen', done: true },
      server: { space: 's1', collection: 'todos', id: 'seen', version: 3, seq: 40, deleted: false, data: { title: 'seen' } },
    }));
    await req(tx.objectStore('outbox').add({
      mid: 1, space: 's1', collection: 'todos', id: 'seen', op: 'patch', data: { done: true },
      base_version: 3, hlc: '1763756400000:00000:c-old', queued_at: 1,
    }));
    await req(tx.objectStore('dead_letters').put({ mid: 0, mutation: {}, code: 'x', message: '', at: 1 }));
  });
  v2.close();

  const latest = await openDatabase({ name });
  assert.equal(await getClientId(latest), 'c-old');
  assert.equal(await countOutbox(latest), 1);
  assert.equal((await listDeadLetters(latest)).length, 1);
  assert.deepEqual((await getRecord(latest, 's1', 'todos', 'seen'))?.data, { title: 'seen', done: true });
  // The first feed of s1 starts over: the space's confirmed copy is dropped (a full pull
  // alone would keep records whose tombstones the server has purged), the queued write stays.
  const first = await startCursor(latest, 's1', ['todos']);
  assert.deepEqual([first.cursor, first.resync, first.dropped.map((r) => r.id)], ['', 'client_upgrade', ['seen']]);
  const record = await getRecord(latest, 's1', 'todos', 'seen');
  assert.deepEqual([record?.version, record?.data], [0, { done: true }]);
  assert.deepEqual(await startCursor(latest, 's1'), { cursor: '', resync: null, dropped: [] }, 'once');
  latest.close();
});

test('an open connection steps aside when another context upgrades the schema', async () => {
  const name = `versionchange-${process.pid}`;
  const old = await openDatabase({ name, version: 1 });
  let closed = false;
  const original = old.close.bind(old);
  old.close = () => { closed = true; original(); };
  const upgraded = await openDatabase({ name });
  assert.equal(closed, true);
  assert.equal(upgraded.version, DB_VERSION);
  upgraded.close();
});

test('code that knows an older schema opens a newer database as it is', async () => {
  const name = `newer-${process.pid}`;
  const latest = await openDatabase({ name });
  await enqueueWrite(latest, { space: 's1', collection: 'todos', id: 't1', op: 'put', data: { a: 1 } });
  latest.close();
  const older = await openDatabase({ name, version: 1 });
  assert.equal(older.version, DB_VERSION);
  assert.equal(await countOutbox(older), 1);
  older.close();
});
