// The server's per-user limits (docs/protocol.md, "Limits"): a 429 (`rate_limited`, or
// `too_many_connections` for a long-poll) says how long to wait in Retry-After. The wait is
// kept in the database's meta store, so the pages and the service worker of one user all
// hold their pushes until then instead of retrying on their own backoff.

import { getMeta, req, setMeta, transact } from '../local/db.js';

export const LIMIT_KEY = 'rate_limited_until';
/** A wait asked for is honoured up to this long: a wrong header never stalls sync for hours. */
export const MAX_WAIT_MS = 5 * 60 * 1000;

/**
 * What a 429 said.
 * @typedef {object} RateLimit
 * @property {string} code  'rate_limited' or 'too_many_connections'
 * @property {number} retryAfter  seconds the server asked for
 * @property {number} until  when to try again (ms since the epoch; the wait is capped)
 */

/**
 * Milliseconds to wait: the Retry-After header (seconds), else the body's `retry_after`,
 * at least a second and at most MAX_WAIT_MS.
 * @param {unknown} seconds
 * @returns {number}
 */
export function waitMs(seconds) {
  const value = Number(seconds);
  return Math.min(MAX_WAIT_MS, Math.max(1000, Number.isFinite(value) ? value * 1000 : 1000));
}

/**
 * The limit a 429 answer states (its body is read).
 * @param {Response} response
 * @returns {Promise<RateLimit>}
 */
export async function limitOf(response) {
  const body = await response.json().catch(() => ({}));
  const header = response.headers.get('retry-after');
  const retryAfter = Number(header ?? body?.retry_after ?? 1) || 1;
  const code = typeof body?.code === 'string' ? body.code : 'rate_limited';
  return { code, retryAfter, until: Date.now() + waitMs(retryAfter) };
}

export class RateLimitError extends Error {
  /** @param {RateLimit} limit */
  constructor(limit) {
    super(`the server asked to wait ${limit.retryAfter} s (${limit.code})`);
    this.name = 'RateLimitError';
    this.status = 429;
    this.code = limit.code;
    this.limit = limit;
  }
}

/**
 * @param {IDBDatabase} db
 * @returns {Promise<number>}  ms since the epoch before which nothing is pushed (0: none)
 */
export async function readLimit(db) {
  const until = await transact(db, ['meta'], 'readonly', (tx) => getMeta(tx, LIMIT_KEY));
  return typeof until === 'number' ? until : 0;
}

/**
 * @param {IDBDatabase} db
 * @param {number} until  0 lifts it
 */
export function writeLimit(db, until) {
  return transact(db, ['meta'], 'readwrite', async (tx) => {
    if (until) await setMeta(tx, LIMIT_KEY, until);
    else await req(tx.objectStore('meta').delete(LIMIT_KEY));
  });
}
