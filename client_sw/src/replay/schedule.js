// When the page replays the outbox itself. Normally Background Sync in the service worker
// delivers queued writes; the page arms it after a write, replays when that API is missing,
// steps in when it has not emptied the outbox after a while, and replays once a 429's wait
// is over. Replays started here are merged: one runs at a time, plus one follow-up.

import { DEFAULT_DB_NAME } from '../local/db.js';
import { RateLimitError } from '../net/rate.js';
import { countOutbox } from './outbox.js';
import { replayOutbox } from './replay.js';

export const DEFAULT_SYNC_TAG = 'syncserver-outbox';

/**
 * @typedef {object} ReplayScheduleOptions
 * @property {IDBDatabase} db
 * @property {string} url
 * @property {import('../local/notify.js').Notifier} notifier
 * @property {string} source  who replays, e.g. `page:<client id>`
 * @property {import('../net/auth.js').TokenSource} tokens
 * @property {{dbName?: string, user?: string, syncTag?: string, serviceWorker?: boolean, fallbackReplayMs?: number}} options
 *   the client's options that matter here
 * @property {() => boolean} closed  the client was closed: arm nothing more
 */

export class ReplaySchedule {
  /** @param {ReplayScheduleOptions} deps */
  constructor(deps) {
    this.deps = deps;
    this.db = deps.db;
    this.options = deps.options;
    /** @type {Promise<unknown> | null} the page's replay in flight, if any */
    this.running = null;
    this.again = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.fallbackTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} replays once a push's wait is over */
    this.limitTimer = undefined;
  }

  /** The Background Sync tag: the default one for the default database, else naming it. */
  syncTag() {
    const tag = this.options.syncTag ?? DEFAULT_SYNC_TAG;
    return this.db.name === (this.options.dbName ?? DEFAULT_DB_NAME) && !this.options.user ? tag : `${tag}:${this.db.name}`;
  }

  /**
   * The registration whose worker replays for us, when Background Sync is usable.
   * @returns {Promise<ServiceWorkerRegistration | null>}
   */
  async backgroundSync() {
    if (this.options.serviceWorker === false) return null;
    if (!('SyncManager' in globalThis)) return null;
    const registration = await globalThis.navigator?.serviceWorker?.getRegistration();
    // @ts-ignore: `sync` is not in every DOM typing yet
    return registration?.active && registration.sync ? registration : null;
  }

  /** After a write: arm Background Sync, or replay from this page. */
  async schedule() {
    const registration = await this.backgroundSync().catch(() => null);
    if (registration) {
      try {
        // @ts-ignore: see backgroundSync()
        await registration.sync.register(this.syncTag());
        this.armFallback();
        return;
      } catch { /* e.g. permission denied: replay here instead */ }
    }
    if (globalThis.navigator?.onLine !== false) this.flush().catch(() => {});
  }

  /**
   * Deliver what is queued when the page starts or the network returns. On start,
   * Background Sync is re-armed (an earlier registration may have used up its retries);
   * on `online` the browser fires a pending sync by itself, and registering again while
   * that event runs would make it fire a second time, so only the fallback replays here.
   * After the server answers again following trouble, it re-arms like a start.
   * @param {'start' | 'online'} reason
   */
  async kick(reason) {
    try {
      if ((await countOutbox(this.db)) === 0) return;
      if (reason === 'start') this.schedule();
      else if (await this.backgroundSync()) this.armFallback();
      else this.flush().catch(() => {});
    } catch { /* the next write or start tries again */ }
  }

  /**
   * Browsers back off Background Sync retries for minutes after a failure; if the outbox is
   * still not empty after a while online, the page replays it itself (under the same lock).
   */
  armFallback() {
    clearTimeout(this.fallbackTimer);
    this.fallbackTimer = setTimeout(async () => {
      if (globalThis.navigator?.onLine === false) return;
      if ((await countOutbox(this.db)) > 0) this.flush().catch(() => {});
    }, this.options.fallbackReplayMs ?? 15000);
  }

  /** @param {number} until  replay from this page then, if writes still wait */
  at(until) {
    if (this.deps.closed()) return;
    clearTimeout(this.limitTimer);
    this.limitTimer = setTimeout(async () => {
      if (!this.deps.closed() && (await countOutbox(this.db).catch(() => 0)) > 0) this.flush().catch(() => {});
    }, Math.max(0, until - Date.now()));
  }

  /**
   * Replay the outbox from this page now. Calls made while a replay runs are merged into
   * one follow-up run, so writes made meanwhile are sent too.
   * @returns {Promise<unknown>}
   */
  flush() {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const { db, url, notifier, source, tokens } = this.deps;
    const run = async () => {
      try {
        do {
          this.again = false;
          await replayOutbox({ db, url, notifier, source, tokens });
        } while (this.again);
      } catch (error) {
        // Inside a wait stored by a 429 this page did not see (another session, the
        // worker's before this page opened): replay when it is over.
        if (error instanceof RateLimitError) this.at(error.limit.until);
        throw error;
      } finally {
        this.running = null;
      }
    };
    this.running = run();
    return this.running;
  }

  stop() {
    clearTimeout(this.fallbackTimer);
    clearTimeout(this.limitTimer);
  }
}
