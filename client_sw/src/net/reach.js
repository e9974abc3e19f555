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

/**
 * The client's view of the server: the trouble the last request showed, until a request
 * succeeds. While in trouble it calls `retry` with a backoff from 2 s to a minute (a busy
 * server keeps the feed open, so no reconnect would bring queued writes out), and when the
 * server answers again it calls `recovered` once.
 */
export class ServerWatch {
  /**
   * @param {{changed: () => void, retry: () => Promise<void>, recovered: () => void}} hooks
   */
  constructor(hooks) {
    this.hooks = hooks;
    /** @type {ServerTrouble | null} */
    this.trouble = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    this.delayMs = 0;
    this.stopped = false;
  }

  /**
   * A request failed. Failures while the browser is offline, and failures that are not
   * about a request (a database error), say nothing about the server.
   * @param {RequestFailure} failure
   */
  failed(failure) {
    if (this.stopped || globalThis.navigator?.onLine === false) return;
    if (typeof failure?.status !== 'number' && !failure?.network) return;
    const trouble = serverTrouble(failure);
    if (trouble === null) {
      this.answered(); // a 4xx: it is there
      return;
    }
    const before = this.trouble;
    this.trouble = trouble;
    if (before !== trouble) this.hooks.changed();
    this.armRetry();
  }

  /** A request succeeded (or the feed opened). */
  answered() {
    if (this.trouble === null) return;
    this.forget();
    this.hooks.changed();
    if (!this.stopped) this.hooks.recovered();
  }

  /** Judge afresh (the browser came back online); no recovery call. */
  forget() {
    this.trouble = null;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.delayMs = 0;
  }

  stop() {
    this.stopped = true;
    this.forget();
  }

  armRetry() {
    if (this.stopped || this.timer !== undefined) return;
    this.delayMs = Math.min(60000, this.delayMs ? this.delayMs * 2 : 2000);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.stopped || this.trouble === null || globalThis.navigator?.onLine === false) return;
      // A failure comes back through failed(), which arms the next try.
      this.hooks.retry().catch(() => {});
    }, this.delayMs);
  }
}
