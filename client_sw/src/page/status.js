// What the page client says about sync, for the client as a whole (`sync.status`) and for
// each space it follows (`sync.space(name).status`): the browser's network and the server's
// trouble first, then what is being sent or caught up, then whether anything waits.

/**
 * offline: the browser has no network. unreachable / server-busy: it has one, but the last
 * push, pull or feed connection got no answer or a 5xx / a 503 storage_unavailable (the
 * client keeps retrying). syncing: sending or catching up. up-to-date: the feed is live and
 * nothing is queued. online: none of these (connecting, or writes queued).
 * @typedef {'offline' | 'unreachable' | 'server-busy' | 'online' | 'syncing' | 'up-to-date'} SyncStatus
 */

/**
 * What the status is computed from (page/sync-client.js).
 * @typedef {object} StatusHost
 * @property {SyncStatus} status  the client's, as last computed
 * @property {import('../net/reach.js').ServerTrouble | null} trouble
 * @property {Map<string, unknown>} replaying  contexts replaying now
 * @property {boolean} pulling  an HTTP pull runs
 * @property {import('../feed/ws.js').FeedState} feedState  the socket's
 * @property {{stateOf: (space: string) => import('../feed/ws.js').FeedState} | null} feed
 * @property {number} pending  queued writes, all spaces
 * @property {Map<string, number>} pendingBySpace  queued writes per space (many spaces)
 * @property {string | null} only  the one space of a client of one space
 * @property {{has: (space: string) => boolean}} following
 * @property {{live?: boolean}} options
 */

/**
 * @param {StatusHost} host
 * @returns {SyncStatus}
 */
export function clientStatus(host) {
  if (globalThis.navigator?.onLine === false) return 'offline';
  if (host.trouble === 'unreachable') return 'unreachable';
  if (host.trouble === 'busy') return 'server-busy';
  if (host.replaying.size > 0 || host.pulling || host.feedState === 'catching-up') return 'syncing';
  if (host.pending === 0 && (host.feedState === 'live' || host.options.live === false)) return 'up-to-date';
  return 'online';
}

/**
 * One space's status: the client's trouble, else that space's own subscription and writes
 * (a replay running says `syncing` only for the spaces with writes queued).
 * @param {StatusHost} host
 * @param {string} space
 * @returns {SyncStatus}
 */
export function spaceStatus(host, space) {
  if (host.status === 'offline' || host.status === 'unreachable' || host.status === 'server-busy') return host.status;
  const pending = host.only === null ? host.pendingBySpace.get(space) ?? 0 : host.pending;
  const feed = host.feed ? host.feed.stateOf(space) : host.feedState;
  if ((host.replaying.size > 0 && pending > 0) || host.pulling || feed === 'catching-up') return 'syncing';
  if (pending === 0 && host.following.has(space) && (feed === 'live' || host.options.live === false)) return 'up-to-date';
  return 'online';
}
