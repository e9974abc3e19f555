// The classic build (src/sw-sync.js) is generated and committed; this keeps it in step with
// the modules, and runs its Background Sync handler in a worker-like scope.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import test from 'node:test';
import vm from 'node:vm';
import { build } from '../scripts/build-classic.mjs';
import { openDatabase } from '../src/local/db.js';
import { countOutbox, enqueueWrite } from '../src/replay/outbox.js';
import './helpers.js';

const committed = new URL('../src/sw-sync.js', import.meta.url);

// The worker keeps its channel open for its whole life; in node an open channel would keep
// the test process alive, so the scope gets channels that do not hold the event loop.
class WorkerChannel extends BroadcastChannel {
  /** @param {string} name */
  constructor(name) {
    super(name);
    this.unref();
  }
}

test('src/sw-sync.js is up to date (run `npm run build:classic`)', () => {
  assert.equal(readFileSync(committed, 'utf8'), build());
});

/**
 * Evaluate the classic build the way importScripts() would, in a scope with the given
 * location and no Background Sync.
 * @param {string} origin
 */
function loadClassic(origin) {
  /** @type {Map<string, Function[]>} */
  const handlers = new Map();
  const scope = {
    indexedDB, IDBKeyRange, BroadcastChannel: WorkerChannel, fetch, URL, Request, Response, structuredClone,
    setTimeout, clearTimeout, setInterval, clearInterval, console, crypto,
    location: { href: `${origin}/sw.js`, origin },
    addEventListener(type, fn) { handlers.set(type, [...(handlers.get(type) ?? []), fn]); },
  };
  scope.self = scope;
  vm.createContext(scope);
  vm.runInContext(readFileSync(committed, 'utf8'), scope, { filename: 'sw-sync.js' });
  return { scope, handlers };
}

test('the classic build exposes the worker API on self.SyncServerSW', () => {
  const { scope } = loadClassic('http://127.0.0.1:9');
  const api = scope.SyncServerSW;
  for (const name of ['installSyncHandlers', 'registerAppShell', 'replayOutbox', 'openDatabase']) {
    assert.equal(typeof api[name], 'function', name);
  }
  assert.equal(api.OUTBOX_SYNC_TAG, 'syncserver-outbox');
});

test('a failed sync event rejects its waitUntil promise and keeps the outbox', async () => {
  const server = createServer((request, response) => { request.resume(); response.writeHead(503).end(); });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const origin = `http://127.0.0.1:${/** @type {any} */ (server.address()).port}`;
  const dbName = `classic-${process.pid}`;
  const db = await openDatabase({ name: dbName });
  await enqueueWrite(db, { space: 's1', collection: 'todos', id: 't1', op: 'put', data: { a: 1 } });
  try {
    const { scope, handlers } = loadClassic(origin);
    // Background Sync present: no replay at worker start, only on the sync event.
    scope.SyncManager = function SyncManager() {};
    scope.registration = { sync: {} };
    scope.SyncServerSW.installSyncHandlers({ dbName });
    assert.equal(handlers.get('sync')?.length, 1);
    let waited;
    handlers.get('sync')?.[0]({ tag: 'other-tag', waitUntil: () => assert.fail('not our tag') });
    handlers.get('sync')?.[0]({ tag: 'syncserver-outbox', waitUntil: (p) => { waited = p; } });
    await assert.rejects(waited, /503/);
    assert.equal(await countOutbox(db), 1);
  } finally {
    server.close();
    db.close();
  }
});
