// GET /v1/collections: what the server declares of its collections (docs/protocol.md):
// each one's JSON Schema, roles and app version, the app versions it still takes, and
// whether it takes writes to collections it does not name. The last answer is kept in the
// database's meta store with its ETag, so a client started offline checks writes against
// it, and a client online asks again with If-None-Match (a 304 costs no body).

import { readMetaValue, writeMetaValue } from '../local/db.js';
import { AuthError, fetchWithToken, pauseOf } from './auth.js';
import { endpoint } from './endpoint.js';
import { RateLimitError, limitOf } from './rate.js';
import { fetchOrFail, problemCode } from './reach.js';

export const COLLECTIONS_KEY = 'collections';

/**
 * One collection as the server declares it.
 * @typedef {object} DeclaredCollection
 * @property {string | null} policy  null: the server's --policies / --default-policy
 * @property {number} version  the app version of its current schema
 * @property {Record<string, any> | null} schema  JSON Schema 2020-12 of a record's data; null: any object
 * @property {string[]} read
 * @property {string[]} create
 * @property {string[]} update
 * @property {string[]} delete
 */

/**
 * The body of GET /v1/collections.
 * @typedef {object} Declaration
 * @property {boolean} declared  false: the server has no collections file (nothing is checked)
 * @property {number} app_version
 * @property {number} min_app_version  writes stamped older are refused upgrade_required
 * @property {'reject' | 'allow'} undeclared  writes to collections not listed
 * @property {Record<string, DeclaredCollection>} collections
 */

/**
 * What a database keeps of the last answer.
 * @typedef {object} StoredDeclaration
 * @property {Declaration} body
 * @property {string | null} etag
 * @property {number} at  when the server last said it is current (ms since the epoch)
 */

/**
 * @param {IDBDatabase} db
 * @returns {Promise<StoredDeclaration | undefined>}
 */
export function readDeclaration(db) {
  return readMetaValue(db, COLLECTIONS_KEY);
}

/**
 * @param {unknown} body
 * @returns {Declaration | null}  null: not a declaration this client can read
 */
function declarationOf(body) {
  const b = /** @type {any} */ (body);
  if (b === null || typeof b !== 'object' || typeof b.collections !== 'object' || b.collections === null) return null;
  return {
    declared: b.declared !== false,
    app_version: Number.isInteger(b.app_version) ? b.app_version : 1,
    min_app_version: Number.isInteger(b.min_app_version) ? b.min_app_version : 1,
    undeclared: b.undeclared === 'reject' ? 'reject' : 'allow',
    collections: b.collections,
  };
}

/**
 * Ask the server for its declaration (with the stored ETag) and store what it says. A
 * server that has no such endpoint (older than this client: 404) declares nothing. A 401
 * (after one token refresh) or 403 rejects with an AuthError, a 429 with a RateLimitError,
 * other failures with an Error carrying `status` and `code` (or `network`); the stored copy
 * stays.
 * @param {{db: IDBDatabase, url: string, tokens?: import('./auth.js').TokenSource, fetch?: typeof fetch}} options
 * @returns {Promise<StoredDeclaration>}
 */
export async function fetchDeclaration(options) {
  const { db } = options;
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const stored = await readDeclaration(db);
  /** @type {Record<string, string>} */
  const headers = stored?.etag ? { 'if-none-match': stored.etag } : {};
  // no-store: this client keeps the copy and its ETag itself (the HTTP cache would answer
  // a conditional request of ours with its own copy, or keep one we dropped).
  const response = await fetchWithToken((u, init) => fetchOrFail(doFetch, u, init),
    endpoint(options.url, 'v1/collections'), { cache: 'no-store', headers }, options.tokens);
  if (response.status === 401 || response.status === 403) {
    const body = await response.json().catch(() => ({}));
    throw new AuthError(/** @type {import('./auth.js').AuthPause} */ (pauseOf(response, { code: body.code })));
  }
  if (response.status === 429) throw new RateLimitError(await limitOf(response));
  /** @type {StoredDeclaration} */
  let fresh;
  if (response.status === 304 && stored) {
    fresh = { ...stored, at: Date.now() };
  } else if (response.status === 404) {
    await response.body?.cancel().catch(() => {});
    fresh = { body: { declared: false, app_version: 1, min_app_version: 1, undeclared: 'allow', collections: {} }, etag: null, at: Date.now() };
  } else if (response.ok) {
    const body = declarationOf(await response.json().catch(() => null));
    if (!body) throw Object.assign(new Error('GET /v1/collections answered something that is no declaration'), { status: response.status, code: 'bad_answer' });
    fresh = { body, etag: response.headers.get('etag'), at: Date.now() };
  } else {
    const code = await problemCode(response);
    throw Object.assign(new Error(`GET /v1/collections answered ${response.status} ${code}`), { status: response.status, code });
  }
  await writeMetaValue(db, COLLECTIONS_KEY, fresh);
  return fresh;
}
