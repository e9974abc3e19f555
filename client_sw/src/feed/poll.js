// The feed over HTTP: one pull (while the socket is down, or on demand), and, without the
// WebSocket (`live: false`), long-polls on the cursor for as long as the client is open.
// Long-poll errors back off up to 30 s; a 401/403 waits for a new token, a 429 for the
// wait the server asked for.

import { AuthError } from '../net/auth.js';
import { pullChanges } from './pull.js';
import { RateLimitError } from '../net/rate.js';

/**
 * Pull the feed over HTTP once (catch-up without the WebSocket); `pulling` and `pullDone`
 * say that one runs (logout waits for it).
 * @param {import('../page/sync-client.js').SyncClient} client
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

/** @param {import('../page/sync-client.js').SyncClient} client */
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
