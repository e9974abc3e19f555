// The page API: a local database per app, collections with put/patch/delete/get/query,
// events, the live feed and the pull fallback. Writes never wait for the network: they
// land in IndexedDB and the outbox, and a replay (Background Sync in the service worker,
// or this page where that API is missing) delivers them.

import { pollFeed, pullOnce } from '../feed/poll.js';
import { LiveFeed } from '../feed/ws.js';
import { DEFAULT_DB_NAME, getClientId, openDatabase, userDatabaseName, wipeDatabase } from '../local/db.js';
import { createNotifier } from '../local/notify.js';
import { fetchWithToken, pageTokens, readPause, writePause } from '../net/auth.js';
import { endpoint } from '../net/endpoint.js';
import { ServerWatch } from '../net/reach.js';
import { withReplayLock } from '../replay/lock.js';
import { clearConflicts, clearDeadLetters, countOutbox, enqueueWrite, listConflicts, listDeadLetters } from '../replay/outbox.js';
import { readRefusal, writeRefusal } from '../replay/refusal.js';
import { DEFAULT_SYNC_TAG, ReplaySchedule } from '../replay/schedule.js';
import { Collection } from './collection.js';
import { Emitter } from './events.js';

export { DEFAULT_SYNC_TAG };

/** @typedef {import('../local/store.js').LocalRecord} LocalRecord */
/** @typedef {import('../local/notify.js').SyncMessage} SyncMessage */
/**
 * offline: the browser has no network. unreachable / server-busy: it has one, but the last
 * push, pull or feed connection got no answer or a 5xx / a 503 storage_unavailable (the
 * client keeps retrying). syncing: sending or catching up. up-to-date: the feed is live and
 * nothing is queued. online: none of these (connecting, or writes queued).
 * @typedef {'offline' | 'unreachable' | 'server-busy' | 'online' | 'syncing' | 'up-to-date'} SyncStatus
 */

/**
 * @typedef {object} SyncClientOptions
 * @property {string} space  the space this client reads and writes
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
 */

/**
 * Create a client and start syncing.
 * @param {SyncClientOptions} options
 * @returns {Promise<SyncClient>}
 */
export async function createSyncClient(options) {
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
    this.space = options.space;
    this.url = options.url ?? '/';
    this.options = options;
    this.notifier = createNotifier(db.name);
    /** @type {SyncStatus} */
    this.status = 'online';
    this.pending = 0;
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
    this.tokens = pageTokens(options.token, db);
    /** @type {(() => void) | null} wakes the long-poll loop after an auth pause */
    this.wakePoll = null;
    /** a 429 asked to wait until then (ms since the epoch): no pulls before it */
    this.limitedUntil = 0;
    /** when this page replays the outbox itself (see replay/schedule.js) */
    this.replays = new ReplaySchedule({
      db, url: this.url, notifier: this.notifier, source: `page:${clientId}`, tokens: this.tokens, options,
      closed: () => this.closed,
    });
  }

  /** @param {string} name */
  collection(name) { return new Collection(this, name); }

  async start() {
    this.cleanups.push(this.notifier.listen((message) => this.onMessage(message)));
    // Failures seen while offline say nothing about the server: judge it afresh.
    const onOnline = () => { this.watch.forget(); this.feed?.reconnectNow(); this.replays.kick('online'); this.updateStatus(); };
    const onOffline = () => this.updateStatus();
    globalThis.addEventListener?.('online', onOnline);
    globalThis.addEventListener?.('offline', onOffline);
    this.cleanups.push(() => {
      globalThis.removeEventListener?.('online', onOnline);
      globalThis.removeEventListener?.('offline', onOffline);
    });
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
        db: this.db, url: this.url, space: this.space, collections: this.options.collections,
        clientId: this.clientId,
        onChanges: (records) => this.notifier.post({ type: 'change', records, origin: 'remote' }),
        onState: (state) => this.onFeedState(state),
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
    this.updateStatus();
  }

  /**
   * @param {{collection: string, id: string, op: 'put' | 'patch' | 'delete', data?: any}} write
   * @returns {Promise<LocalRecord | null>}
   */
  async write(write) {
    const { record } = await enqueueWrite(this.db, { space: this.space, ...write });
    this.notifier.post({ type: 'change', records: [{ space: this.space, collection: write.collection, id: write.id }], origin: 'local' });
    await this.refreshPending();
    this.replays.schedule();
    return record && !record.deleted ? (await this.collection(write.collection).get(write.id)) : null;
  }

  /** @param {SyncMessage} message */
  onMessage(message) {
    switch (message.type) {
      case 'change':
        this.emit('change', message);
        // A write in another tab changes the outbox too.
        if (message.origin === 'local') this.refreshPending();
        break;
      case 'conflict': this.emit('conflict', { ...message, record: message.result.record }); break;
      case 'merged': this.emit('merged', { ...message, record: message.result.record }); break;
      case 'rejected': this.emit('rejected', message); break;
      case 'refused': {
        const { type, source, ...refusal } = message;
        this.emit('refused', refusal);
        break;
      }
      case 'resync': if (message.space === this.space) this.emit('resync', message); break;
      case 'auth': {
        const { type, source, ...pause } = message;
        this.emit('auth', pause);
        break;
      }
      case 'logout':
        if (!this.closed) {
          this.emit('logout', { dbName: this.db.name });
          this.close();
        }
        break;
      case 'outbox': this.refreshPending(); break;
      case 'rate-limited': this.rateLimited(message); break;
      case 'replay':
        if (message.state === 'start') {
          clearTimeout(this.replaying.get(message.source));
          // A worker stopped mid-replay never says 'done'; do not show 'syncing' forever.
          this.replaying.set(message.source, setTimeout(() => {
            this.replaying.delete(message.source);
            this.updateStatus();
          }, 60000));
        } else {
          clearTimeout(this.replaying.get(message.source));
          this.replaying.delete(message.source);
          // The worker's failures count too: it is who pushes when Background Sync runs.
          if (message.state === 'done') this.serverAnswered();
          else this.requestFailed(message);
        }
        this.emit('replay', message);
        this.updateStatus();
        break;
    }
  }

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

  /** Pull the feed over HTTP once (catch-up without the WebSocket). */
  pull() { return pullOnce(this); }

  async refreshPending() {
    const pending = await countOutbox(this.db);
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
    /** @type {SyncStatus} */
    let status;
    if (globalThis.navigator?.onLine === false) status = 'offline';
    else if (this.trouble === 'unreachable') status = 'unreachable';
    else if (this.trouble === 'busy') status = 'server-busy';
    else if (this.replaying.size > 0 || this.pulling || this.feedState === 'catching-up') status = 'syncing';
    else if (this.pending === 0 && (this.feedState === 'live' || this.options.live === false)) status = 'up-to-date';
    else status = 'online';
    if (status !== this.status) {
      this.status = status;
      this.emit('status', status);
    }
  }

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
    this.feed?.resumeAuth();
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
   * Sign out on this device: close the socket, wipe the user's database (records, outbox,
   * dead letters, conflicts, cursors, client id, stored token), tell every tab and emit
   * 'logout'. Queued writes not yet sent are lost: check `pending` first if that matters.
   * The client is closed afterwards; create a new one for the next user.
   */
  async logout() {
    if (this.closed) return;
    // No new pull from here on (a socket that closes starts one), and wait for the one in
    // flight: a pull that stored its page after the wipe would leave a cursor behind.
    this.leaving = true;
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
