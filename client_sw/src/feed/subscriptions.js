// The live feed's subscriptions, one per space, on its one socket (feed/ws.js owns the
// socket: connect, hello, reconnects, pings). Each space has its own state, its subscribe
// frame from its own stored cursor, and its own retries when the server refuses it or makes
// it start over, so that one space's trouble never closes the socket of the others.

import { resetSpace, startCursor } from '../local/store.js';

/**
 * One space's subscription.
 * @typedef {object} Subscription
 * @property {'waiting' | 'catching-up' | 'live'} state  waiting: not subscribed on the socket
 *   (not yet, or again later after the server refused the subscribe)
 * @property {string} cursor  the cursor of its last subscribe, to tell a bad stored cursor from a bad server
 * @property {number} attempt  refusals of this space in a row, for its own backoff
 * @property {ReturnType<typeof setTimeout> | undefined} timer  its next subscribe
 */

/**
 * @typedef {object} SubscriptionsOptions
 * @property {IDBDatabase} db
 * @property {string[]} [collections]  the same filter for every space
 * @property {number} [maxBackoffMs]
 * @property {(event: import('./pull.js').ResyncEvent) => void} [onResync]
 * @property {(space: string) => void} spaceChanged  a space's state changed
 * @property {() => void} changed  a space was added, removed, or changed state
 */

export class Subscriptions {
  /**
   * @param {string[]} spaces
   * @param {SubscriptionsOptions} options
   */
  constructor(spaces, options) {
    this.options = options;
    /** @type {Map<string, Subscription>} */
    this.subs = new Map(spaces.map((space) => [space, newSubscription()]));
    /** @type {WebSocket | null} the socket whose hello was sent: subscribes go there */
    this.socket = null;
  }

  /** @returns {string[]} */
  names() { return [...this.subs.keys()]; }

  /** @param {string} space */
  get(space) { return this.subs.get(space); }

  /** Every space caught up (true when there is none). */
  allLive() { return [...this.subs.values()].every((sub) => sub.state === 'live'); }

  /**
   * @param {string} space
   */
  add(space) {
    if (this.subs.has(space)) return;
    this.subs.set(space, newSubscription());
    if (this.socket) this.subscribe(space);
    this.options.changed();
  }

  /**
   * @param {string} space
   * @param {boolean} ended  the server ended the subscription already: no unsubscribe
   */
  remove(space, ended) {
    const sub = this.subs.get(space);
    if (!sub) return;
    clearTimeout(sub.timer);
    this.subs.delete(space);
    if (!ended && this.socket?.readyState === 1) this.socket.send(JSON.stringify({ type: 'unsubscribe', space }));
    this.options.changed();
  }

  /**
   * The socket's hello went out: subscribe every space, in one burst, from the cursors read
   * for it (and the spaces added meanwhile from theirs).
   * @param {WebSocket} socket
   * @param {Map<string, {cursor: string}>} starts
   */
  open(socket, starts) {
    this.socket = socket;
    for (const [space, start] of starts) this.send(socket, space, start.cursor);
    for (const space of this.subs.keys()) if (!starts.has(space)) this.subscribe(space);
  }

  /** The socket closed: every space waits for the next one. */
  closed() {
    this.socket = null;
    for (const [space, sub] of this.subs) {
      clearTimeout(sub.timer);
      sub.timer = undefined;
      this.set(space, 'waiting');
    }
  }

  stop() {
    for (const sub of this.subs.values()) clearTimeout(sub.timer);
    this.socket = null;
  }

  /**
   * @param {string} space
   * @param {Subscription['state']} state
   */
  set(space, state) {
    const sub = this.subs.get(space);
    if (!sub || sub.state === state) return;
    sub.state = state;
    this.options.spaceChanged(space);
  }

  /**
   * Subscribe one space on the open socket from its stored cursor.
   * @param {string} space
   */
  async subscribe(space) {
    const socket = this.socket;
    if (!socket) return;
    let start;
    try {
      start = await startCursor(this.options.db, space, this.options.collections);
    } catch {
      return; // the database is closing; the next connect subscribes it
    }
    if (start.resync) this.options.onResync?.({ space, code: start.resync, dropped: start.dropped });
    if (socket !== this.socket || !this.subs.has(space)) return;
    this.send(socket, space, start.cursor);
    this.options.changed();
  }

  /**
   * @param {WebSocket} socket
   * @param {string} space
   * @param {string} cursor
   */
  send(socket, space, cursor) {
    const sub = this.subs.get(space);
    if (!sub) return;
    clearTimeout(sub.timer);
    sub.timer = undefined;
    sub.cursor = cursor;
    /** @type {Record<string, unknown>} */
    const subscribe = { type: 'subscribe', space, cursor };
    if (this.options.collections?.length) subscribe.collections = this.options.collections;
    socket.send(JSON.stringify(subscribe));
    this.set(space, 'catching-up');
  }

  /**
   * The space caught up.
   * @param {string} space
   */
  synced(space) {
    const sub = this.subs.get(space);
    if (!sub) return;
    sub.attempt = 0;
    this.set(space, 'live');
    this.options.changed();
  }

  /**
   * Subscribe a space again later on the same socket (its subscribe was refused), after its
   * own backoff (jittered, growing while it is refused) or the wait the server asked for.
   * @param {string} space
   * @param {number} [atLeastMs]
   */
  retryLater(space, atLeastMs) {
    const sub = this.subs.get(space);
    if (!sub) return;
    const cap = this.options.maxBackoffMs ?? 30000;
    const base = Math.min(cap, 500 * 2 ** sub.attempt);
    sub.attempt += 1;
    this.set(space, 'waiting');
    clearTimeout(sub.timer);
    sub.timer = setTimeout(() => {
      sub.timer = undefined;
      this.subscribe(space);
    }, Math.max(base / 2 + Math.random() * (base / 2), atLeastMs ?? 0));
    this.options.changed();
  }

  /**
   * The server says the space's cursor cannot be resumed (`resync_required`, `bad_cursor`):
   * drop its confirmed copy and every cursor of it (queued writes stay) and subscribe it
   * from the empty cursor. From the empty cursor that cannot happen; if it does, the space
   * backs off instead of looping.
   * @param {string} space
   * @param {string} code
   */
  async startOver(space, code) {
    const sub = this.subs.get(space);
    if (!sub) return;
    if (sub.cursor === '') {
      this.retryLater(space);
      return;
    }
    const dropped = await resetSpace(this.options.db, space);
    this.options.onResync?.({ space, code, dropped });
    this.set(space, 'waiting');
    await this.subscribe(space);
  }
}

/** @returns {Subscription} */
function newSubscription() {
  return { state: 'waiting', cursor: '', attempt: 0, timer: undefined };
}
