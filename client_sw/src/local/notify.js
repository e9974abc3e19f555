// Messages between the pages and the service worker sharing one database. A
// BroadcastChannel reaches every tab and the worker of the origin; it does not echo to the
// sending object, so senders also deliver to their own listeners.

/**
 * @typedef {{space: string, collection: string, id: string}} RecordRef
 * @typedef {(
 *   {type: 'change', records: RecordRef[], origin: 'local' | 'remote' | 'push'} |
 *   {type: 'conflict', mutation: import('./store.js').OutboxEntry, result: import('./store.js').PushResult} |
 *   {type: 'merged', mutation: import('./store.js').OutboxEntry, result: import('./store.js').PushResult} |
 *   {type: 'rejected', mutation: import('./store.js').OutboxEntry, result: import('./store.js').PushResult} |
 *   {type: 'outbox', pending: number} |
 *   {type: 'resync', space: string, code: string, dropped: number} |
 *   {type: 'replay', state: 'start' | 'done' | 'error', source: string, error?: string, status?: number, code?: string, network?: boolean} |
 *   {type: 'auth', status: number, code: string, space?: string, source: string} |
 *   {type: 'auth-resumed'} |
 *   {type: 'refused', status: number, code: string, detail: string, field?: string, at: number, source: string} |
 *   {type: 'rate-limited', code: string, retryAfter: number, until: number, request: 'push' | 'pull' | 'feed', source: string} |
 *   {type: 'upgrade-required', app_version: number, message: string, mid: number, at: number, source: string} |
 *   {type: 'logout'} |
 *   {type: 'space-revoked', space: string, code: string, detail: string, dropped: number, deadLetters: number}
 * )} SyncMessage
 */

/**
 * @param {string} dbName
 * @returns {string}
 */
export function channelName(dbName) {
  return `syncserver:${dbName}`;
}

/**
 * @typedef {object} Notifier
 * @property {(message: SyncMessage) => void} post  to every other context and to our own listeners
 * @property {(fn: (message: SyncMessage) => void) => () => void} listen
 * @property {() => void} close
 */

/**
 * @param {string} dbName
 * @returns {Notifier}
 */
export function createNotifier(dbName) {
  const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(channelName(dbName)) : null;
  /** @type {Set<(message: SyncMessage) => void>} */
  const listeners = new Set();
  const deliver = (/** @type {SyncMessage} */ message) => {
    for (const fn of listeners) {
      try { fn(message); } catch (error) { console.error('syncserver listener failed', error); }
    }
  };
  if (channel) channel.onmessage = (event) => deliver(event.data);
  return {
    post(message) {
      channel?.postMessage(message);
      deliver(message);
    },
    listen(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    close() {
      listeners.clear();
      channel?.close();
    },
  };
}
