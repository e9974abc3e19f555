// The page client's view of the server: 'unreachable' and 'server-busy' next to 'offline',
// judged from real failed requests, and recovery when the server answers again. Against a
// real syncserver process (started late, to be unreachable first).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, test } from 'node:test';
import { openDatabase } from '../src/local/db.js';
import { enqueueWrite, listConflicts } from '../src/replay/outbox.js';
import { pullChanges } from '../src/feed/pull.js';
import { serverTrouble } from '../src/net/reach.js';
import { createSyncClient } from '../src/page/sync-client.js';
import { freshDb } from './helpers.js';
import { SyncServer, freePort, put } from './server.js';

/** @type {SyncServer[]} */
const servers = [];
after(async () => { for (const server of servers) await server.dispose(); });

/**
 * @param {() => boolean | Promise<boolean>} check
 * @param {string} what
 * @param {number} [timeoutMs]
 */
async function until(check, what, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** @param {string} url @param {string} space @param {number} [pollWaitSeconds] */
async function newClient(url, space, pollWaitSeconds = 1) {
  const db = await freshDb();
  const name = db.name;
  db.close();
  return createSyncClient({ space, url, dbName: name, live: false, pollWaitSeconds, serviceWorker: false });
}

test('with the server down the client says unreachable, and delivers its queue once the server answers', async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const client = await newClient(url, 'down1');
  /** @type {string[]} */
  const statuses = [];
  client.on('status', (status) => statuses.push(status));
  try {
    await client.collection('todos').put('t1', { title: 'written while the server was down' });
    await until(() => client.status === 'unreachable', 'unreachable');
    assert.equal(client.trouble, 'unreachable');
    assert.equal(client.pending, 1, 'the write waits');

    const server = new SyncServer(port);
    servers.push(server);
    await server.start();
    // The poll loop's next try reaches it; the queue goes out without a new write.
    await until(() => client.status === 'up-to-date', 'up-to-date', 20000);
    assert.equal(client.trouble, null);
    assert.equal(client.pending, 0);
    const db = await freshDb();
    const records = await pullChanges({ db, url, space: 'down1' });
    assert.deepEqual(records.map((r) => r.id), ['t1']);
    assert.ok(statuses.indexOf('unreachable') < statuses.lastIndexOf('up-to-date'), statuses.join());
  } finally {
    client.close();
  }
});

test('the worker reporting a 503 storage_unavailable shows server-busy; a 4xx is not the server being away', async () => {
  const client = await newClient(`http://127.0.0.1:${await freePort()}/`, 'busy1');
  try {
    // Exactly what replayOutbox posts on the channel when a push fails.
    client.onMessage({ type: 'replay', state: 'error', source: 'worker:sync', status: 503, code: 'storage_unavailable', network: false });
    assert.equal(client.status, 'server-busy');
    client.onMessage({ type: 'replay', state: 'error', source: 'worker:sync', status: 502, code: '', network: false });
    assert.equal(client.status, 'unreachable');
    client.onMessage({ type: 'replay', state: 'error', source: 'worker:sync', status: 409, code: 'x', network: false });
    assert.notEqual(client.status, 'unreachable');
    assert.equal(client.trouble, null);
  } finally {
    client.close();
  }
  assert.equal(serverTrouble({ network: true }), 'unreachable');
  assert.equal(serverTrouble({ status: 503, code: 'storage_unavailable' }), 'busy');
  assert.equal(serverTrouble({ status: 503 }), 'unreachable');
  assert.equal(serverTrouble({ status: 400, code: 'invalid_request' }), null);
  assert.equal(serverTrouble({}), null, 'a failure that is not about a request');
});

test('failures while the browser is offline are not blamed on the server', async () => {
  const client = await newClient(`http://127.0.0.1:${await freePort()}/`, 'off1');
  const had = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  Object.defineProperty(globalThis, 'navigator', { value: { onLine: false }, configurable: true });
  try {
    client.onMessage({ type: 'replay', state: 'error', source: 'worker:sync', network: true });
    assert.equal(client.trouble, null);
    client.updateStatus();
    assert.equal(client.status, 'offline');
  } finally {
    if (had) Object.defineProperty(globalThis, 'navigator', had);
    else delete (/** @type {any} */ (globalThis)).navigator;
    client.close();
  }
});

test('an open manual conflict is logged with its conflict id, and one entry can be cleared', async () => {
  const server = new SyncServer(await freePort(), { SYNCSERVER_POLICIES: 'notes=manual' });
  servers.push(server);
  await server.start();
  await server.push('c-other', [put(1, 'm1', 'notes', 'n1', { text: 'first' })]);
  // The client has seen version 1 and queues its edit on it; meanwhile (before this client
  // hears of it) another device writes version 2.
  const first = await newClient(server.url, 'm1');
  await until(async () => (await first.collection('notes').get('n1'))?.version === 1, 'the note');
  const dbName = first.db.name;
  first.close();
  const db = await openDatabase({ name: dbName });
  await enqueueWrite(db, { space: 'm1', collection: 'notes', id: 'n1', op: 'put', data: { text: 'mine' } });
  db.close();
  await server.push('c-other', [{ ...put(2, 'm1', 'notes', 'n1', { text: 'theirs' }), base_version: 1 }]);
  const client = await createSyncClient({ space: 'm1', url: server.url, dbName, live: false, pollWaitSeconds: 1, serviceWorker: false });
  try {
    await client.flush();
    const [entry] = await listConflicts(client.db);
    assert.equal(entry.code, 'conflict_open');
    assert.equal(typeof entry.conflict_id, 'number');
    const listed = await (await fetch(`${server.url}v1/conflicts?space=m1&status=open`)).json();
    assert.deepEqual(listed.conflicts.map((/** @type {any} */ c) => c.id), [entry.conflict_id]);
    await client.clearConflicts([entry.n + 1]);
    assert.equal((await client.conflicts()).length, 1, 'another entry named: this one stays');
    await client.clearConflicts([entry.n]);
    assert.deepEqual(await client.conflicts(), []);
  } finally {
    client.close();
  }
});

/**
 * A front for a real server that answers its first `busy` pushes as a server whose storage
 * cannot write does (503 storage_unavailable), and passes everything else through.
 * @param {string} upstream
 * @param {number} busy
 */
async function busyFront(upstream, busy) {
  const seen = { refused: 0, forwarded: 0 };
  const front = createServer((request, response) => {
    /** @type {Buffer[]} */
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', async () => {
      if (request.method === 'POST' && request.url === '/v1/push' && seen.refused < busy) {
        seen.refused += 1;
        response.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '1' });
        response.end(JSON.stringify({ code: 'storage_unavailable', detail: 'disk full', retry_after: 1 }));
        return;
      }
      if (request.url === '/v1/push') seen.forwarded += 1;
      const answer = await fetch(new URL(request.url ?? '/', upstream), {
        method: request.method, headers: { 'content-type': 'application/json' },
        body: request.method === 'POST' ? Buffer.concat(chunks) : undefined,
      });
      response.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
      response.end(Buffer.from(await answer.arrayBuffer()));
    });
  });
  await new Promise((resolve) => front.listen(0, '127.0.0.1', () => resolve(undefined)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (front.address());
  return { url: `http://127.0.0.1:${port}/`, seen, close: () => front.close() };
}

test('a busy server is retried from the page with a backoff, without a new write, until it takes the queue', async () => {
  const server = new SyncServer(await freePort());
  servers.push(server);
  await server.start();
  const front = await busyFront(server.url, 2);
  // A long-poll that stays open, as a live WebSocket does: no successful pull in between
  // tells the client the server is back; only its own retries can.
  const client = await newClient(front.url, 'busy2', 30);
  /** @type {string[]} */
  const statuses = [];
  client.on('status', (status) => statuses.push(status));
  try {
    await client.collection('todos').put('t1', { title: 'saved while the disk was full' });
    await until(() => client.status === 'server-busy', 'server-busy');
    // Two refusals, then the retry 2 s and 4 s later gets through: about 6 s.
    await until(() => client.pending === 0, 'the queue to go out', 15000);
    assert.deepEqual(front.seen, { refused: 2, forwarded: 1 });
    await until(() => client.status === 'up-to-date', 'up-to-date');
    assert.equal(client.trouble, null);
    const records = await pullChanges({ db: await freshDb(), url: server.url, space: 'busy2' });
    assert.deepEqual(records.map((r) => r.id), ['t1']);
    assert.ok(statuses.includes('server-busy'), statuses.join());
  } finally {
    client.close();
    front.close();
  }
});
