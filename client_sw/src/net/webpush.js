// Web Push as the server speaks it (docs/protocol.md, "Web Push"): its public key, a device's
// subscription registered for the spaces it follows, and what this database remembers of
// that registration. The page registers (page/push.js) and the worker registers again when
// the browser rotates the subscription with no page open (sw/push.js): both go through
// here, and the worker finds in the meta store all it needs (spaces, collections, key).

import { getMeta, getClientId, req, setMeta, transact } from '../local/db.js';
import { fetchWithToken } from './auth.js';
import { endpoint } from './endpoint.js';
import { fetchOrFail, problemCode } from './reach.js';

export const WEBPUSH_KEY = 'webpush';

/**
 * What a database remembers of its push registration.
 * @typedef {object} PushState
 * @property {string} endpoint  the browser subscription's endpoint registered last
 * @property {string} key  the server's public key it was made with (base64url)
 * @property {string[]} spaces  the spaces the client asked to be nudged for
 * @property {string[]} resolved  the names the server answered (`user-{sub}` resolved):
 *   a nudge names one of these
 * @property {string[]} [collections]  the page client's collection filter: pulls from a
 *   nudge use the same cursors
 * @property {number} at  when it was registered (ms since the epoch)
 */

/**
 * The server refused or could not serve a Web Push request.
 */
export class WebPushRequestError extends Error {
  /**
   * @param {string} message
   * @param {number} status  0 when the server could not be reached
   * @param {string} code  the server's problem code ('webpush_disabled', 'forbidden', ...)
   */
  constructor(message, status, code) {
    super(message);
    this.name = 'WebPushRequestError';
    this.status = status;
    this.code = code;
  }
}

/**
 * @typedef {object} WebPushServer
 * @property {string} url  base URL of the sync server
 * @property {import('./auth.js').TokenSource} [tokens]
 * @property {typeof fetch} [fetch]
 */

/**
 * @param {WebPushServer} server
 * @param {string} path
 * @param {RequestInit} init
 */
async function call(server, path, init) {
  const doFetch = server.fetch ?? globalThis.fetch.bind(globalThis);
  try {
    return await fetchWithToken((u, i) => fetchOrFail(doFetch, u, i), endpoint(server.url, path), { cache: 'no-store', ...init }, server.tokens);
  } catch (error) {
    throw new WebPushRequestError(`the sync server could not be reached: ${/** @type {Error} */ (error).message}`, 0, 'network');
  }
}

/**
 * @param {Response} response
 * @param {string} what
 */
async function refused(response, what) {
  const code = await problemCode(response);
  return new WebPushRequestError(`${what}: HTTP ${response.status} ${code}`.trim(), response.status, code);
}

/**
 * The server's VAPID public key (GET /v1/webpush/key); a 404 `webpush_disabled` when the
 * server has no Web Push configured.
 * @param {WebPushServer} server
 * @returns {Promise<string>} base64url
 */
export async function fetchPushKey(server) {
  const response = await call(server, 'v1/webpush/key', { method: 'GET' });
  if (!response.ok) throw await refused(response, 'the server gave no Web Push key');
  const body = await response.json();
  if (typeof body?.public_key !== 'string') throw new WebPushRequestError('the server answered no public_key', response.status, 'bad_answer');
  return body.public_key;
}

/**
 * Register (or replace) this device's subscription (POST /v1/webpush/subscriptions).
 * @param {WebPushServer} server
 * @param {{clientId: string, subscription: unknown, spaces: string[]}} registration
 * @returns {Promise<string[]>} the spaces as the server resolved them
 */
export async function registerSubscription(server, registration) {
  const response = await call(server, 'v1/webpush/subscriptions', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_id: registration.clientId, subscription: registration.subscription, spaces: registration.spaces }),
  });
  if (!response.ok) throw await refused(response, 'the server refused the push subscription');
  const body = await response.json().catch(() => ({}));
  return Array.isArray(body?.spaces) ? body.spaces.map(String) : registration.spaces;
}

/**
 * Forget this device's subscription on the server (DELETE; 204 also when there was none).
 * @param {WebPushServer} server
 * @param {string} clientId
 */
export async function deleteSubscription(server, clientId) {
  const response = await call(server, `v1/webpush/subscriptions?client_id=${encodeURIComponent(clientId)}`, { method: 'DELETE' });
  if (!response.ok) throw await refused(response, 'the server did not delete the push subscription');
}

/**
 * @param {IDBDatabase} db
 * @returns {Promise<PushState | undefined>}
 */
export function readPushState(db) {
  return transact(db, ['meta'], 'readonly', (tx) => getMeta(tx, WEBPUSH_KEY));
}

/**
 * @param {IDBDatabase} db
 * @param {PushState | undefined} state  undefined forgets it
 */
export function writePushState(db, state) {
  return transact(db, ['meta'], 'readwrite', async (tx) => {
    if (state) await setMeta(tx, WEBPUSH_KEY, state);
    else await req(tx.objectStore('meta').delete(WEBPUSH_KEY));
  });
}

/**
 * Register a subscription for the database's client and remember it: the page after
 * subscribing, the worker after the browser rotated the subscription.
 * @param {IDBDatabase} db
 * @param {WebPushServer} server
 * @param {{subscription: {endpoint: string, toJSON: () => unknown}, key: string, spaces: string[], collections?: string[]}} what
 * @returns {Promise<PushState>}
 */
export async function registerDevice(db, server, what) {
  const clientId = await getClientId(db);
  const resolved = await registerSubscription(server, { clientId, subscription: what.subscription.toJSON(), spaces: what.spaces });
  /** @type {PushState} */
  const state = { endpoint: what.subscription.endpoint, key: what.key, spaces: [...what.spaces], resolved, at: Date.now() };
  if (what.collections?.length) state.collections = [...what.collections];
  await writePushState(db, state);
  return state;
}

/**
 * A base64url string (the server's key) as the bytes `applicationServerKey` takes.
 * @param {string} text
 * @returns {Uint8Array<ArrayBuffer>}
 */
export function base64UrlBytes(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(text.length / 4) * 4, '=');
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

/**
 * The bytes of a subscription's `applicationServerKey` (an ArrayBuffer) as base64url, to
 * compare with the server's key.
 * @param {ArrayBuffer | null | undefined} buffer
 * @returns {string}
 */
export function bytesBase64Url(buffer) {
  if (!buffer) return '';
  let text = '';
  for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
