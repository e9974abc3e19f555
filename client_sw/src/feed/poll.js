// The feed over HTTP: one pull (while the socket is down, or on demand), and, without the
// WebSocket (`live: false`), long-polls on the cursor for as long as the client is open.
// A client of one space pulls GET /v1/changes; a client of many pulls them all in one
// POST /v1/pull, which has no long-poll: without the WebSocket it pulls again every
// `pollWaitSeconds`. Errors back off up to 30 s; a 401/403 waits for a new token, a 429 for
// the wait the server asked for.

import { AuthError } from '../net/auth.js';
import { RateLimitError } from '../net/rate.js';
import { pullSpaces } from './multipull.js';
import { pullChanges } from './pull.js';

/**
 * What the HTTP feed needs of the page client that runs it (page/sync-client.js passes
 * itself): where to pull from, its state, and where to report. Named here so the feed
 * depends on no page module.
 * @typedef {object} PollHost
 * @property {IDBDatabase} db
 * @property {string} url
 * @property {string | null} only  the one space of a client of one space; null: it follows many
 * @property {string[]} spaces  the spaces followed now
 * @property {(space: string, detail: string) => void} spaceForbidden  a pull says the token
 *   cannot read the space
 * @property {{collections?: string[], pollWaitSeconds?: number}} options
 * @property {import('../net/auth.js').TokenSource} tokens
 * @property {{post: (message: import('../local/notify.js').SyncMessage) => void}} notifier
 * @property {boolean} closed
 * @property {boolean} leaving  logout() is under way: start no more pulls
 * @property {boolean} pulling  an HTTP pull is in flight
 * @property {Promise<void> | undefined} pullDone  settles when that pull is over
 * @property {number} limitedUntil  a 429 asked to wait until then (ms since the epoch)
 * @property {(() => void) | null} wakePoll  set while the long-poll waits out an auth pause
 * @property {{running: Promise<unknown> | null}} replays  pushes go first after a 429
 * @property {(event: import('./pull.js').ResyncEvent) => void} onResync
 * @property {() => void} updateStatus
 * @property {() => void} serverAnswered
 * @property {(failure: import('../net/reach.js').RequestFailure) => void} requestFailed
 * @property {(limit: import('../net/rate.js').RateLimit & {request: 'pull'}) => void} rateLimited
 * @property {(type: 'auth', pause: import('../net/auth.js').AuthPause) => void} emit
 */

/**
 * One catch-up of every space the client follows, from the stored cursors.
 * @param {PollHost} client
 * @param {number} [wait]  long-poll seconds (one space only)
 */
function pullFollowed(client, wait) {
  const common = {
    db: client.db, url: client.url, collections: client.options.collections, tokens: client.tokens,
    onResync: (/** @type {import('./pull.js').ResyncEvent} */ event) => client.onResync(event),
  };
  if (client.only !== null) return pullChanges({ ...common, space: client.only, wait });
  return pullSpaces({ ...common, spaces: client.spaces, onForbidden: (space, detail) => client.spaceForbidden(space, detail) });
}

/**
 * Pull the feed over HTTP once (catch-up without the WebSocket); `pulling` and `pullDone`
 * say that one runs (logout waits for it).
 * @param {PollHost} client
 */
export async function pullOnce(client) {
  if (client.pulling || client.leaving || Date.now() < client.limitedUntil) return;
  client.pulling = true;
  /** @type {() => void} */
  let finished = () => {};
  client.pullDone = new Promise((resolve) => { finished = resolve; });
  client.updateStatus();
  try {
    const records = await pullFollowed(client);
    if (records.length) client.notifier.post({ type: 'change', records, origin: 'remote' });
    client.serverAnswered();
  } catch (error) {
    if (error instanceof AuthError) client.emit('auth', error.pause);
    if (error instanceof RateLimitError) client.rateLimited({ ...error.limit, request: 'pull' });
    client.requestFailed(/** @type {any} */ (error));
    throw error;
  } finally {
    client.pulling = false;
    finished();
    client.updateStatus();
  }
}

/** @param {PollHost} client */
export async function pollFeed(client) {
  let failures = 0;
  while (!client.closed && !client.leaving) {
    try {
      if (globalThis.navigator?.onLine === false) throw new Error('offline');
      const wait = client.options.pollWaitSeconds ?? 20;
      const records = await pullFollowed(client, wait);
      if (records.length) client.notifier.post({ type: 'change', records, origin: 'remote' });
      failures = 0;
      client.serverAnswered();
      if (client.only === null) await pause(client, wait * 1000); // no long-poll for many spaces
    } catch (error) {
      if (client.closed) return;
      if (error instanceof AuthError) {
        // Refused: wait for setToken() / resume() instead of polling a closed door.
        client.serverAnswered();
        client.emit('auth', error.pause);
        await new Promise((resolve) => { client.wakePoll = () => resolve(undefined); });
        client.wakePoll = null;
        continue;
      }
      if (error instanceof RateLimitError) {
        // The server said how long: wait that, not the usual backoff.
        client.serverAnswered();
        client.rateLimited({ ...error.limit, request: 'pull' });
        // Pushes go first once the wait is over (they share the user's bucket): a pull
        // that always woke first could take every token a queued write was waiting for.
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, client.limitedUntil - Date.now()) + 100));
        await client.replays.running?.catch(() => {});
        continue;
      }
      client.requestFailed(/** @type {any} */ (error));
      failures += 1;
      await new Promise((resolve) => setTimeout(resolve, Math.min(30000, 500 * 2 ** failures)));
    }
  }
}

/**
 * Wait between two pulls of many spaces; close(), resume() and a newly followed space end
 * the wait early (they call `wakePoll`).
 * @param {PollHost} client
 * @param {number} ms
 */
async function pause(client, ms) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  await new Promise((resolve) => {
    client.wakePoll = () => resolve(undefined);
    timer = setTimeout(resolve, ms);
  });
  clearTimeout(timer);
  client.wakePoll = null;
}
