// The pull path against a real syncserver process: cursors per collection filter, and the
// resync on `410 resync_required` and `400 bad_cursor`.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { getCursor, setCursor } from '../src/db.js';
import { enqueueWrite, readOutbox } from '../src/outbox.js';
import { pullChanges } from '../src/pull.js';
import { applyRemoteChanges, getRecord, listRecords } from '../src/store.js';
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
