// Catch up many spaces in one request (POST /v1/pull): every space's cursor in one body, one
// page budget for all, and an answer per space. A client that follows many spaces uses it
// at start and while its WebSocket is down, instead of one GET /v1/changes per space.

import { applyRemoteChanges, resetSpace, startCursors } from '../local/store.js';
import { AuthError, fetchWithToken, pauseOf } from '../net/auth.js';
import { endpoint } from '../net/endpoint.js';
import { RateLimitError, limitOf } from '../net/rate.js';
import { fetchOrFail, problemCode } from '../net/reach.js';

/**
 * The server's default SYNCSERVER_MAX_PULL_SPACES: more spaces go in several requests (and
 * fewer, when the server answers `too_many_spaces`: its operator set a lower limit).
 */
export const MAX_PULL_SPACES = 1000;

/**
 * @typedef {object} PullSpacesOptions
 * @property {IDBDatabase} db
 * @property {string} url
 * @property {string[]} spaces
 * @property {string[]} [collections]  the same filter for every space
 * @property {number} [limit]  changes per request, over all its spaces
 * @property {typeof fetch} [fetch]
 * @property {import('../net/auth.js').TokenSource} [tokens]
 * @property {(event: import('./pull.js').ResyncEvent) => void} [onResync]  a space was dropped to start over
 * @property {(space: string, detail: string) => void} [onForbidden]  the token does not grant
 *   reading the space (revoked, or never granted); it is pulled no further
 */

/**
 * Pull every space until none has more right now. A 401 (after one token refresh) or 403
 * for the request rejects with an AuthError, a 429 with a RateLimitError, other failures
 * with an Error carrying `status` and `code` (or `network`). One space's trouble is its own:
 * `forbidden` goes to `onForbidden`, `bad_cursor` and `resync_required` start that space
 * over, and the others go on.
 * @param {PullSpacesOptions} options
 * @returns {Promise<import('../local/store.js').RecordRef[]>} changed records
 */
export async function pullSpaces(options) {
  const { db, collections } = options;
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const url = endpoint(options.url, 'v1/pull');
  const changed = [];
  /** @type {Map<string, string>} */
  const cursors = new Map();
  for (const [space, start] of await startCursors(db, [...new Set(options.spaces)], collections)) {
    if (start.resync) options.onResync?.({ space, code: start.resync, dropped: start.dropped });
    cursors.set(space, start.cursor);
  }
  let todo = [...cursors.keys()];
  let most = MAX_PULL_SPACES;
  for (let round = 0; todo.length > 0 && round < 10000; round++) {
    /** @type {string[]} */
    const next = [];
    for (let i = 0; i < todo.length; i += most) {
      const chunk = todo.slice(i, i + most);
      /** @type {Record<string, unknown>} */
      const body = { cursors: Object.fromEntries(chunk.map((space) => [space, cursors.get(space) ?? ''])) };
      if (options.limit) body.limit = options.limit;
      if (collections?.length) body.collections = collections;
      const response = await fetchWithToken((u, init) => fetchOrFail(doFetch, u, init), url, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), cache: 'no-store',
      }, options.tokens);
      if (response.status === 401 || response.status === 403) {
        const problem = await response.json().catch(() => ({}));
        throw new AuthError(/** @type {import('../net/auth.js').AuthPause} */ (pauseOf(response, { code: problem.code })));
      }
      if (response.status === 429) throw new RateLimitError(await limitOf(response));
      if (!response.ok) {
        const code = await problemCode(response);
        if (code === 'too_many_spaces' && chunk.length > 1) {
          most = Math.ceil(chunk.length / 2);
          i -= most; // the same spaces again, in smaller requests
          continue;
        }
        throw Object.assign(new Error(`pull failed: HTTP ${response.status} ${code}`), { status: response.status, code });
      }
      const answer = await response.json();
      for (const space of chunk) {
        const entry = answer?.spaces?.[space];
        if (!entry) continue;
        if (entry.error) {
          const code = String(entry.error.code ?? '');
          if (code === 'forbidden') {
            options.onForbidden?.(space, String(entry.error.detail ?? ''));
          } else if ((code === 'bad_cursor' || code === 'resync_required') && cursors.get(space) !== '') {
            // As for one space (pull.js): drop its confirmed copy, keep its queued writes,
            // pull it from the empty cursor. Never loop on the empty cursor.
            const dropped = await resetSpace(db, space);
            options.onResync?.({ space, code, dropped });
            cursors.set(space, '');
            next.push(space);
          } else {
            console.warn(`syncserver: pulling ${space} failed: ${code} ${entry.error.detail ?? ''}`);
          }
          continue;
        }
        changed.push(...await applyRemoteChanges(db, space, entry.changes ?? [], entry.cursor, collections));
        if (typeof entry.cursor === 'string') cursors.set(space, entry.cursor);
        if (entry.more) next.push(space);
      }
    }
    todo = next;
  }
  return changed;
}
