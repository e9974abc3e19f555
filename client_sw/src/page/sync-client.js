// The page API: a local database per app, the spaces it follows (one, a list, or what the
// token grants), collections with put/patch/delete/get/query, events, the live feed (one
// socket for every space) and the pull fallback. Writes never wait for the network: they
// land in IndexedDB and the outbox (one for every space), and a replay (Background Sync in
// the service worker, or this page where that API is missing) delivers them.

import { pollFeed, pullOnce } from '../feed/poll.js';
import { LiveFeed } from '../feed/ws.js';
import { DEFAULT_DB_NAME, getClientId, openDatabase, userDatabaseName, wipeDatabase } from '../local/db.js';
import { createNotifier } from '../local/notify.js';
import { fetchWithToken, pageTokens, readPause, writePause } from '../net/auth.js';
import { endpoint } from '../net/endpoint.js';
import { ServerWatch } from '../net/reach.js';
import { withReplayLock } from '../replay/lock.js';
import { getRecord } from '../local/store.js';
import { clearConflicts, clearDeadLetters, countOutbox, countOutboxBySpace, enqueueWrite, isAppVersion, listConflicts, listDeadLetters } from '../replay/outbox.js';
import { readRefusal, writeRefusal } from '../replay/refusal.js';
import { DEFAULT_SYNC_TAG, ReplaySchedule } from '../replay/schedule.js';
import { DeclaredCollections } from './declared.js';
import { Emitter, relay } from './events.js';
import { Following, followedBy } from './follow.js';
import { PushControl } from './push.js';
import { Space, SpaceError } from './space.js';
import { clientStatus, spaceStatus } from './status.js';
import { AppVersions } from './versions.js';

export { DEFAULT_SYNC_TAG };

/** @typedef {import('../local/store.js').LocalRecord} LocalRecord */
/** @typedef {import('../local/notify.js').SyncMessage} SyncMessage */
/** @typedef {import('./status.js').SyncStatus} SyncStatus */

/**
 * @typedef {object} SyncClientOptions
 * @property {string} [space]  the one space this client reads and writes
 * @property {string[] | 'token'} [spaces]  the spaces it follows instead: these names, or
 *   'token': every space GET /v1/spaces lists for the token, read again after each refresh
 * @property {string} [url]  base URL of the sync server; default: this origin
 * @property {string[]} [collections]  restrict the feed to these collections
 * @property {string} [dbName]  IndexedDB database name (with `user`: the prefix of it); the
 *   service worker must use the same
 * @property {string} [user]  a key of the signed-in user: the database is that user's own
 *   (`<dbName>~<user>`), so two users of one device never share an outbox
 * @property {import('../net/auth.js').TokenOption} [token]  bearer token, or an (async) function
 *   returning one, called on first use and again after each 401
 * @property {boolean} [serviceWorker]  hand replays to Background Sync when available (default true)
 * @property {string} [syncTag]
 * @property {boolean} [live]  open the WebSocket feed (default true); false: long-poll over HTTP
 * @property {number} [pollWaitSeconds]  long-poll wait when `live` is false (default 20)
 * @property {number} [fallbackReplayMs]  replay from the page when Background Sync has not
 *   emptied the outbox after this long while online (default 15000)
 * @property {number} [appVersion]  the app's schema version (a whole number from 1): every
 *   write is stamped with it, and the server upgrades the data of older versions or
 *   refuses versions it no longer takes (`upgraderequired`); none: writes go unstamped
 *   (the server reads 1)
 */

/**
 * Create a client and start syncing.
 * @param {SyncClientOptions} options
 * @returns {Promise<SyncClient>}
 */
export async function createSyncClient(options) {
  followedBy(options); // bad options fail before anything is opened
  if (options.appVersion !== undefined && !isAppVersion(options.appVersion)) {
    throw new TypeError(`appVersion must be a whole number from 1 (the app's schema version), not ${options.appVersion}`);
  }
  const db = await openDatabase({ name: databaseNameOf(options) });
  const client = new SyncClient(db, await getClientId(db), options);
  await client.start();
  return client;
}

/**
 * The database a client's options open: `dbName` (default 'syncserver'), per user when
 * `user` is given.
 * @param {{dbName?: string, user?: string}} options
 * @returns {string}
 */
export function databaseNameOf(options) {
  const base = options.dbName ?? DEFAULT_DB_NAME;
  return options.user ? userDatabaseName(options.user, base) : base;
}

export class SyncClient extends Emitter {
  /**
   * @param {IDBDatabase} db
   * @param {string} clientId
   * @param {SyncClientOptions} options
   */
  constructor(db, clientId, options) {
    super();
    this.db = db;
    this.clientId = clientId;
    this.url = options.url ?? '/';
    this.options = options;
    this.notifier = createNotifier(db.name);
    /** @type {SyncStatus} */
    this.status = 'online';
    this.pending = 0;
    /** @type {Map<string, number>} queued writes per space (spaces with none left out) */
    this.pendingBySpace = new Map();
    /** @type {Map<string, Space>} */
    this.handles = new Map();
    this.started = false;
    /** what the last request to the server said about reaching it (see net/reach.js) */
    this.watch = new ServerWatch({
      changed: () => this.updateStatus(),
      // Background Sync may wait minutes after a failure: deliver from this page.
      retry: async () => { if ((await countOutbox(this.db)) > 0) await this.flush(); },
      recovered: () => { if (!this.closed) this.replays.kick('start'); },
    });
    /** @type {import('../feed/ws.js').FeedState} */
    this.feedState = 'closed';
    /** sources (this page, the worker) currently replaying, with their give-up timers */
    /** @type {Map<string, ReturnType<typeof setTimeout>>} */
    this.replaying = new Map();
    this.pulling = false;
    this.leaving = false; // logout() is under way: start no more pulls
    /** @type {Promise<void> | undefined} the HTTP pull in flight, if any */
    this.pullDone = undefined;
    this.closed = false;
    /** @type {LiveFeed | null} */
    this.feed = null;
    /** @type {Array<() => void>} */
    this.cleanups = [];
    this.tokens = pageTokens(options.token, db, () => this.tokenChanged());
    /** the spaces followed (page/follow.js) */
    this.following = new Following(this, options);
    /** the one space of a client made with `space`; null: it follows many */
    /** @type {string | null} */
    this.only = this.following.how === 'one' ? /** @type {string} */ (options.space) : null;
    /** @type {(() => void) | null} wakes the long-poll loop after an auth pause */
    this.wakePoll = null;
    /** a 429 asked to wait until then (ms since the epoch): no pulls before it */
    this.limitedUntil = 0;
    /** when this page replays the outbox itself (see replay/schedule.js) */
    this.replays = new ReplaySchedule({
      db, url: this.url, notifier: this.notifier, source: `page:${clientId}`, tokens: this.tokens, options,
      closed: () => this.closed,
    });
    /** Web Push: the subscription registered for the spaces followed (page/push.js) */
    this.push = new PushControl(this);
    /** the app's version and what the server says of it (page/versions.js) */
    this.versions = new AppVersions(this, options.appVersion);
    /** the declared collections writes are checked against (page/declared.js) */
    this.declarations = new DeclaredCollections(this);
  }

  /** @returns {number | undefined} the app version every write is stamped with */
  get appVersion() { return this.versions.version; }

  /** @returns {import('./versions.js').UpgradeRequired | null} set once the server refused this app's version */
  get upgradeRequired() { return this.versions.required; }

  /** @returns {string[]} the spaces this client follows now */
  get spaces() { return this.following.names(); }

  /**
   * One space this client follows: its collections, status and queued writes.
   * @param {string} name
   * @returns {Space}
   */
  space(name) {
    if (!this.following.has(name)) {
      throw new SpaceError('not_followed', name, undefined, `this client does not follow space '${name}' (its spaces: ${this.spaces.join(', ') || 'none'})`);
    }
    let handle = this.handles.get(name);
    if (!handle) {
      handle = new Space(this, name);
      this.handles.set(name, handle);
    }
    return handle;
  }

  /**
   * A collection of the client's one space (a client made with `space`).
   * @param {string} name
   */
  collection(name) {
    if (this.only === null) {
      throw new TypeError(`this client follows several spaces: use sync.space(name).collection('${name}')`);
    }
    return this.space(this.only).collection(name);
  }

  /**
   * Follow one more space (a client made with a `spaces` list): subscribed and synced.
   * @param {string} name
   */
  async follow(name) {
    await this.following.follow(name);
    this.push.check();
  }

  /**
   * Stop following a space (a client made with a `spaces` list). Its local data stays (a
   * later follow() resumes from its cursor), its queued writes are still delivered.
   * @param {string} name
   */
  unfollow(name) {
    this.following.unfollow(name);
    this.push.check();
  }

  /**
   * Receive push messages on this device: ask the user's permission (the browser's prompt,
   * unless answered before), subscribe with the server's key and register the subscription
   * for the spaces this client follows; it follows them from then on. Call it from a user
   * action (a "Notify me" button), never on first visit. Rejects with a PushError
   * (`unsupported`, `denied`, `dismissed`, `disabled`, `subscribe_failed`, `server`).
   * @param {import('./push.js').EnablePushOptions} [options]
   * @returns {Promise<import('./push.js').PushEnabled>}
   */
  enablePush(options) { return this.push.enable(options); }

  /**
   * Stop push messages on this device: unsubscribe the browser and delete the registration
   * on the server (a PushError `server` when it could not be told; the browser's side is
   * undone anyway).
   * @returns {Promise<void>}
   */
  disablePush() { return this.push.disable(); }

  /** @returns {Promise<boolean>} whether push is enabled for this client on this device */
  pushEnabled() { return this.push.enabled(); }

  async start() {
    this.cleanups.push(this.notifier.listen((message) => this.onMessage(message)));
    // Failures seen while offline say nothing about the server: judge it afresh.
    const onOnline = () => {
      this.watch.forget(); this.feed?.reconnectNow(); this.replays.kick('online'); this.updateStatus();
      this.declarations.refresh();
    };
    const onOffline = () => this.updateStatus();
    globalThis.addEventListener?.('online', onOnline);
    globalThis.addEventListener?.('offline', onOffline);
    this.cleanups.push(() => {
      globalThis.removeEventListener?.('online', onOnline);
      globalThis.removeEventListener?.('offline', onOffline);
    });
    await this.following.start();
    await this.versions.start();
    await this.declarations.start();
    // The spaces followed may have changed since push was enabled (another list, grants),
    // or the browser replaced its subscription: register again (in the background).
    const pushCheck = () => { this.push.check(); };
    this.cleanups.push(this.on('space-added', pushCheck), this.on('space-revoked', pushCheck));
    this.push.check();
    await this.refreshPending();
    // A batch refused by an earlier session (replay/refusal.js): the app or the server may have
    // been updated since, and one replay tells whether the refusal still holds.
    await writeRefusal(this.db, undefined);
    if (this.options.token !== undefined) {
      // A token given at start is the app providing one: store it for the worker and lift
      // a pause left by an earlier session (one attempt tells whether it still holds).
      await this.tokens.get().catch(() => undefined);
      await writePause(this.db, undefined);
    }
    if (this.options.live !== false) {
      this.feed = new LiveFeed({
        db: this.db, url: this.url, spaces: this.following.names(), collections: this.options.collections,
        clientId: this.clientId,
        onChanges: (records) => this.notifier.post({ type: 'change', records, origin: 'remote' }),
        onState: (state) => this.onFeedState(state),
        onSpaceState: () => this.updateStatus(),
        onForbidden: this.only === null ? (space) => this.spaceForbidden(space, '') : undefined,
        onResync: (event) => this.onResync(event),
        tokens: this.tokens,
        onAuth: (pause) => this.emit('auth', pause),
        onLimited: (limit) => this.rateLimited({ ...limit, request: 'feed' }),
        onTrouble: (failure) => this.requestFailed(failure),
      });
      this.feed.start();
    } else {
      pollFeed(this);
    }
    this.replays.kick('start');
    this.started = true;
    this.updateStatus();
    this.versions.started();
  }

  /** The token changed (a refresh, setToken, resume): a client of many spaces follows it. */
  tokenChanged() {
    if (!this.started || this.only !== null || this.closed) return;
    // The socket hears the new token first, so that a space granted by it is subscribed
    // with it; then the list of spaces is read again.
    this.feed?.reauth();
    this.following.refresh();
  }

  /**
   * The server refused reading a space (`forbidden` on the socket or a pull): revoked.
   * @param {string} space
   * @param {string} detail
   */
  spaceForbidden(space, detail) { this.following.forbidden(space, detail); }

  /** Replay the outbox: Background Sync, or this page. */
  schedule() { return this.replays.schedule(); }

  /**
   * @param {import('../replay/outbox.js').WriteRequest} write
   * @returns {Promise<LocalRecord | null>}
   */
  async write(write) {
    this.following.checkWritable(write.space);
    const check = this.declarations.checkerFor(write); // an undeclared collection throws here
    const stamped = this.appVersion === undefined ? write : { ...write, app_version: this.appVersion };
    const { record } = await enqueueWrite(this.db, stamped, undefined, check);
    this.notifier.post({ type: 'change', records: [{ space: write.space, collection: write.collection, id: write.id }], origin: 'local' });
    await this.refreshPending();
    this.replays.schedule();
    return record && !record.deleted ? getRecord(this.db, write.space, write.collection, write.id) : null;
  }

  /** @returns {import('../net/collections.js').Declaration | null} what the server declares of its collections, as last heard (null: not yet) */
  get declaration() { return this.declarations.current; }

  /**
   * Ask GET /v1/collections again now; the client does by itself at start, when the
   * browser comes online and each time the socket goes live.
   * @returns {Promise<void>}
   */
  refreshCollections() { return this.declarations.refresh(); }

  /**
   * What another context (or this one) reports on the channel, turned into events.
   * @param {SyncMessage} message
   */
  onMessage(message) { relay(this, message); }

  /**
   * The local copy of the space was dropped to start over (410 resync_required, 400
   * bad_cursor, or the schema upgrade that could not trust the old cursor). Every tab hears
   * of it; the views of the dropped records changed (queued writes stay on top).
   * @param {import('../feed/pull.js').ResyncEvent} event
   */
  onResync(event) {
    this.notifier.post({ type: 'resync', space: event.space, code: event.code, dropped: event.dropped.length });
    if (event.dropped.length) this.notifier.post({ type: 'change', records: event.dropped, origin: 'remote' });
  }

  /** @param {import('../feed/ws.js').FeedState} state */
  onFeedState(state) {
    this.feedState = state;
    if (this.closed || this.leaving) return;
    // The socket opened: the server is there. A socket that closes or never opens is judged
    // by the HTTP pull that follows (its status code says more than a close event does).
    // After a subscription ended on the server's trouble, only a catch-up that completes
    // says the trouble is over (an open socket alone would make the status flicker).
    if (state === 'live' || (state === 'catching-up' && !this.feed?.failing)) this.serverAnswered();
    // The list of spaces could not be read (offline start, the server away): now it can.
    if (state === 'live' && this.following.stale && this.started) this.following.refresh();
    // A (re)connected socket may be a restarted server with another collections file.
    if (state === 'live' && this.started) this.declarations.refresh();
    // While the socket is down, keep the view fresh with HTTP pulls on the same cursor.
    if (state === 'closed' && globalThis.navigator?.onLine !== false) this.pull().catch(() => {});
    this.updateStatus();
  }

  /**
   * The server's per-user limit answered 429 (a push here or in another context, a pull, the
   * feed): tell the app, hold pulls until the wait is over, and replay from this page then
   * (Background Sync would wait minutes after the failed sync).
   * @param {import('../net/rate.js').RateLimit & {request: 'push' | 'pull' | 'feed', type?: string, source?: string}} limit
   */
  rateLimited(limit) {
    const { type, source, ...event } = limit;
    this.limitedUntil = Math.max(this.limitedUntil, limit.until);
    this.emit('rate-limited', event);
    if (limit.request === 'push') this.replays.at(limit.until);
  }

  /**
   * Pull the feed over HTTP once (catch-up without the WebSocket).
   * @returns {Promise<void>}
   */
  pull() { return pullOnce(this); }

  async refreshPending() {
    const pending = await countOutbox(this.db);
    if (this.only === null) this.pendingBySpace = pending ? await countOutboxBySpace(this.db) : new Map();
    if (pending !== this.pending) {
      this.pending = pending;
      this.emit('pending', pending);
    }
    this.updateStatus();
  }

  /** @param {import('../net/reach.js').RequestFailure} failure */
  requestFailed(failure) { this.watch.failed(failure); }

  serverAnswered() { this.watch.answered(); }

  /** @returns {import('../net/reach.js').ServerTrouble | null} */
  get trouble() { return this.watch.trouble; }

  updateStatus() {
    const status = clientStatus(this);
    if (status !== this.status) {
      this.status = status;
      this.emit('status', status);
    }
    for (const handle of this.handles.values()) handle.setStatus(this.spaceStatus(handle.name));
  }

  /**
   * @param {string} space
   * @returns {SyncStatus}
   */
  spaceStatus(space) { return spaceStatus(this, space); }

  /** Replay the outbox from this page now (merged with a replay in flight). */
  flush() { return this.replays.flush(); }

  /** @returns {Promise<import('../replay/outbox.js').DeadLetter[]>} */
  deadLetters() { return listDeadLetters(this.db); }

  /** @param {number[]} [mids] */
  async clearDeadLetters(mids) { await clearDeadLetters(this.db, mids); }

  /** @returns {Promise<import('../replay/outbox.js').ConflictLogEntry[]>} */
  conflicts() { return listConflicts(this.db); }

  /** @param {number[]} [ns]  the entries' `n`; default: all */
  async clearConflicts(ns) { await clearConflicts(this.db, ns); }

  /**
   * Use another token from now on (a string or a function, as the `token` option) and lift
   * an auth pause: replay, pulls and the live feed start again.
   * @param {import('../net/auth.js').TokenOption} token
   */
  async setToken(token) {
    this.tokens.set(token);
    await this.resume();
  }

  /**
   * Lift an auth pause (after access was granted, or with a token function: it is called
   * again) and a refusal pause. Nothing else changes; the outbox is replayed from where it
   * stopped.
   */
  async resume() {
    if (this.closed) return;
    if (typeof this.tokens.option === 'function') this.tokens.set(this.tokens.option);
    await this.tokens.get();
    await writePause(this.db, undefined);
    await writeRefusal(this.db, undefined);
    if (this.only === null) {
      // Many spaces: the open socket takes the token in a new hello (its other subscriptions
      // go on), and the list of spaces is read again.
      this.feed?.reauth();
      this.following.refresh();
    } else {
      this.feed?.resumeAuth();
    }
    this.wakePoll?.();
    await this.replays.schedule();
  }

  /** @returns {Promise<import('../net/auth.js').AuthPause | undefined>} why replay is paused, if it is */
  authPaused() { return readPause(this.db); }

  /**
   * @returns {Promise<import('../replay/refusal.js').BatchRefusal | undefined>} the server's reason,
   *   when replay is paused because it refused a batch as a whole
   */
  replayRefused() { return readRefusal(this.db); }

  /**
   * A request to the sync server with the client's token (refreshed once after a 401), for
   * the endpoints the client does not call itself, e.g. `GET v1/conflicts`.
   * @param {string} path  relative to `url`, e.g. 'v1/conflicts?space=team-1'
   * @param {RequestInit} [init]
   * @returns {Promise<Response>}
   */
  request(path, init = {}) {
    return fetchWithToken(globalThis.fetch.bind(globalThis), endpoint(this.url, path), init, this.tokens);
  }

  /**
   * Sign out on this device: stop push messages (disablePush), close the socket, wipe the user's database (records, outbox,
   * dead letters, conflicts, cursors, client id, stored token), tell every tab and emit
   * 'logout'. Queued writes not yet sent are lost: check `pending` first if that matters.
   * The client is closed afterwards; create a new one for the next user.
   */
  async logout() {
    if (this.closed) return;
    // No new pull from here on (a socket that closes starts one), and wait for the one in
    // flight: a pull that stored its page after the wipe would leave a cursor behind.
    this.leaving = true;
    // While the token is still there: the server stops pushing to this device.
    await this.push.disable().catch((error) => console.warn('syncserver: the push subscription was not deleted on the server', error));
    this.feed?.stop();
    await this.replays.running?.catch(() => {});
    await this.pullDone;
    // Under the replay lock: a replay in flight (the worker's) would otherwise store its
    // push results back into the wiped database.
    await withReplayLock(this.db, () => wipeDatabase(this.db));
    // Delivered here too: every tab of this user (this one included) emits and closes.
    this.notifier.post({ type: 'logout' });
  }

  close() {
    this.closed = true;
    this.wakePoll?.();
    this.feed?.stop();
    this.replays.stop();
    this.watch.stop();
    for (const timer of this.replaying.values()) clearTimeout(timer);
    for (const cleanup of this.cleanups) cleanup();
    this.notifier.close();
    this.db.close();
  }
}
