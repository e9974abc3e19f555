// The live feed over WS /v1/ws. It lives in the page, not the service worker: a worker is
// stopped when idle and cannot keep a socket open. Every (re)connect subscribes from the
// stored cursor, so a dropped connection resumes exactly where it stopped.

import { setCursor } from '../local/db.js';
import { applyRemoteChanges, resetSpace, startCursor } from '../local/store.js';
import { endpoint } from '../net/endpoint.js';
import { waitMs } from '../net/rate.js';

/** @typedef {'connecting' | 'catching-up' | 'live' | 'closed'} FeedState */

/**
 * @typedef {object} LiveFeedOptions
 * @property {IDBDatabase} db
 * @property {string} url  base URL of the sync server (http(s); the ws(s) URL is derived)
 * @property {string} space
 * @property {string[]} [collections]
 * @property {string} clientId
 * @property {(changed: Array<{space: string, collection: string, id: string}>) => void} onChanges
 * @property {(state: FeedState) => void} [onState]
 * @property {(event: import('./pull.js').ResyncEvent) => void} [onResync]  the space was dropped to start over
 * @property {typeof WebSocket} [WebSocket]
 * @property {number} [pingMs]
 * @property {number} [maxBackoffMs]
 * @property {import('../net/auth.js').TokenSource} [tokens]  the token sent in `hello`
 * @property {(pause: import('../net/auth.js').AuthPause) => void} [onAuth]  the server refused the
 *   token (close 4401, after one refresh) or the space (`forbidden`); no reconnect until resumeAuth()
 * @property {(limit: import('../net/rate.js').RateLimit) => void} [onLimited]  the server refused
 *   the subscribe (`rate_limited`) or the connection (`too_many_connections`, close 4429);
 *   the feed reconnects once the wait is over
 * @property {(failure: import('../net/reach.js').RequestFailure) => void} [onTrouble]  the server
 *   ended the subscription on its own trouble (`storage_unavailable` as a 503,
 *   `internal_error` as a 500); the feed subscribes again after the backoff
 */

export class LiveFeed {
  /** @param {LiveFeedOptions} options */
  constructor(options) {
    this.options = options;
    /** @type {WebSocket | null} */
    this.socket = null;
    /** @type {FeedState} */
    this.state = 'closed';
    this.attempt = 0;
    this.stopped = true;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retryTimer = undefined;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.pingTimer = undefined;
    this.lastMessageAt = 0;
    // Frames are applied strictly in arrival order; IndexedDB work is asynchronous.
    /** @type {Promise<void>} */
    this.queue = Promise.resolve();
    /** the cursor of the last subscribe, to tell a bad stored cursor from a bad server */
    this.subscribedCursor = '';
    /** the token of the current socket's hello; refreshed once after a 4401 */
    /** @type {string | undefined} */
    this.token = undefined;
    this.refreshed = false;
    /** refused by the server: no reconnects until resumeAuth() */
    this.authPaused = false;
    /** a per-user limit was hit: no reconnect before this time (ms since the epoch) */
    this.notBefore = 0;
    /** the last subscription ended on the server's trouble, and none has caught up since */
    this.failing = false;
  }

  /** A new token (or a new chance for the old one): reconnect at once. */
  resumeAuth() {
    this.authPaused = false;
    this.refreshed = false;
    this.token = undefined;
    this.socket?.close(4000);
    this.reconnectNow();
  }

  /** @param {import('../net/auth.js').AuthPause} pause */
  pauseAuth(pause) {
    this.authPaused = true;
    this.options.onAuth?.(pause);
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    this.socket?.close(1000);
    this.socket = null;
    this.setState('closed');
  }

  /** Reconnect at once (e.g. the browser reported `online`), skipping the backoff. */
  reconnectNow() {
    if (this.stopped || this.authPaused) return;
    if (Date.now() < this.notBefore) return; // the reconnect already scheduled honours it
    this.attempt = 0;
    clearTimeout(this.retryTimer);
    if (this.state === 'closed') this.connect();
  }

  /** @param {FeedState} state */
  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.options.onState?.(state);
  }

  connect() {
    const { space, collections, clientId } = this.options;
    const Socket = this.options.WebSocket ?? globalThis.WebSocket;
    const url = endpoint(this.options.url, 'v1/ws').replace(/^http/, 'ws');
    this.setState('connecting');
    let socket;
    try {
      socket = new Socket(url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = async () => {
      let start;
      try {
        start = await startCursor(this.options.db, space, collections);
      } catch {
        socket.close(4000); // the database is closing (page unload, schema upgrade)
        return;
      }
      if (start.resync) this.options.onResync?.({ space, code: start.resync, dropped: start.dropped });
      if (socket !== this.socket) return;
      /** @type {Record<string, unknown>} */
      const hello = { type: 'hello', client_id: clientId };
      try {
        this.token = this.refreshed ? this.token : await this.options.tokens?.get();
      } catch {
        socket.close(4000); // the token function failed: try again after the backoff
        return;
      }
      if (socket !== this.socket) return;
      if (this.token) hello.token = this.token;
      const cursor = start.cursor;
      this.subscribedCursor = cursor;
      socket.send(JSON.stringify(hello));
      /** @type {Record<string, unknown>} */
      const subscribe = { type: 'subscribe', space, cursor };
      if (collections?.length) subscribe.collections = collections;
      socket.send(JSON.stringify(subscribe));
      this.setState('catching-up');
      this.lastMessageAt = Date.now();
      this.startPings(socket);
    };
    socket.onmessage = (event) => {
      this.lastMessageAt = Date.now();
      let message;
      try { message = JSON.parse(String(event.data)); } catch { return; }
      if (message?.type === 'error' && (message.code === 'rate_limited' || message.code === 'too_many_connections')) {
        // Handled at once, not queued behind IndexedDB work: the close that follows must
        // find the wait set. Reconnecting re-subscribes from the stored cursor.
        this.limited(socket, message);
        return;
      }
      this.queue = this.queue.then(() => this.handle(socket, message)).catch((error) => {
        console.error('syncserver: applying a feed message failed', error);
        socket.close(4000);
      });
    };
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      this.socket = null;
      clearInterval(this.pingTimer);
      this.setState('closed');
      if (event?.code === 4401) {
        this.onUnauthorized();
        return;
      }
      this.scheduleReconnect();
    };
    socket.onerror = () => { /* onclose follows and schedules the retry */ };
  }

  /**
   * @param {WebSocket} socket
   * @param {any} message
   */
  async handle(socket, message) {
    const { db, space, collections } = this.options;
    if (message.space && message.space !== space) return;
    if (message.type === 'changes') {
      const changed = await applyRemoteChanges(db, space, message.changes ?? [], message.cursor, collections);
      if (changed.length) this.options.onChanges(changed);
    } else if (message.type === 'synced') {
      if (message.cursor) await setCursor(db, space, message.cursor, collections);
      this.attempt = 0;
      this.refreshed = false;
      this.failing = false;
      this.setState('live');
    } else if (message.type === 'resync') {
      // slow_consumer: reconnect and resume from the stored cursor. resync_required: the
      // cursor is behind the horizon or of another database epoch: start over.
      if (message.code === 'resync_required') await this.startOver('resync_required');
      socket.close(4000);
    } else if (message.type === 'error' && message.code === 'forbidden') {
      // The token does not (or no longer) grant reading the space: the subscription ended.
      this.pauseAuth({ status: 403, code: 'forbidden', space });
      socket.close(4000);
    } else if (message.type === 'error' && message.space === space
      && (message.code === 'storage_unavailable' || message.code === 'internal_error')) {
      this.ended(socket, message);
    } else if (message.type === 'error' && message.code === 'bad_cursor') {
      // Not a cursor of this server. From the empty cursor this cannot happen; if it does,
      // the reconnect backoff keeps it from looping fast.
      if (this.subscribedCursor !== '') await this.startOver('bad_cursor');
      socket.close(4000);
    }
  }

  /**
   * The server ended the subscription on its own trouble (docs/protocol.md): the socket
   * stays open but nothing more comes for the space, so a page that kept it would look
   * connected and never hear another change. Report the trouble, close, and subscribe again
   * from the stored cursor after the reconnect backoff (jittered, growing until a
   * subscription catches up, capped), and not before the `retry_after` the server asked for.
   * @param {WebSocket} socket
   * @param {any} message
   */
  ended(socket, message) {
    if (message.retry_after !== undefined) {
      this.notBefore = Math.max(this.notBefore, Date.now() + waitMs(message.retry_after));
    }
    this.failing = true;
    const storage = message.code === 'storage_unavailable';
    this.options.onTrouble?.({ status: storage ? 503 : 500, code: String(message.code) });
    socket.close(4000);
  }

  /**
   * `rate_limited` (a refused subscribe: the socket is open but not subscribed) or
   * `too_many_connections` (close 4429 follows): wait at least `retry_after`, then reconnect.
   * @param {WebSocket} socket
   * @param {any} message
   */
  limited(socket, message) {
    const retryAfter = Number(message.retry_after) || 1;
    const limit = { code: String(message.code), retryAfter, until: Date.now() + waitMs(retryAfter) };
    this.notBefore = Math.max(this.notBefore, limit.until);
    this.options.onLimited?.(limit);
    socket.close(4000);
  }

  /**
   * Close 4401: ask for a new token once and reconnect with it; a second refusal (or no new
   * token) pauses the feed instead of reconnecting for ever.
   */
  async onUnauthorized() {
    const tokens = this.options.tokens;
    if (!this.refreshed && tokens) {
      this.refreshed = true;
      let fresh;
      try { fresh = await tokens.refresh(this.token); } catch { fresh = undefined; }
      if (fresh) {
        this.token = fresh;
        this.scheduleReconnect();
        return;
      }
    }
    this.pauseAuth({ status: 401, code: 'unauthorized' });
  }

  /**
   * Drop the space's confirmed copy and every cursor of it (queued writes stay); the
   * reconnect then subscribes from the empty cursor.
   * @param {string} code
   */
  async startOver(code) {
    const { db, space } = this.options;
    const dropped = await resetSpace(db, space);
    this.options.onResync?.({ space, code, dropped });
  }

  /** @param {WebSocket} socket */
  startPings(socket) {
    const every = this.options.pingMs ?? 20000;
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      // A silent connection (sleeping laptop, dead NAT entry) does not always fire close.
      if (Date.now() - this.lastMessageAt > 2.5 * every) socket.close(4000);
      else if (socket.readyState === 1) socket.send(JSON.stringify({ type: 'ping' }));
    }, every);
  }

  scheduleReconnect() {
    if (this.stopped || this.authPaused) return;
    const cap = this.options.maxBackoffMs ?? 30000;
    const base = Math.min(cap, 500 * 2 ** this.attempt);
    this.attempt += 1;
    // Jitter spreads reconnects of many clients after a server restart; a per-user limit
    // asked for a wait of its own.
    const delay = Math.max(base / 2 + Math.random() * (base / 2), this.notBefore - Date.now());
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}
