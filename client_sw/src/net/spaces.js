// GET /v1/spaces: the spaces a token grants, resolved by the server (docs/protocol.md), so
// the client knows what to follow and in which mode without reading the token's claims.

import { AuthError, fetchWithToken, pauseOf } from './auth.js';
import { endpoint } from './endpoint.js';
import { RateLimitError, limitOf } from './rate.js';
import { fetchOrFail, problemCode } from './reach.js';

/**
 * @typedef {object} GrantedSpace
 * @property {string} space
 * @property {'r' | 'rw'} mode
 * @property {number} head  the space's current seq (0: never written)
 */

/**
 * @typedef {object} SpacesAnswer
 * @property {string | null} sub  the token's user; null: the server runs without auth (then
 *   `spaces` are the spaces it holds, each `rw`)
 * @property {GrantedSpace[]} spaces
 */

/**
 * Ask the server which spaces the token grants. A 401 (after one token refresh) or 403
 * rejects with an AuthError, a 429 with a RateLimitError; other failures reject with an
 * Error carrying `status` and `code` (or `network`).
 * @param {{url: string, tokens?: import('./auth.js').TokenSource, fetch?: typeof fetch}} options
 * @returns {Promise<SpacesAnswer>}
 */
export async function fetchSpaces(options) {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const response = await fetchWithToken((u, init) => fetchOrFail(doFetch, u, init),
    endpoint(options.url, 'v1/spaces'), { cache: 'no-store' }, options.tokens);
  if (response.status === 401 || response.status === 403) {
    const body = await response.json().catch(() => ({}));
    throw new AuthError(/** @type {import('./auth.js').AuthPause} */ (pauseOf(response, { code: body.code })));
  }
  if (response.status === 429) throw new RateLimitError(await limitOf(response));
  if (!response.ok) {
    const code = await problemCode(response);
    throw Object.assign(new Error(`GET /v1/spaces answered ${response.status} ${code}`), { status: response.status, code });
  }
  const body = await response.json();
  const spaces = Array.isArray(body?.spaces) ? body.spaces : [];
  return {
    sub: typeof body?.sub === 'string' ? body.sub : null,
    spaces: spaces
      .filter((/** @type {any} */ s) => typeof s?.space === 'string')
      .map((/** @type {any} */ s) => ({ space: s.space, mode: s.mode === 'r' ? 'r' : 'rw', head: Number(s.head) || 0 })),
  };
}
