// The service worker side of sync: replay the outbox when Background Sync fires, and where
// that API is missing (Firefox, Safari) when the worker starts, activates, comes online or
// is asked by a page. Every path goes through replayOutbox, which holds the replay lock.

import { databaseHandle } from './db.js';
import { createNotifier } from './notify.js';
import { replayOutbox } from './replay.js';

export const OUTBOX_SYNC_TAG = 'syncserver-outbox';

/**
 * @typedef {object} SyncHandlerOptions
 * @property {string} [url]  base URL of the sync server (default: the worker's origin)
 * @property {string} [dbName]  must match the pages' `dbName`
 * @property {string} [tag]  Background Sync tag the pages register
 * @property {number} [batchSize]
 */

/**
 * Install the sync handlers on the worker global scope. Call it during the worker's first
 * evaluation, like any event listener registration.
 * @param {SyncHandlerOptions} [options]
 * @returns {{replay: (source?: string) => Promise<import('./replay.js').ReplaySummary>}}
 */
export function installSyncHandlers(options = {}) {
  const scope = /** @type {any} */ (globalThis);
  const handle = databaseHandle({ name: options.dbName });
  const notifier = createNotifier(handle.name);
  const tag = options.tag ?? OUTBOX_SYNC_TAG;
  const replay = async (source = 'worker') => replayOutbox({
    db: await handle.get(), url: options.url ?? '/', notifier, source, batchSize: options.batchSize,
  });

  scope.addEventListener('sync', (/** @type {any} */ event) => {
    if (event.tag !== tag) return;
    // A rejection fails this sync event, and the browser schedules a retry: the entries are
    // still in the outbox because replayOutbox only drops answered mutations.
    event.waitUntil(replay('worker:sync'));
  });

  scope.addEventListener('message', (/** @type {any} */ event) => {
    if (event.data?.type !== 'syncserver:replay') return;
    event.waitUntil(replay('worker:message').catch(() => {}));
  });

  const hasBackgroundSync = typeof scope.SyncManager === 'function' && scope.registration?.sync;
  if (!hasBackgroundSync) {
    scope.addEventListener('activate', (/** @type {any} */ event) => {
      event.waitUntil(replay('worker:activate').catch(() => {}));
    });
    scope.addEventListener('online', () => { replay('worker:online').catch(() => {}); });
    // Worker start: the worker may have been woken for any event; flush what is queued.
    replay('worker:start').catch(() => {});
  }
  return { replay };
}
