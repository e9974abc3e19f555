// Pull the changefeed over HTTP from the stored cursor (GET /v1/changes). The page uses it
// to catch up at start and while the WebSocket is down.

import { getCursor, setCursor } from './db.js';
import { endpoint } from './replay.js';
import { applyRemoteChanges, resetSpace, startCursor } from './store.js';

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
 */

/**
 * Fetch and apply pages until the feed has nothing more right now.
 * @param {PullOptions} options
 * @returns {Promise<Array<{space: string, collection: string, id: string}>>} changed records
 */
export async function pullChanges(options) {
  const { db, space, collections } = options;
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const changed = [];
  let wait = options.wait;
  for (let page = 0; page < 10000; page++) {
    // The first page checks whether the space waits for a resync (see startCursor).
    const cursor = page === 0 ? (await startCursor(db, space, collections)).cursor : await getCursor(db, space, collections);
    const url = new URL(endpoint(options.url, 'v1/changes'));
    url.searchParams.set('space', space);
    url.searchParams.set('since', cursor);
    url.searchParams.set('limit', String(options.limit ?? 500));
    if (options.collections?.length) url.searchParams.set('collections', options.collections.join(','));
    if (wait) url.searchParams.set('wait', String(wait));
    const response = await doFetch(url.href, { signal: options.signal, cache: 'no-store' });
    if (response.status === 410) {
      // Behind the compaction horizon: our copy may miss deletions. Start over.
      await resetSpace(db, space);
      continue;
    }
    if (response.status === 400) {
      const body = await response.json().catch(() => ({}));
      if (body.code === 'bad_cursor' && cursor !== '') {
        // Not a cursor of this server (e.g. the server's key changed): pull everything;
        // applying a change twice is harmless because versions only move forward.
        await setCursor(db, space, '', collections);
        continue;
      }
      throw new Error(`pull failed: ${body.code ?? response.status}`);
    }
    if (!response.ok) throw new Error(`pull failed: HTTP ${response.status}`);
    const body = await response.json();
    changed.push(...await applyRemoteChanges(db, space, body.changes ?? [], body.cursor, collections));
    wait = undefined;
    if (!body.more) break;
  }
  return changed;
}
