// Where the sync server's endpoints are: the base URL the app gave (absolute, or relative
// to the page or the worker) and a path of the protocol.

/**
 * Resolve an endpoint against the server base (relative bases resolve against the page or
 * worker location).
 * @param {string} base
 * @param {string} path  relative, e.g. 'v1/push'
 * @returns {string}
 */
export function endpoint(base, path) {
  const origin = globalThis.location?.href ?? 'http://localhost/';
  return new URL(path, new URL(base.endsWith('/') ? base : `${base}/`, origin)).href;
}
