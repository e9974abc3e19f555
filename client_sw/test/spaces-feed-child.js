// A client of many spaces on the live WebSocket against a real server, run by
// spaces.test.js in a child process with Node's WebSocket turned on (Node 20 has it behind
// --experimental-websocket). Arguments: server URL, a prefix for the space names. Prints
// what it saw as JSON. Without arguments (the test runner loads every file of test/) it
// does nothing.
import 'fake-indexeddb/auto';
import { listRecords } from '../src/local/store.js';
import { createSyncClient } from '../src/page/sync-client.js';
import { mint, pushAs } from './tokens.js';

const [url, prefix] = process.argv.slice(2);

/**
 * @param {() => boolean | Promise<boolean>} check
 * @param {string} what
 */
async function until(check, what, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

let mid = 0;
/**
 * Another device writes one todo in each space.
 * @param {string[]} spaces
 * @param {string} id
 */
function bobWrites(spaces, id) {
  const grants = Object.fromEntries(spaces.map((s) => [s, 'rw']));
  const stamp = String(Date.now()).padStart(13, '0');
  return pushAs(url, mint('bob', grants), `c-${prefix}`, spaces.map((space) => ({
    mid: ++mid, space, collection: 'todos', id, op: 'put', data: { id }, base_version: 0,
    hlc: `${stamp}:${String(mid).padStart(5, '0')}:c-${prefix}`,
  })));
}

/** @param {string[]} spaces */
async function counts(client, spaces) {
  const all = await Promise.all(spaces.map((space) => listRecords(client.db, space, 'todos')));
  return all.map((records) => records.length);
}

if (url) {
  // Every socket the page opens, counted.
  let sockets = 0;
  const Native = globalThis.WebSocket;
  globalThis.WebSocket = class extends Native {
    /** @param {ConstructorParameters<typeof WebSocket>} args */
    constructor(...args) { super(...args); sockets += 1; }
  };
  // Requests, with GET /v1/spaces blockable: then only the socket can say what is revoked.
  const realFetch = globalThis.fetch;
  /** @type {string[]} */
  const paths = [];
  let spacesBlocked = false;
  globalThis.fetch = async (input, init) => {
    const path = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url).pathname;
    if (spacesBlocked && path === '/v1/spaces') throw new TypeError('fetch failed (blocked by the test)');
    paths.push(path);
    return realFetch(input, init);
  };

  const many = Array.from({ length: 30 }, (_, i) => `${prefix}-s${String(i).padStart(2, '0')}`);
  const [x, y] = [`${prefix}-x`, `${prefix}-y`];
  await bobWrites([...many, x, y], 'seed');
  /** @type {Record<string, string>} */
  let grants = Object.fromEntries([...many, x].map((s) => [s, 'rw']));
  /** @type {Record<string, any[]>} */
  const events = { revoked: [], added: [] };
  const started = Date.now();
  const client = await createSyncClient({
    spaces: 'token', url, token: async () => mint('kim', grants), serviceWorker: false, dbName: `live-${process.pid}`,
  });
  client.on('space-revoked', (e) => events.revoked.push(e));
  client.on('space-added', (e) => events.added.push(e));
  const out = /** @type {Record<string, unknown>} */ ({});
  try {
    await until(() => client.feedState === 'live', 'the feed live');
    await until(async () => (await counts(client, [...many, x])).every((n) => n === 1), 'every space caught up');
    out.caughtUpMs = Date.now() - started;
    out.followed = client.spaces.length;

    const sent = Date.now();
    await bobWrites(many.slice(0, 5), 'live');
    await until(async () => (await counts(client, many.slice(0, 5))).every((n) => n === 2), 'the live changes');
    out.liveMs = Date.now() - sent;
    const metrics = await (await realFetch(`${url}metrics`)).text();
    out.wsGauge = Number(/^syncserver_ws_connections (\S+)$/m.exec(metrics)?.[1]);
    await until(() => client.space(many[0]).status === 'up-to-date', 'a space up to date');
    out.spaceStatus = client.space(many[0]).status;

    // A refreshed token without x: the new hello on the open socket ends x's subscription.
    spacesBlocked = true;
    grants = Object.fromEntries(many.map((s) => [s, 'rw']));
    await client.resume();
    await until(() => events.revoked.length === 1, 'x revoked');
    out.revoked = events.revoked.map((e) => e.space);
    out.xRecords = (await listRecords(client.db, x, 'todos')).length;

    // A token with y: the list says so, and y is subscribed on the same socket.
    spacesBlocked = false;
    grants = { ...grants, [y]: 'r' };
    await client.resume();
    await until(async () => (await counts(client, [y]))[0] === 1, 'y caught up');
    out.added = events.added;
    out.sockets = sockets;
    out.pulls = paths.filter((p) => p === '/v1/pull' || p === '/v1/changes').length;
    out.spaces = client.spaces.length;
  } catch (error) {
    out.error = String(error);
  } finally {
    client.close();
  }
  console.log(JSON.stringify(out));
  process.exit(out.error ? 1 : 0);
}
