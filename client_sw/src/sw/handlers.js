// The service worker side of sync: replay the outbox when Background Sync fires, and where
// that API is missing (Firefox, Safari) when the worker starts, activates, comes online or
// is asked by a page. Every path goes through replayOutbox, which holds the replay lock.
// Each replay uses the token a page stored in that database (net/auth.js): the worker has no
// way to sign in by itself, and a refused token pauses replay until a page provides one.
// Web Push (push.js) uses the same databases, tokens and replay.

import { DEFAULT_DB_NAME, databaseHandle } from '../local/db.js';
import { createNotifier } from '../local/notify.js';
import { storedTokens } from '../net/auth.js';
import { replayOutbox } from '../replay/replay.js';
import { installPushHandlers } from './push.js';

export const OUTBOX_SYNC_TAG = 'syncserver-outbox';

/**
 * @typedef {object} SyncHandlerOptions
 * @property {string} [url]  base URL of the sync server (default: the worker's origin)
 * @property {string} [dbName]  must match the pages' `dbName` (per-user databases of the
 *   pages' `user` option are found from it)
 * @property {string} [tag]  Background Sync tag the pages register
 * @property {number} [batchSize]
 * @property {import('./push.js').OnPush} [onPush]  the notification a push shows (default:
 *   "3 new changes in <space>", or the text of the server's notify message)
 */

/**
 * Install the sync handlers on the worker global scope. Call it during the worker's first
 * evaluation, like any event listener registration.
 * @param {SyncHandlerOptions} [options]
 * @returns {{replay: (source?: string, dbName?: string) => Promise<import('../replay/replay.js').ReplaySummary>}}
 */
export function installSyncHandlers(options = {}) {
  const scope = /** @type {any} */ (globalThis);
  const base = options.dbName ?? DEFAULT_DB_NAME;
  const tag = options.tag ?? OUTBOX_SYNC_TAG;
  /** @type {Map<string, {handle: ReturnType<typeof databaseHandle>, notifier: import('../local/notify.js').Notifier}>} */
  const opened = new Map();
  // Only this app's databases: the default one and the per-user ones derived from it.
  const ours = (/** @type {string} */ name) => name === base || name.startsWith(`${base}~`);
  const open = async (/** @type {string} */ name) => {
    if (!ours(name)) throw new Error(`not a database of this app: ${name}`);
    let entry = opened.get(name);
    if (!entry) {
      const handle = databaseHandle({ name });
      entry = { handle, notifier: createNotifier(handle.name) };
      opened.set(name, entry);
    }
    return { db: await entry.handle.get(), notifier: entry.notifier };
  };
  const replay = async (source = 'worker', name = base) => {
    const entry = await open(name);
    const db = entry.db;
    return replayOutbox({
      db, url: options.url ?? '/', notifier: entry.notifier, source, batchSize: options.batchSize,
      tokens: storedTokens(db),
    });
  };
  /** Every database of this app on this device (per-user ones included, where listable). */
  const names = async () => {
    try {
      const listed = await scope.indexedDB?.databases?.();
      if (listed) return [...new Set([base, ...listed.map((/** @type {any} */ d) => String(d.name)).filter(ours)])];
    } catch { /* not listable: the default database only */ }
    return [base];
  };
  const replayAll = async (/** @type {string} */ source) => {
    await Promise.all((await names()).map((name) => replay(source, name).catch(() => {})));
  };

  scope.addEventListener('sync', (/** @type {any} */ event) => {
    // A page of the default database registers `tag`, others `tag:<database>`.
    let name;
    if (event.tag === tag) name = base;
    else if (String(event.tag).startsWith(`${tag}:`)) name = String(event.tag).slice(tag.length + 1);
    if (!name || !ours(name)) return;
    // A rejection fails this sync event, and the browser schedules a retry: the entries are
    // still in the outbox because replayOutbox only drops answered mutations. An auth pause
    // resolves: retrying with the same token would only be refused again.
    event.waitUntil(replay('worker:sync', name));
  });

  scope.addEventListener('message', (/** @type {any} */ event) => {
    if (event.data?.type !== 'syncserver:replay') return;
    const name = typeof event.data.dbName === 'string' ? event.data.dbName : base;
    event.waitUntil(replay('worker:message', name).catch(() => {}));
  });

  installPushHandlers(scope, {
    url: options.url ?? '/', registration: scope.registration, clients: scope.clients, names, open, replay, onPush: options.onPush,
  });

  const hasBackgroundSync = typeof scope.SyncManager === 'function' && scope.registration?.sync;
  if (!hasBackgroundSync) {
    scope.addEventListener('activate', (/** @type {any} */ event) => {
      event.waitUntil(replayAll('worker:activate'));
    });
    scope.addEventListener('online', () => { replayAll('worker:online'); });
    // Worker start: the worker may have been woken for any event; flush what is queued.
    replayAll('worker:start');
  }
  return { replay };
}
