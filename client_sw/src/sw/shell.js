// App shell caching for the service worker: a versioned precache, cleanup of old versions
// on activate, and an explicit strategy per route. Requests no route matches are left to
// the browser (never cached), which is what the sync API (/v1/...) needs.

/** @typedef {'cache-first' | 'network-first' | 'stale-while-revalidate' | 'network-only'} Strategy */

/**
 * @typedef {object} Route
 * @property {'navigate' | RegExp | string | ((url: URL, request: Request) => boolean)} match
 *   'navigate': page loads; RegExp: tested on the path; string: a path prefix
 * @property {Strategy} strategy
 */

/**
 * @typedef {object} AppShellOptions
 * @property {string} version  bump it to ship a new shell; old caches are deleted on activate
 * @property {string[]} [precache]  URLs cached at install (the app works offline from the first load)
 * @property {Route[]} [routes]  first match wins
 * @property {string} [offlineFallback]  page shown for a navigation with no network and no cache
 * @property {string} [cachePrefix]
 * @property {boolean} [skipWaiting]  activate a new version at once (default true)
 */

/**
 * @param {Route} route
 * @param {URL} url
 * @param {Request} request
 * @returns {boolean}
 */
export function routeMatches(route, url, request) {
  const { match } = route;
  if (match === 'navigate') return request.mode === 'navigate';
  if (match instanceof RegExp) return match.test(url.pathname);
  if (typeof match === 'string') return url.pathname.startsWith(match);
  return match(url, request);
}

/**
 * Navigations refuse redirected responses from a service worker; copy them.
 * @param {Response} response
 * @returns {Promise<Response>}
 */
async function unredirect(response) {
  if (!response.redirected) return response;
  const body = await response.blob();
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

/**
 * Install the app shell handlers on the worker scope.
 * @param {AppShellOptions} options
 * @returns {{precacheName: string, runtimeName: string}}
 */
export function registerAppShell(options) {
  const scope = /** @type {any} */ (globalThis);
  const prefix = options.cachePrefix ?? 'syncserver-shell';
  const precacheName = `${prefix}-precache-${options.version}`;
  const runtimeName = `${prefix}-runtime-${options.version}`;
  const precache = [...new Set([...(options.precache ?? []), ...(options.offlineFallback ? [options.offlineFallback] : [])])];
  const ours = (/** @type {string} */ name) => name === precacheName || name === runtimeName;

  /** @param {Request} request @param {boolean} [ignoreSearch] */
  const fromCache = async (request, ignoreSearch = false) => {
    // Runtime first: stale-while-revalidate refreshes it, so it can be newer than the
    // precache, which only changes with `version`.
    for (const name of [runtimeName, precacheName]) {
      const cache = await caches.open(name);
      const hit = await cache.match(request, { ignoreSearch });
      if (hit) return hit;
    }
    return undefined;
  };
  /** @param {Request} request */
  const fetchAndStore = async (request) => {
    const response = await fetch(request);
    if (response.ok && response.type === 'basic') {
      const cache = await caches.open(runtimeName);
      await cache.put(request, response.clone());
    }
    return response;
  };

  /** @type {Record<Strategy, (request: Request, event: any) => Promise<Response>>} */
  const strategies = {
    'cache-first': async (request) => (await fromCache(request)) ?? fetchAndStore(request),
    'network-first': async (request) => {
      try {
        return await unredirect(await fetchAndStore(request));
      } catch (error) {
        const navigate = request.mode === 'navigate';
        const cached = await fromCache(request, navigate);
        if (cached) return cached;
        const fallback = navigate && options.offlineFallback ? await fromCache(new Request(options.offlineFallback)) : undefined;
        if (fallback) return fallback;
        throw error;
      }
    },
    'stale-while-revalidate': async (request, event) => {
      const network = fetchAndStore(request);
      event.waitUntil(network.catch(() => {}));
      return (await fromCache(request)) ?? network;
    },
    'network-only': (request) => fetch(request),
  };

  scope.addEventListener('install', (/** @type {any} */ event) => {
    event.waitUntil((async () => {
      const cache = await caches.open(precacheName);
      // `cache: 'reload'` bypasses the HTTP cache so a new version never precaches stale files.
      await cache.addAll(precache.map((url) => new Request(url, { cache: 'reload' })));
      if (options.skipWaiting !== false) await scope.skipWaiting();
    })());
  });

  scope.addEventListener('activate', (/** @type {any} */ event) => {
    event.waitUntil((async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith(`${prefix}-`) && !ours(name)) await caches.delete(name);
      }
      await scope.clients.claim();
    })());
  });

  scope.addEventListener('fetch', (/** @type {any} */ event) => {
    const request = /** @type {Request} */ (event.request);
    if (request.method !== 'GET') return;
    const url = new URL(request.url);
    if (url.origin !== scope.location.origin) return;
    const route = (options.routes ?? []).find((r) => routeMatches(r, url, request));
    if (!route) return;
    event.respondWith(strategies[route.strategy](request, event));
  });

  return { precacheName, runtimeName };
}
