// The server's per-user rate limit (429 rate_limited, Retry-After), against a real server
// started with `--auth jwt` and a small bucket: replay keeps the outbox (nothing
// dead-lettered), stores the wait so no replay sends before it, says so, and delivers after
// it; a pull rejects with the wait; the page client emits 'rate-limited' and replays on its
// own once the wait is over; the live feed waits before it reconnects.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { storedTokens, storeToken } from '../src/net/auth.js';
import { countOutbox, enqueueWrite, listDeadLetters } from '../src/replay/outbox.js';
import { pullChanges } from '../src/feed/pull.js';
import { MAX_WAIT_MS, RateLimitError, readLimit, waitMs, writeLimit } from '../src/net/rate.js';
import { replayOutbox } from '../src/replay/replay.js';
import { createSyncClient } from '../src/page/sync-client.js';
import { freshDb } from './helpers.js';
import { SyncServer, freePort } from './server.js';

const SECRET = 'client-auth-test-secret-of-at-least-32-chars';
const RATE = 0.5; // a token every 2 s
const BURST = 2;

/** @type {SyncServer} */
let server;
before(async () => {
  server = await new SyncServer(await freePort(), {
    SYNCSERVER_AUTH: 'jwt', SYNCSERVER_JWT_SECRET: SECRET,
    SYNCSERVER_RATE_LIMIT: String(RATE), SYNCSERVER_RATE_BURST: String(BURST),
  }).start();
});
after(async () => { await server?.dispose(); });

/**
 * An HS256 JWT signed with the server's secret (as auth.test.js mints them).
 * @param {string} sub
 * @param {Record<string, string>} spaces
 */
function mint(sub, spaces) {
  const b64 = (/** @type {unknown} */ v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, exp: now + 600, iat: now, spaces })}`;
  return `${head}.${createHmac('sha256', SECRET).update(head).digest('base64url')}`;
}

let users = 0;
/** A fresh user (a bucket of its own) with read-write access to `space`. */
function user(/** @type {string} */ space) {
  users += 1;
  return mint(`rate-user-${process.pid}-${users}`, { [space]: 'rw' });
}

/** Spend the bucket of the token's user with requests that store nothing, to the first 429. */
async function spend(/** @type {string} */ token) {
  for (let i = 0; i <= BURST; i++) {
    const response = await fetch(`${server.url}v1/conflicts`, { headers: { authorization: `Bearer ${token}` } });
    if (response.status === 429) return;
    assert.equal(response.status, 200);
  }
  assert.fail(`no 429 after ${BURST + 1} requests`);
}

/** fetch that counts its calls. */
function counting() {
  const calls = { n: 0 };
  /** @type {typeof fetch} */
  const doFetch = (url, init) => { calls.n += 1; return fetch(url, init); };
  return { calls, doFetch };
}

function recorder() {
  /** @type {any[]} */
  const messages = [];
  return { messages, post: (/** @type {any} */ m) => messages.push(m), listen: () => () => {}, close() {} };
}

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('the wait is Retry-After seconds, at least one and at most five minutes', () => {
  assert.equal(waitMs('3'), 3000);
  assert.equal(waitMs(0), 1000);
  assert.equal(waitMs('soon'), 1000);
  assert.equal(waitMs(86400), MAX_WAIT_MS);
});

test('a 429 push keeps the outbox, stores the wait, announces it, and the replay after the wait delivers', async () => {
  const db = await freshDb();
  const token = user('rl1');
  await storeToken(db, token);
  await enqueueWrite(db, { space: 'rl1', collection: 'todos', id: 't1', op: 'put', data: { n: 1 } });
  await enqueueWrite(db, { space: 'rl1', collection: 'todos', id: 't2', op: 'put', data: { n: 2 } });
  await spend(token);
  const notifier = recorder();
  const { calls, doFetch } = counting();
  const started = Date.now();
  await assert.rejects(replayOutbox({ db, url: server.url, notifier, tokens: storedTokens(db), fetch: doFetch }),
    (/** @type {any} */ error) => error instanceof RateLimitError && error.status === 429 && error.code === 'rate_limited');
  assert.equal(calls.n, 1);
  assert.equal(await countOutbox(db), 2, 'nothing was dropped');
  assert.deepEqual(await listDeadLetters(db), [], 'a 429 is not the batch\'s fault');
  const [limited] = notifier.messages.filter((m) => m.type === 'rate-limited');
  assert.equal(limited.code, 'rate_limited');
  assert.equal(limited.request, 'push');
  assert.ok(limited.retryAfter >= 1 && limited.retryAfter <= 1 / RATE, String(limited.retryAfter));
  assert.ok(limited.until >= started + 1000, 'at least the second Retry-After asks for');
  assert.equal(await readLimit(db), limited.until);
  const error = notifier.messages.find((m) => m.type === 'replay' && m.state === 'error');
  assert.equal(error.status, 429);
  // Inside the wait another replay (Background Sync, another tab) sends nothing at all.
  await assert.rejects(replayOutbox({ db, url: server.url, tokens: storedTokens(db), fetch: doFetch }), RateLimitError);
  assert.equal(calls.n, 1);
  await sleep(limited.until - Date.now() + 50);
  const done = await replayOutbox({ db, url: server.url, tokens: storedTokens(db), fetch: doFetch });
  assert.equal(done.applied, 2);
  assert.equal(await countOutbox(db), 0);
});

test('a 429 pull rejects with the wait the server asked for', async () => {
  const db = await freshDb();
  const token = user('rl2');
  await spend(token);
  const tokens = { get: async () => token, refresh: async () => undefined };
  await assert.rejects(pullChanges({ db, url: server.url, space: 'rl2', tokens }), (/** @type {any} */ error) => {
    assert.ok(error instanceof RateLimitError);
    assert.equal(error.limit.code, 'rate_limited');
    assert.ok(error.limit.retryAfter >= 1 && error.limit.until > Date.now());
    return true;
  });
});

test('the page client emits rate-limited and replays by itself once the wait is over', async () => {
  const db = await freshDb();
  const name = db.name;
  db.close();
  const token = user('rl3');
  const client = await createSyncClient({
    space: 'rl3', url: server.url, dbName: name, token, live: false, pollWaitSeconds: 1, serviceWorker: false,
  });
  /** @type {any[]} */
  const events = [];
  client.on('rate-limited', (event) => events.push(event));
  try {
    await sleep(300); // the first long-poll is under way (a token spent)
    await spend(token);
    await client.collection('todos').put('t1', { title: 'limited' });
    const deadline = Date.now() + 20000;
    while (!(events.some((e) => e.request === 'push') && client.pending === 0)) {
      if (Date.now() > deadline) throw new Error(`not delivered: ${JSON.stringify(events)} pending ${client.pending}`);
      await sleep(50);
    }
    const push = events.find((e) => e.request === 'push');
    assert.equal(push.code, 'rate_limited');
    assert.ok(push.until > Date.now() - 20000 && push.retryAfter >= 1);
    assert.equal(push.type, undefined);
    assert.deepEqual(await client.deadLetters(), []);
  } finally {
    client.close();
  }
});

test('a page opened inside a wait stored earlier sends nothing before it, then replays by itself', async () => {
  const db = await freshDb();
  const name = db.name;
  await enqueueWrite(db, { space: 'rl5', collection: 'todos', id: 't1', op: 'put', data: { n: 5 } });
  const until = Date.now() + 1500;
  await writeLimit(db, until); // a 429 seen by an earlier session or the worker
  db.close();
  const client = await createSyncClient({
    space: 'rl5', url: server.url, dbName: name, token: user('rl5'), live: false, pollWaitSeconds: 1, serviceWorker: false,
  });
  try {
    const deadline = Date.now() + 15000;
    while (client.pending !== 0) {
      if (Date.now() > deadline) throw new Error('the queued write was not replayed after the wait');
      await sleep(50);
    }
    assert.ok(Date.now() >= until, 'not before the wait was over');
  } finally {
    client.close();
  }
});

test('the live feed refused by the rate limit waits Retry-After, then reconnects and goes live', async () => {
  // Node 20 has WebSocket behind a flag: the feed runs in a child process with it on.
  const child = join(dirname(fileURLToPath(import.meta.url)), 'rate-feed-child.js');
  const token = user('rl4');
  await spend(token);
  const out = await new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--experimental-websocket', '--no-warnings', child, server.url, token, 'rl4'],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    proc.stdout.on('data', (chunk) => { text += chunk; });
    proc.on('exit', (code) => (code === 0 ? resolve(JSON.parse(text)) : reject(new Error(`child exited ${code}: ${text}`))));
  });
  const { limits, states, liveAfterMs } = /** @type {any} */ (out);
  assert.equal(limits[0].code, 'rate_limited');
  assert.ok(limits[0].retryAfter >= 1);
  assert.ok(states.includes('live'), JSON.stringify(states));
  assert.ok(liveAfterMs >= 1000 * limits[0].retryAfter - 100, `live after ${liveAfterMs} ms`);
});
