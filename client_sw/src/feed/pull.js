// Pull the changefeed over HTTP from the stored cursor (GET /v1/changes). The page uses it
// to catch up at start and while the WebSocket is down.

import { getCursor } from '../local/db.js';
import { applyRemoteChanges, resetSpace, startCursor } from '../local/store.js';
import { AuthError, fetchWithToken, pauseOf } from '../net/auth.js';
import { endpoint } from '../net/endpoint.js';
import { RateLimitError, limitOf } from '../net/rate.js';
import { fetchOrFail, problemCode } from '../net/reach.js';

/**
 * @typedef {object} PullOptions
 * @property {IDBDatabase} db
 * @property {string} url
 * @property {string} space
 * @property {string[]} [collections]
 * @property {number} [limit]
 * @property {number} [wait]  long-poll seconds for the first page
 * @property {typeof fetch} [fetch]
 * @property {AbortSignal} [signal]
 * @property {(event: ResyncEvent) => void} [onResync]  the space was dropped to start over
 * @property {import('../net/auth.js').TokenSource} [tokens]  the bearer token of each request
 */

/**
 * @typedef {object} ResyncEvent
 * @property {string} space
 * @property {string} code  'resync_required', 'bad_cursor' or 'client_upgrade'
 * @property {import('../local/store.js').RecordRef[]} dropped  records whose confirmed copy was dropped
 */

/**
 * Fetch and apply pages until the feed has nothing more right now. A 401 (after one token
 * refresh) or 403 rejects with an AuthError, a 429 with a RateLimitError (its `limit` says
 * until when to wait).
 * @param {PullOptions} options
 * @returns {Promise<Array<{space: string, collection: string, id: string}>>} changed records
 */
export async function pullChanges(options) {
  const { db, space, collections } = options;
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const changed = [];
  let wait = options.wait;
  for (let page = 0; page < 10000; page++) {
    let cursor;
    if (page === 0) {
      // The first page checks whether the space waits for a resync (see startCursor).
      const start = await startCursor(db, space, collections);
      if (start.resync) options.onResync?.({ space, code: start.resync, dropped: start.dropped });
      cursor = start.cursor;
    } else {
      cursor = await getCursor(db, space, collections);
    }
    const url = new URL(endpoint(options.url, 'v1/changes'));
    url.searchParams.set('space', space);
    url.searchParams.set('since', cursor);
    url.searchParams.set('limit', String(options.limit ?? 500));
    if (collections?.length) url.searchParams.set('collections', collections.join(','));
    if (wait) url.searchParams.set('wait', String(wait));
    const response = await fetchWithToken((u, init) => fetchOrFail(doFetch, u, init), url.href, { signal: options.signal, cache: 'no-store' }, options.tokens);
    if (response.status === 401 || response.status === 403) {
      // The token (after one refresh) or the space was refused: nothing to retry on our own.
      const body = await response.json().catch(() => ({}));
      const pause = /** @type {import('../net/auth.js').AuthPause} */ (pauseOf(response, { code: body.code, space: body.space ?? space }));
      throw new AuthError(pause);
    }
    if (response.status === 429) throw new RateLimitError(await limitOf(response));
    if (response.status === 410 || response.status === 400) {
      const body = await response.json().catch(() => ({}));
      // 410: the cursor is behind the compaction horizon or of another database epoch (a
      // restore): our copy may miss deletions or hold changes the server no longer has.
      // 400 bad_cursor: not a cursor of this server. Either way drop the space's confirmed
      // copy (queued writes stay) and pull everything. Never loop on the empty cursor.
      const code = body.code ?? (response.status === 410 ? 'resync_required' : '');
      if ((code === 'resync_required' || code === 'bad_cursor') && cursor !== '') {
        const dropped = await resetSpace(db, space);
        options.onResync?.({ space, code, dropped });
        continue;
      }
      throw Object.assign(new Error(`pull failed: ${code || response.status}`), { status: response.status, code });
    }
    if (!response.ok) {
      const code = await problemCode(response);
      throw Object.assign(new Error(`pull failed: HTTP ${response.status} ${code}`), { status: response.status, code });
    }
    const body = await response.json();
    changed.push(...await applyRemoteChanges(db, space, body.changes ?? [], body.cursor, collections));
    wait = undefined;
    if (!body.more) break;
  }
  return changed;
}
