// The worker's Web Push handlers (installed by installSyncHandlers): a `push` wakes the
// worker, often with no page of the app open. A sync nudge (`{type: 'sync', space, head}`,
// with `new` counts and a `title` when another user created records in a collection the
// server declares to notify: --webpush-notify-new) pulls the space into every database of this app registered for it, from its stored
// cursor, replays the outbox, and tells open tabs what changed; an app notification
// (`{type: 'notify', ...}`) carries its own text. Either way a notification is shown, as
// browsers require for every push: the app's `onPush(changes)` writes it, or a default
// does. A click focuses (or opens) the app at the notification's URL, and a subscription
// the browser replaced is registered again with what the page stored (net/webpush.js).
// Payloads never carry record data: the records come from the server, with the token a
// page stored (net/auth.js), as for a replay.

import { pullChanges } from '../feed/pull.js';
import { getRecord } from '../local/store.js';
import { storedTokens } from '../net/auth.js';
import { base64UrlBytes, readPushState, registerDevice } from '../net/webpush.js';

/** @typedef {import('../local/store.js').RecordRef} RecordRef */
/** @typedef {import('../local/store.js').LocalRecord} LocalRecord */

/**
 * What a push carried, checked.
 * @typedef {{type: 'sync', space: string, head: number, new?: Record<string, number>, title?: string} |
 *   {type: 'notify', space: string, title: string, body: string, url: string, tag: string} |
 *   {type: 'unknown', text: string}} PushPayload
 */

/**
 * What a push brought, given to the app's `onPush`.
 * @typedef {object} PushChanges
 * @property {'sync' | 'notify' | 'unknown'} type
 * @property {string} space  the space the push named ('' for an unknown payload)
 * @property {number} head  the space's head seq the server announced (sync; else 0)
 * @property {RecordRef[]} records  the records the pull changed on this device
 * @property {LocalRecord[]} values  their values now (at most 20; deleted ones left out)
 * @property {Record<string, number>} collections  changed records per collection
 * @property {Record<string, number>} new  records other users created per collection declared
 *   to notify, as the nudge counted them ({} for none)
 * @property {string[]} databases  the databases pulled into (one per user of the device)
 * @property {{title: string, body: string, url: string, tag: string}} [message]  a notify's text
 * @property {PushNotification} suggested  the notification shown if onPush gives none
 */

/**
 * The notification to show. `url` is opened (or focused) on click; only this origin's URLs
 * are, others open the app's scope.
 * @typedef {object} PushNotification
 * @property {string} title
 * @property {string} [body]
 * @property {string} [url]
 * @property {string} [tag]  a newer notification of the same tag replaces the older one
 * @property {string} [icon]
 * @property {string} [badge]
 * @property {boolean} [silent]
 */

/** @typedef {(changes: PushChanges) => PushNotification | null | undefined | Promise<PushNotification | null | undefined>} OnPush */

/**
 * What the handlers need of the worker (sw/handlers.js gives it).
 * @typedef {object} PushContext
 * @property {string} url  base URL of the sync server
 * @property {any} registration  the worker's ServiceWorkerRegistration
 * @property {any} clients  the worker's Clients
 * @property {() => Promise<string[]>} names  this app's databases on the device
 * @property {(name: string) => Promise<{db: IDBDatabase, notifier: import('../local/notify.js').Notifier}>} open
 * @property {(source: string, name: string) => Promise<unknown>} replay
 * @property {OnPush} [onPush]
 */

const MAX_VALUES = 20;

/** @param {unknown} value @returns {string} */
const text = (value) => (typeof value === 'string' ? value : '');

/**
 * Read a push's data (a PushMessageData, or null for a push without payload).
 * @param {{json: () => any, text: () => string} | null | undefined} data
 * @returns {PushPayload}
 */
export function parsePushPayload(data) {
  if (!data) return { type: 'unknown', text: '' };
  let body;
  try {
    body = data.json();
  } catch {
    return { type: 'unknown', text: data.text() };
  }
  const space = text(body?.space);
  if (body?.type === 'sync' && space) {
    /** @type {PushPayload} */
    const nudge = { type: 'sync', space, head: Number.isSafeInteger(body.head) ? body.head : 0 };
    const created = counts(body.new);
    if (created) Object.assign(nudge, { new: created, title: text(body.title) });
    return nudge;
  }
  if (body?.type === 'notify' && (space || text(body.title))) {
    return { type: 'notify', space, title: text(body.title), body: text(body.body), url: text(body.url), tag: text(body.tag) };
  }
  return { type: 'unknown', text: JSON.stringify(body) };
}

/**
 * A nudge's `new`: positive whole counts by collection, or null (none, or not that shape).
 * @param {unknown} value
 * @returns {Record<string, number> | null}
 */
function counts(value) {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return null;
  /** @type {Record<string, number>} */
  const found = {};
  for (const [collection, n] of Object.entries(value)) {
    if (Number.isSafeInteger(n) && n > 0) found[collection] = n;
  }
  return Object.keys(found).length ? found : null;
}

/**
 * The databases registered for pushes of `space`.
 * @param {PushContext} ctx
 * @param {string} space
 */
async function registeredFor(ctx, space) {
  const found = [];
  for (const name of await ctx.names()) {
    const entry = await ctx.open(name);
    const state = await readPushState(entry.db);
    if (state && (state.resolved.includes(space) || state.spaces.includes(space))) found.push({ name, ...entry, state });
  }
  return found;
}

/**
 * Pull the nudged space into every database registered for it, replay their outboxes and
 * tell the open tabs. A failure (offline, a refused token) leaves the space for the next
 * nudge or the page: the notification is shown anyway.
 * @param {PushContext} ctx
 * @param {string} space
 * @returns {Promise<{records: RecordRef[], values: LocalRecord[], databases: string[]}>}
 */
export async function pullNudged(ctx, space) {
  /** @type {RecordRef[]} */
  const records = [];
  /** @type {LocalRecord[]} */
  const values = [];
  const databases = [];
  for (const { name, db, notifier, state } of await registeredFor(ctx, space)) {
    databases.push(name);
    try {
      const changed = await pullChanges({
        db, url: ctx.url, space, collections: state.collections, tokens: storedTokens(db),
        onResync: (event) => {
          notifier.post({ type: 'resync', space: event.space, code: event.code, dropped: event.dropped.length });
          if (event.dropped.length) notifier.post({ type: 'change', records: event.dropped, origin: 'remote' });
        },
      });
      if (changed.length) notifier.post({ type: 'change', records: changed, origin: 'remote' });
      records.push(...changed);
      for (const ref of changed) {
        if (values.length >= MAX_VALUES) break;
        const value = await getRecord(db, ref.space, ref.collection, ref.id);
        if (value) values.push(value);
      }
    } catch (error) {
      console.warn(`syncserver: pulling ${space} after a push failed`, error);
    }
    // Writes queued offline go out while the worker is awake (the push may come first).
    await ctx.replay('worker:push', name).catch(() => {});
  }
  return { records, values, databases };
}

/**
 * The notification shown when the app's onPush gives none.
 * @param {PushPayload} payload
 * @param {RecordRef[]} records
 * @param {string} scope  the worker's scope URL
 * @returns {PushNotification}
 */
export function defaultNotification(payload, records, scope) {
  if (payload.type === 'notify') {
    return { title: payload.title || payload.space, body: payload.body, url: payload.url || scope, tag: payload.tag || `syncserver:${payload.space}` };
  }
  if (payload.type === 'sync' && payload.new) {
    // Another user created records: the server's title, and what was created.
    const body = Object.entries(payload.new).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${n} new in ${c}`).join(', ');
    return { title: payload.title || payload.space, body, url: scope, tag: `syncserver:${payload.space}` };
  }
  if (payload.type === 'sync') {
    const n = records.length;
    return {
      title: n ? `${n} new ${n === 1 ? 'change' : 'changes'} in ${payload.space}` : `${payload.space} is up to date`,
      body: n ? 'Synced to this device: open the app to see them.' : '',
      url: scope, tag: `syncserver:${payload.space}`,
    };
  }
  return { title: 'New activity', url: scope, tag: 'syncserver' };
}

/**
 * Handle one push: pull (a sync nudge), then show the notification. Resolves when both are
 * done (the event's waitUntil keeps the worker alive until then).
 * @param {PushContext} ctx
 * @param {PushPayload} payload
 * @returns {Promise<PushNotification>} what was shown
 */
export async function handlePush(ctx, payload) {
  const pulled = payload.type === 'sync' ? await pullNudged(ctx, payload.space) : { records: [], values: [], databases: [] };
  /** @type {Record<string, number>} */
  const collections = {};
  for (const ref of pulled.records) collections[ref.collection] = (collections[ref.collection] ?? 0) + 1;
  const suggested = defaultNotification(payload, pulled.records, ctx.registration.scope);
  /** @type {PushChanges} */
  const changes = {
    type: payload.type, space: payload.type === 'unknown' ? '' : payload.space, head: payload.type === 'sync' ? payload.head : 0,
    ...pulled, collections, new: payload.type === 'sync' ? { ...payload.new } : {}, suggested,
  };
  if (payload.type === 'notify') changes.message = { title: payload.title, body: payload.body, url: payload.url, tag: payload.tag };
  let chosen = null;
  try {
    chosen = await ctx.onPush?.(changes);
  } catch (error) {
    console.error('syncserver: onPush failed; the default notification is shown', error);
  }
  const shown = { ...suggested, ...(chosen ?? {}) };
  const { title, url, ...rest } = shown;
  await ctx.registration.showNotification(title || suggested.title, {
    ...rest, data: { syncserver: true, type: payload.type, space: changes.space, url: url || suggested.url },
  });
  return shown;
}

/**
 * A click on one of our notifications: focus the app's window showing its URL, or another
 * window of the app (brought to the URL), or open one. Only this origin's URLs: another
 * opens the worker's scope.
 * @param {Pick<PushContext, 'registration' | 'clients'>} ctx
 * @param {{data?: any, close: () => void}} notification
 * @returns {Promise<unknown>} the window client, or undefined for a notification not ours
 */
export async function handleNotificationClick(ctx, notification) {
  const data = notification.data;
  if (!data?.syncserver) return undefined; // the app's own notifications are the app's
  notification.close();
  const scope = new URL(ctx.registration.scope);
  let target;
  try {
    target = new URL(text(data.url) || scope.href, scope);
  } catch {
    target = scope;
  }
  if (target.origin !== scope.origin) target = scope;
  const windows = await ctx.clients.matchAll({ type: 'window', includeUncontrolled: true });
  // focus() and openWindow() are only allowed while a user's click is handled: a failed
  // focus() leaves the window where it is and still brings it to the URL.
  const exact = windows.find((/** @type {any} */ w) => w.url === target.href);
  if (exact) return exact.focus().catch(() => exact);
  const app = windows.find((/** @type {any} */ w) => String(w.url).startsWith(scope.href));
  if (app) {
    // Focus first, while the click still allows it; then bring the window to the URL.
    const focused = (await app.focus().catch(() => null)) ?? app;
    try {
      return (await focused.navigate?.(target.href)) ?? focused;
    } catch {
      return focused; // not controlled by this worker: it stays where it is
    }
  }
  return ctx.clients.openWindow(target.href);
}

/**
 * The browser replaced (or dropped) the push subscription: subscribe again if needed and
 * register the new one for every database that had registered, with its client id, spaces
 * and token, as stored. A failure (offline) is left to the page's next start, which
 * registers a subscription that is not the one it stored.
 * @param {PushContext} ctx
 * @param {any} [newSubscription]  the event's, where the browser gives it
 * @returns {Promise<string[]>} the databases registered again
 */
export async function handleSubscriptionChange(ctx, newSubscription) {
  const done = [];
  let subscription = newSubscription ?? null;
  for (const name of await ctx.names()) {
    const { db } = await ctx.open(name);
    const state = await readPushState(db);
    if (!state) continue;
    subscription ??= await ctx.registration.pushManager.getSubscription();
    subscription ??= await ctx.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlBytes(state.key) });
    try {
      await registerDevice(db, { url: ctx.url, tokens: storedTokens(db) }, {
        subscription, key: state.key, spaces: state.spaces, collections: state.collections,
      });
      done.push(name);
    } catch (error) {
      console.warn(`syncserver: registering the new push subscription of ${name} failed`, error);
    }
  }
  return done;
}

/**
 * Listen to `push`, `notificationclick` and `pushsubscriptionchange` on the worker scope.
 * @param {any} scope  the worker global scope
 * @param {PushContext} ctx
 */
export function installPushHandlers(scope, ctx) {
  scope.addEventListener('push', (/** @type {any} */ event) => {
    event.waitUntil(handlePush(ctx, parsePushPayload(event.data)));
  });
  scope.addEventListener('notificationclick', (/** @type {any} */ event) => {
    event.waitUntil(handleNotificationClick(ctx, event.notification));
  });
  scope.addEventListener('pushsubscriptionchange', (/** @type {any} */ event) => {
    event.waitUntil(handleSubscriptionChange(ctx, event.newSubscription));
  });
}
