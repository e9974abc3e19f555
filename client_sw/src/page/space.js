// One space of a page client: `sync.space(name)`. Its collections read and write in that
// space, its status says how that space is doing (its subscription, its queued writes), and
// its events are the client's events about that space.

import { countSpaceOutbox } from '../replay/outbox.js';
import { Collection } from './collection.js';
import { Emitter } from './events.js';

/**
 * A write or a space the client refuses before anything is queued: `forbidden` (the space
 * is read-only for the token, mode `r`, or no longer followed: revoked) or `not_followed`
 * (`sync.space(name)` of a space the client does not follow).
 */
export class SpaceError extends Error {
  /**
   * @param {'forbidden' | 'not_followed'} code
   * @param {string} space
   * @param {'r' | 'rw' | undefined} mode  the token's mode for the space, when known
   * @param {string} message
   */
  constructor(code, space, mode, message) {
    super(message);
    this.name = 'SpaceError';
    this.code = code;
    this.space = space;
    this.mode = mode;
  }
}

/**
 * What a space handle needs of its client (page/sync-client.js).
 * @typedef {import('./sync-client.js').SyncClient} SpaceHost
 */

export class Space {
  /**
   * @param {SpaceHost} client
   * @param {string} name
   */
  constructor(client, name) {
    this.client = client;
    this.name = name;
    /** @type {import('./sync-client.js').SyncStatus} */
    this.status = client.spaceStatus(name);
    this.statusEvents = new Emitter();
  }

  /** @returns {'r' | 'rw' | undefined} the token's mode for this space (undefined: not known, or not followed) */
  get mode() { return this.client.following.modeOf(this.name); }

  /** @returns {boolean} whether the client follows this space now (false once it was revoked or unfollowed) */
  get followed() { return this.client.following.has(this.name); }

  /**
   * @param {string} name
   * @returns {Collection}
   */
  collection(name) { return new Collection(this.client, name, this.name); }

  /** @returns {Promise<number>} this space's writes still waiting for the server */
  pending() { return countSpaceOutbox(this.client.db, this.name); }

  /**
   * Listen to the client's events about this space: `status` (this space's), `change` (its
   * records only), `conflict`, `merged`, `rejected`, `resync`, `space-added`,
   * `space-revoked`; other events are the client's own.
   * @param {string} type
   * @param {(event: any) => void} fn
   * @returns {() => void} unsubscribe
   */
  on(type, fn) {
    if (type === 'status') return this.statusEvents.on(type, fn);
    return this.client.on(type, (event) => {
      const mine = aboutSpace(event, this.name);
      if (mine !== null) fn(mine);
    });
  }

  /** @param {import('./sync-client.js').SyncStatus} status */
  setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    this.statusEvents.emit('status', status);
  }
}

/**
 * The part of a client event about one space, or null when it is about others only.
 * @param {any} event
 * @param {string} space
 * @returns {any}
 */
function aboutSpace(event, space) {
  if (event === null || typeof event !== 'object') return event;
  if (Array.isArray(event.records)) {
    const records = event.records.filter((/** @type {{space: string}} */ r) => r.space === space);
    return records.length ? { ...event, records } : null;
  }
  if (event.mutation) return event.mutation.space === space ? event : null;
  if (typeof event.space === 'string') return event.space === space ? event : null;
  return event;
}
