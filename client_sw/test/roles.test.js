// A collection's roles refuse one write, not its space: against a real server with a
// collections file whose `notes` only an editor creates, a replay sends the space's other
// writes, is not paused, and puts the refused write in the dead letters (code forbidden).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { storeToken, storedTokens } from '../src/net/auth.js';
import { countOutbox, enqueueWrite, listDeadLetters } from '../src/replay/outbox.js';
import { replayOutbox } from '../src/replay/replay.js';
import { freshDb } from './helpers.js';
import { SyncServer, freePort } from './server.js';
import { JWT_SECRET, mint } from './tokens.js';

/** @type {SyncServer | null} */
let server = null;
after(async () => { await server?.dispose(); });

test('a write the roles refuse is dead-lettered alone; its space is not paused', async () => {
  server = new SyncServer(await freePort(), { SYNCSERVER_AUTH: 'jwt', SYNCSERVER_JWT_SECRET: JWT_SECRET });
  const file = join(server.dir, 'collections.toml');
  writeFileSync(file, 'undeclared = "allow"\n[collections.notes]\ncreate = ["editor"]\n');
  server.env = { ...server.env, SYNCSERVER_COLLECTIONS: file };
  await server.start();
  const space = `roles-${process.pid}`;
  const db = await freshDb();
  await enqueueWrite(db, { space, collection: 'notes', id: 'n1', op: 'put', data: { text: 'x' } });
  await enqueueWrite(db, { space, collection: 'todos', id: 't1', op: 'put', data: { title: 'y' } });
  await storeToken(db, mint('una', { [space]: 'rw' })); // rw on the space, no editor role
  const summary = await replayOutbox({ db, url: server.url, tokens: storedTokens(db) });
  assert.equal(summary.applied, 1);
  assert.equal(summary.paused, undefined, 'the space is not paused');
  assert.equal(await countOutbox(db), 0);
  const dead = await listDeadLetters(db);
  assert.deepEqual(dead.map((d) => [d.mutation.id, d.code]), [['n1', 'forbidden']]);
  assert.match(dead[0].message, /notes/);
  db.close();
});
