// Which spaces a page client follows, and what changes when that does. A client made with
// `space` follows that one space, as before. With `spaces: [...]` it follows the names given
// (and follow()/unfollow()); with `spaces: 'token'` it follows what GET /v1/spaces lists
// for its token, read at start and after every token refresh. In both, the modes the server
// lists (`r`, `rw`) let a write to a read-only space be refused before the outbox, and a
// space the token no longer grants (absent from the list, or `forbidden` on the socket or a
// pull) is revoked: dropped from this device (replay/revoke.js), its queued writes become
// dead letters, and `space-revoked` reaches every tab.

import { AuthError, readPause, writePause } from '../net/auth.js';
import { fetchSpaces } from '../net/spaces.js';
import { clearRevoked, readGrants, writeGrants } from '../local/spaces.js';
import { withReplayLock } from '../replay/lock.js';
import { countOutbox } from '../replay/outbox.js';
import { deadLetterSpace, revokeSpace } from '../replay/revoke.js';
import { SpaceError } from './space.js';

/** @typedef {'r' | 'rw'} SpaceMode */
/** @typedef {'one' | 'list' | 'token'} FollowHow */

/**
 * What following needs of its page client (page/sync-client.js).
 * @typedef {object} FollowHost
 * @property {IDBDatabase} db
 * @property {string} url
 * @property {import('../net/auth.js').TokenSource} tokens
 * @property {import('../local/notify.js').Notifier} notifier
 * @property {boolean} closed
 * @property {import('../feed/ws.js').LiveFeed | null} feed  the socket, if the client is live
 * @property {(() => void) | null} wakePoll  ends the wait between two pulls (not live)
 * @property {() => Promise<void>} pull  one HTTP catch-up
 * @property {(type: string, event: unknown) => void} emit
 * @property {() => void} updateStatus
 * @property {() => Promise<unknown>} schedule  replay the outbox (a pause was lifted)
 */

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * How a client's options say what it follows; throws a TypeError for options that say
 * neither or both.
 * @param {{space?: unknown, spaces?: unknown}} options
 * @returns {{how: FollowHow, names: string[]}}
 */
export function followedBy(options) {
  const { space, spaces } = options;
  if (typeof space === 'string' && spaces === undefined) return { how: 'one', names: [space] };
  if (space === undefined && spaces === 'token') return { how: 'token', names: [] };
  if (space === undefined && Array.isArray(spaces) && spaces.every((s) => typeof s === 'string' && NAME.test(s))) {
    return { how: 'list', names: [...new Set(/** @type {string[]} */ (spaces))] };
  }
  throw new TypeError("createSyncClient needs either `space` (one space name) or `spaces` (a list of space names, or 'token'), not both");
}

export class Following {
  /**
   * @param {FollowHost} host
   * @param {{space?: string, spaces?: string[] | 'token'}} options
   */
  constructor(host, options) {
    this.host = host;
    const { how, names } = followedBy(options);
    this.how = how;
    /** @type {Map<string, SpaceMode | undefined>} the spaces followed, with their modes when known */
    this.modes = new Map(names.map((name) => [name, undefined]));
    /** @type {import('../local/spaces.js').Grants | undefined} the server's last list */
    this.grants = undefined;
    /** the list was not read since the last token change (or failed): read it again when the server answers */
    this.stale = how !== 'one';
    /** @type {Promise<void> | null} */
    this.reading = null;
    this.again = false;
    /** @type {Map<string, number>} pauses settled per space, so that a disagreement cannot loop */
    this.settled = new Map();
  }

  /** @returns {string[]} */
  names() { return [...this.modes.keys()]; }

  /** @param {string} space */
  has(space) { return this.modes.has(space); }

  /**
   * @param {string} space
   * @returns {SpaceMode | undefined}
   */
  modeOf(space) { return this.modes.get(space); }

  /**
   * Refuse a write the server would refuse, before it is queued.
   * @param {string} space
   */
  checkWritable(space) {
    if (this.how === 'one') return;
    if (!this.modes.has(space)) {
      throw new SpaceError('forbidden', space, undefined,
        `space '${space}' is not followed by this client (revoked, or never followed): the write was not queued`);
    }
    if (this.modes.get(space) === 'r') {
      throw new SpaceError('forbidden', space, 'r', `space '${space}' is read-only for this token (mode r): the write was not queued`);
    }
  }

  /**
   * Before the feed starts: the list stored by the last session (modes, and what a client
   * following its token follows while offline), then the server's. Without a stored list
   * the server's is waited for (its failure leaves the client following what it has).
   */
  async start() {
    if (this.how === 'one') return;
    const { db } = this.host;
    this.grants = await readGrants(db);
    if (this.grants) {
      if (this.how === 'token') for (const space of Object.keys(this.grants.spaces)) this.modes.set(space, undefined);
      for (const space of this.names()) this.modes.set(space, this.grants.spaces[space] ?? (this.grants.sub === null ? 'rw' : undefined));
    }
    // Followed again (by the app's list, or a list read since): its feed pages count again.
    for (const space of this.names()) await clearRevoked(db, space);
    if (this.grants) this.refresh();
    else await this.refresh();
  }

  /**
   * Read GET /v1/spaces and follow what it says (coalesced: calls during a read make one
   * more read after it).
   * @returns {Promise<void>}
   */
  refresh() {
    if (this.how === 'one') return Promise.resolve();
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = (async () => {
      try {
        do {
          this.again = false;
          await this.read();
        } while (this.again && !this.host.closed);
      } finally {
        this.reading = null;
      }
    })();
    return this.reading;
  }

  async read() {
    let answer;
    try {
      answer = await fetchSpaces({ url: this.host.url, tokens: this.host.tokens });
    } catch (error) {
      this.stale = true;
      // A refused token is reported by the feed, the pulls and the replay that meet it too;
      // a server without GET /v1/spaces (older than this client) is worth a line.
      if (!(error instanceof AuthError) && /** @type {any} */ (error)?.status === 404) {
        console.warn('syncserver: the server has no GET /v1/spaces; modes and grants are not known');
      }
      return;
    }
    this.stale = false;
    if (!this.host.closed) await this.apply(answer);
  }

  /**
   * Follow what the server listed: revoke what it no longer grants, add what it grants now
   * (following the token), and keep the modes.
   * @param {import('../net/spaces.js').SpacesAnswer} answer
   */
  async apply(answer) {
    /** @type {Map<string, SpaceMode>} */
    const granted = new Map(answer.spaces.map((s) => [s.space, s.mode]));
    // Without auth the list is the spaces the server holds (each rw): a space it does not
    // list yet was never written, not taken away.
    const authOn = answer.sub !== null;
    this.grants = { sub: answer.sub, spaces: Object.fromEntries(granted), at: Date.now() };
    await writeGrants(this.host.db, this.grants);
    if (authOn) {
      for (const space of this.names()) {
        if (!granted.has(space)) await this.revoke(space, `the token no longer grants space '${space}'`);
      }
    }
    if (this.how === 'token') {
      for (const [space, mode] of granted) if (!this.modes.has(space)) await this.add(space, mode);
    }
    for (const space of this.names()) {
      const before = this.modes.get(space);
      const mode = granted.get(space) ?? (authOn ? undefined : 'rw');
      this.modes.set(space, mode);
      if (mode === 'r' && before !== 'r') {
        await this.deadLetter(space, `space '${space}' is read-only for this token (mode r): the write was not delivered`);
      }
    }
  }

  /**
   * sync.follow(name): one more space of a `spaces` list.
   * @param {string} space
   */
  async follow(space) {
    if (this.how !== 'list') throw new TypeError('follow() is for a client made with a `spaces` list');
    if (!NAME.test(space)) throw new TypeError(`bad space name: ${space}`);
    await this.add(space, this.grants?.spaces[space] ?? (this.grants?.sub === null ? 'rw' : undefined));
  }

  /**
   * sync.unfollow(name): stop following a space of a `spaces` list; its data stays.
   * @param {string} space
   */
  unfollow(space) {
    if (this.how !== 'list') throw new TypeError('unfollow() is for a client made with a `spaces` list');
    this.drop(space);
  }

  /**
   * Follow one more space (granted now, or follow()): subscribed on the socket, or pulled.
   * @param {string} space
   * @param {SpaceMode | undefined} mode
   */
  async add(space, mode) {
    if (this.modes.has(space) || this.host.closed) return;
    this.modes.set(space, mode);
    await clearRevoked(this.host.db, space);
    const { feed } = this.host;
    if (feed) {
      feed.add(space);
      if (feed.state === 'closed') this.host.pull().catch(() => {});
    } else {
      this.host.wakePoll?.();
    }
    this.host.updateStatus();
    this.host.emit('space-added', { space, mode });
  }

  /**
   * Stop following a space and keep its data (unfollow()); its queued writes still go out.
   * @param {string} space
   */
  drop(space) {
    if (!this.modes.delete(space)) return;
    this.host.feed?.remove(space);
    this.host.updateStatus();
  }

  /**
   * The server refused reading a space (`forbidden` on the socket or a pull).
   * @param {string} space
   * @param {string} detail
   */
  forbidden(space, detail) {
    this.revoke(space, detail || `the server refused reading space '${space}' (forbidden)`)
      .catch((error) => console.error(`syncserver: revoking ${space} failed`, error));
  }

  /**
   * Another tab revoked the space: its data is gone already; stop following it here.
   * @param {string} space
   */
  revokedElsewhere(space) {
    if (this.how === 'one') return; // a client of one space meets the refusal itself and pauses
    this.drop(space);
    if (this.grants?.spaces[space]) delete this.grants.spaces[space];
  }

  /**
   * The token may no longer read the space: stop following it, drop its records, cursors
   * and conflict log, turn its queued writes into dead letters (`forbidden`), and tell
   * every tab (`space-revoked`). A client of one space pauses instead, as it always did.
   * @param {string} space
   * @param {string} detail
   */
  async revoke(space, detail) {
    if (this.how === 'one' || !this.modes.has(space)) return;
    this.drop(space);
    const { db, notifier } = this.host;
    if (this.grants?.spaces[space]) {
      delete this.grants.spaces[space];
      await writeGrants(db, this.grants);
    }
    // Under the replay lock: a push in flight must not store a result of the space after it.
    const { dropped, deadLettered } = await withReplayLock(db, () => revokeSpace(db, space, detail));
    notifier.post({ type: 'space-revoked', space, code: 'forbidden', detail, dropped: dropped.length, deadLetters: deadLettered.length });
    await this.announce(deadLettered, dropped, detail);
  }

  /**
   * The space's queued writes cannot be delivered (it is read-only now, mode `r`): they
   * become dead letters.
   * @param {string} space
   * @param {string} message
   */
  async deadLetter(space, message) {
    const { db } = this.host;
    const { changed, deadLettered } = await withReplayLock(db, () => deadLetterSpace(db, space, message));
    await this.announce(deadLettered, changed, message);
  }

  /**
   * @param {import('../local/store.js').OutboxEntry[]} deadLettered
   * @param {import('../local/store.js').RecordRef[]} changed
   * @param {string} message
   */
  async announce(deadLettered, changed, message) {
    const { notifier } = this.host;
    for (const mutation of deadLettered) {
      notifier.post({ type: 'rejected', mutation, result: { mid: mutation.mid, status: 'rejected', code: 'forbidden', message } });
    }
    if (changed.length) notifier.post({ type: 'change', records: changed, origin: 'remote' });
    if (deadLettered.length) notifier.post({ type: 'outbox', pending: await countOutbox(this.host.db) });
  }

  /**
   * A replay paused on a write the server refused for its space (`forbidden`: the worker's
   * or a page's). Ask the server what the token grants: a space it no longer grants is
   * revoked, a read-only one has its writes dead-lettered, and the pause is lifted so the
   * other writes go on. Settled at most three times per space in a session, so a server
   * that lists a space as writable and refuses its writes cannot make it loop.
   * @param {import('../net/auth.js').AuthPause} pause
   */
  async settle(pause) {
    if (this.how === 'one' || pause.status !== 403 || pause.code !== 'forbidden' || !pause.space) return;
    const space = pause.space;
    const tries = (this.settled.get(space) ?? 0) + 1;
    if (tries > 3) return;
    this.settled.set(space, tries);
    if (this.modes.has(space)) {
      await this.refresh();
      if (this.stale) return; // the server could not say: the pause stays until resume()
    }
    if (this.modes.has(space) && this.modes.get(space) !== 'r') {
      if (tries > 1) return; // the server lists it writable and refuses it: leave it to the app
    } else {
      // Read-only, revoked or unfollowed: whatever of it is still queued cannot go out.
      await this.deadLetter(space, `the server refused writing space '${space}' (forbidden): the write was not delivered`);
    }
    const { db } = this.host;
    if ((await readPause(db))?.space !== space) return;
    await writePause(db, undefined);
    await this.host.schedule();
  }
}
