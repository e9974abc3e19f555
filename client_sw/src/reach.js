// Whether the sync server can be reached, judged from how the last request to it failed.
// The browser's `navigator.onLine` only says whether there is a network; a server that is
// down, restarting or behind a broken proxy looks "online" to it.

/**
 * What the client tells apps about the server: 'unreachable' (no answer, or a 5xx) or
 * 'busy' (503 storage_unavailable: it is up but cannot write now, and asked to retry).
 * @typedef {'unreachable' | 'busy'} ServerTrouble
 */

/**
 * The facts of a failed request that matter here; ReplayError and pull errors carry them.
 * @typedef {object} RequestFailure
 * @property {number} [status]  HTTP status, when the server (or a proxy) answered
 * @property {string} [code]  the problem+json `code` of that answer
 * @property {boolean} [network]  the request got no answer at all (fetch rejected)
 */

/**
 * @param {RequestFailure | null | undefined} failure
 * @returns {ServerTrouble | null}  null: the server answered (a 4xx is about the request,
 *   not about reaching the server)
 */
export function serverTrouble(failure) {
  if (!failure) return null;
  if (typeof failure.status === 'number') {
    if (failure.status === 503 && failure.code === 'storage_unavailable') return 'busy';
    return failure.status >= 500 ? 'unreachable' : null;
  }
  return failure.network ? 'unreachable' : null;
}

/**
 * fetch(), with a rejection (no connection, DNS, TLS, CORS) marked as a network failure.
 * @param {typeof fetch} doFetch
 * @param {string} url
 * @param {RequestInit} init
 * @returns {Promise<Response>}
 */
export async function fetchOrFail(doFetch, url, init) {
  try {
    return await doFetch(url, init);
  } catch (error) {
    // The same error (a TypeError from fetch), marked: callers that test its type still can.
    if (error instanceof Error && error.name !== 'AbortError') Object.assign(error, { network: true });
    throw error;
  }
}

/**
 * The problem+json code of an error answer ('' when the body is not one).
 * @param {Response} response
 * @returns {Promise<string>}
 */
export async function problemCode(response) {
  try {
    const body = await response.json();
    return typeof body?.code === 'string' ? body.code : '';
  } catch {
    return '';
  }
}
