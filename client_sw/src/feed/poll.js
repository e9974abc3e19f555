// The feed over HTTP: one pull (while the socket is down, or on demand), and, without the
// WebSocket (`live: false`), long-polls on the cursor for as long as the client is open.
// Long-poll errors back off up to 30 s; a 401/403 waits for a new token, a 429 for the
// wait the server asked for.

import { AuthError } from '../net/auth.js';
import { RateLimitError } from '../net/rate.js';
import { pullChanges } from './pull.js';

/**
 * What the HTTP feed needs of the page client that runs it (page/sync-client.js passes
 * itself): where to pull from, its state, and where to report. Named here so the feed
 * depends on no page module.
 * @typedef {object} PollHost
 * @property {IDBDatabase} db
 * @property {string} url
 * @property {string} space
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
    const records = await pullChanges({
      db: client.db, url: client.url, space: client.space, collections: client.options.collections,
      onResync: (event) => client.onResync(event), tokens: client.tokens,
    });
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
      const records = await pullChanges({
        db: client.db, url: client.url, space: client.space, collections: client.options.collections,
        wait: client.options.pollWaitSeconds ?? 20, onResync: (event) => client.onResync(event),
        tokens: client.tokens,
      });
      if (records.length) client.notifier.post({ type: 'change', records, origin: 'remote' });
      failures = 0;
      client.serverAnswered();
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
