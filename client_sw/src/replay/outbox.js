// The outbox: local writes waiting for the server. A write lands in the records store and
// the outbox in ONE transaction, so the app never shows a change that is not queued, and a
// queued change is never missing from the view.

import { getClientId, getMeta, req, setMeta, transact } from '../local/db.js';
import { formatHlc, tickHlc } from '../local/hlc.js';
import { patchProblem } from '../local/ops.js';
import { refreshRow } from '../local/store.js';
import { holdsLoneSurrogate } from './refusal.js';

/** @typedef {import('../local/store.js').OutboxEntry} OutboxEntry */
/** @typedef {import('../local/store.js').LocalRecord} LocalRecord */

/**
 * @typedef {object} WriteRequest
 * @property {string} space
 * @property {string} collection
 * @property {string} id
 * @property {'put' | 'patch' | 'delete'} op
 * @property {any} [data]
 * @property {number} [app_version]  the app's schema version (the client's `appVersion`):
 *   the server upgrades data of older versions and refuses versions it no longer takes
 */

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * Check a write before queuing it, so a typo fails at the call site rather than coming back
 * later as a dead letter.
 * @param {WriteRequest} write
 */
export function validateWrite(write) {
  if (!NAME.test(write.space)) throw new TypeError(`bad space name: ${write.space}`);
  if (!NAME.test(write.collection)) throw new TypeError(`bad collection name: ${write.collection}`);
  if (!ID.test(write.id)) throw new TypeError(`bad record id: ${write.id}`);
  if (!['put', 'patch', 'delete'].includes(write.op)) throw new TypeError(`bad op: ${write.op}`);
  if (write.app_version !== undefined && !isAppVersion(write.app_version)) {
    throw new TypeError(`bad app version: ${write.app_version} (a whole number from 1)`);
  }
  const isObject = write.data !== null && typeof write.data === 'object' && !Array.isArray(write.data);
  if (write.op !== 'delete' && !isObject) throw new TypeError(`${write.op} needs an object`);
  const problem = write.op === 'patch' ? patchProblem(write.data) : null;
  if (problem) throw new TypeError(problem);
  // JSON that carries one is not UTF-8: the server would refuse the whole push.
  if (holdsLoneSurrogate(write.data)) throw new TypeError('data holds a lone UTF-16 surrogate (a broken string)');
}

/**
 * @param {unknown} version
 * @returns {boolean}  whether it is an app version the server reads (a whole number from 1)
 */
export function isAppVersion(version) {
  return Number.isInteger(version) && /** @type {number} */ (version) >= 1 && /** @type {number} */ (version) <= 2 ** 31 - 1;
}

/**
 * The protocol version of the bases this client writes (docs/protocol.md, "Protocol
 * versions"). Stored in each outbox entry: entries queued by an older client keep the rules
 * they were written under when they are replayed.
 */
export const PROTOCOL = 2;

/**
 * Queue a write and update the record's view, atomically.
 *
 * Base version (protocol 2): the version of the record this client last received from the
 * server (its confirmed copy), for every write it queues, whatever is queued before it. The
 * server does not count this client's own earlier writes as concurrent changes, so a chain
 * of offline edits is judged against what the device actually saw: when an early link takes
 * no effect (lost a conflict, rejected), a later one is still judged against the other
 * devices' changes instead of landing by accident on their newer version. An answer does
 * not move the base of writes already queued (they may be on the wire, and a replay must be
 * byte-identical); a write queued after the answer is based on the newly confirmed version.
 *
 * `check`, when given, sees the record's view as this write leaves it (a put's data, a
 * patch merged onto what this device has) before the transaction commits: if it throws,
 * nothing is queued and nothing changes (the client checks a declared collection's schema
 * there).
 * @param {IDBDatabase} db
 * @param {WriteRequest} write
 * @param {number} [now]  ms since the epoch, for the HLC stamp
 * @param {(record: import('../local/store.js').RecordRow | null) => void} [check]
 * @returns {Promise<{entry: OutboxEntry, record: import('../local/store.js').RecordRow | null}>}
 */
export async function enqueueWrite(db, write, now = Date.now(), check = undefined) {
  validateWrite(write);
  const clientId = await getClientId(db);
  return transact(db, ['records', 'outbox', 'meta'], 'readwrite', async (tx) => {
    const { space, collection, id, op } = write;
    const row = await req(tx.objectStore('records').get([space, collection, id]));
    // The counter and the clock live in the meta store and change in this transaction, so
    // two tabs writing at once still get distinct mids and ordered stamps.
    const mid = (await getMeta(tx, 'next_mid')) ?? 1;
    await setMeta(tx, 'next_mid', mid + 1);
    const clock = tickHlc(await getMeta(tx, 'hlc'), now);
    await setMeta(tx, 'hlc', clock);
    /** @type {OutboxEntry} */
    const entry = {
      mid, space, collection, id, op,
      base_version: row?.server?.version ?? 0,
      // The node is the client id: the server refuses any other (invalid_hlc) and reads it
      // as the writer of the fields this write stamps.
      hlc: formatHlc(clock.ms, clock.counter, clientId),
      queued_at: now,
      protocol: PROTOCOL,
    };
    if (op !== 'delete') entry.data = structuredClone(write.data);
    if (write.app_version !== undefined) entry.app_version = write.app_version;
    await req(tx.objectStore('outbox').add(entry));
    const record = await refreshRow(tx, space, collection, id);
    check?.(record); // throwing aborts the transaction: nothing was queued
    return { entry, record };
  });
}

/**
 * The oldest queued writes, in mid (= write) order, leaving out the writes of the `held`
 * spaces (a replay holds back a space the server refused, and sends the others' writes).
 * @param {IDBDatabase} db
 * @param {number} [limit]
 * @param {ReadonlySet<string>} [held]
 * @returns {Promise<OutboxEntry[]>}
 */
export function readOutbox(db, limit, held) {
  return transact(db, ['outbox'], 'readonly', async (tx) => {
    if (!held?.size) return req(tx.objectStore('outbox').getAll(null, limit));
    /** @type {OutboxEntry[]} */
    const entries = [];
    await new Promise((resolve, reject) => {
      const request = tx.objectStore('outbox').openCursor();
      request.onerror = () => reject(request.error);
      request.onsuccess = () => {
        const row = request.result;
        if (!row) { resolve(undefined); return; }
        if (!held.has(row.value.space)) entries.push(row.value);
        if (limit !== undefined && entries.length >= limit) resolve(undefined);
        else row.continue();
      };
    });
    return entries;
  });
}

/**
 * The protocol of an entry: 1 for entries queued before the client wrote protocol 2 bases.
 * @param {OutboxEntry} entry
 * @returns {number}
 */
export function protocolOf(entry) {
  return entry.protocol ?? 1;
}

/**
 * The longest prefix of `entries` written under one protocol: a push body carries one
 * protocol for all its mutations.
 * @param {OutboxEntry[]} entries  in mid order
 * @returns {OutboxEntry[]}
 */
export function oneProtocol(entries) {
  if (entries.length === 0) return entries;
  const first = protocolOf(entries[0]);
  const end = entries.findIndex((entry) => protocolOf(entry) !== first);
  return end === -1 ? entries : entries.slice(0, end);
}

/**
 * @param {IDBDatabase} db
 * @returns {Promise<number>}
 */
export function countOutbox(db) {
  return transact(db, ['outbox'], 'readonly', (tx) => req(tx.objectStore('outbox').count()));
}

/**
 * The queued writes of one space.
 * @param {IDBDatabase} db
 * @param {string} space
 * @returns {Promise<number>}
 */
export function countSpaceOutbox(db, space) {
  return transact(db, ['outbox'], 'readonly',
    (tx) => req(tx.objectStore('outbox').index('by_record').count(IDBKeyRange.bound([space], [space, []]))));
}

/**
 * The queued writes per space, for the spaces that have any: one count per such space, the
 * index walked from one space to the next (the outbox may be long, the spaces in it few).
 * @param {IDBDatabase} db
 * @returns {Promise<Map<string, number>>}
 */
export function countOutboxBySpace(db) {
  return transact(db, ['outbox'], 'readonly', async (tx) => {
    const index = tx.objectStore('outbox').index('by_record');
    /** @type {Map<string, number>} */
    const counts = new Map();
    /** @type {IDBValidKey | undefined} */
    let from;
    for (;;) {
      const range = from === undefined ? null : IDBKeyRange.lowerBound(from, true);
      const request = index.openKeyCursor(range);
      const row = await req(request);
      if (!row) break;
      const space = /** @type {string[]} */ (row.key)[0];
      counts.set(space, await req(index.count(IDBKeyRange.bound([space], [space, []]))));
      from = [space, []];
    }
    return counts;
  });
}

/**
 * The mutation as it goes on the wire. It is derived from the stored entry only, so a
 * replay sends byte-for-byte the same content and the server recognises the duplicate.
 * @param {OutboxEntry} entry
 */
export function toWireMutation(entry) {
  /** @type {Record<string, unknown>} */
  const wire = {
    mid: entry.mid, space: entry.space, collection: entry.collection, id: entry.id,
    op: entry.op, base_version: entry.base_version, hlc: entry.hlc,
  };
  if (entry.op !== 'delete') wire.data = entry.data;
  // Only when stamped: the server counts it in the mutation's fingerprint when present.
  if (entry.app_version !== undefined) wire.app_version = entry.app_version;
  return wire;
}

/**
 * @typedef {object} DeadLetter
 * @property {number} mid
 * @property {OutboxEntry} mutation
 * @property {string} code
 * @property {string} message
 * @property {number} at
 */

/**
 * @param {IDBDatabase} db
 * @returns {Promise<DeadLetter[]>}
 */
export function listDeadLetters(db) {
  return transact(db, ['dead_letters'], 'readonly',
    (tx) => req(tx.objectStore('dead_letters').getAll()));
}

/**
 * Remove dead letters (all of them, or the given mids) once the app has shown them.
 * @param {IDBDatabase} db
 * @param {number[]} [mids]
 */
export function clearDeadLetters(db, mids) {
  return transact(db, ['dead_letters'], 'readwrite', async (tx) => {
    const store = tx.objectStore('dead_letters');
    if (!mids) await req(store.clear());
    else for (const mid of mids) await req(store.delete(mid));
  });
}

/**
 * @typedef {object} ConflictLogEntry
 * @property {number} n
 * @property {string} status  'conflict' or 'merged'
 * @property {string} [code]
 * @property {string} [message]
 * @property {OutboxEntry} mutation  the local write that was not applied as sent
 * @property {import('../local/store.js').ServerRecord} record  the server's resolution
 * @property {unknown} [resolution]
 * @property {number} [conflict_id]  an open conflict of a `manual` collection, to settle with
 *   POST /v1/conflicts/{conflict_id}/resolve
 * @property {number} at
 */

/**
 * Conflicts are logged as well as announced, so a conflict settled by the service worker
 * while no page was open is not lost.
 * @param {IDBDatabase} db
 * @returns {Promise<ConflictLogEntry[]>}
 */
export function listConflicts(db) {
  return transact(db, ['conflicts'], 'readonly', (tx) => req(tx.objectStore('conflicts').getAll()));
}

/**
 * @param {IDBDatabase} db
 * @param {number[]} [ns]  the entries to remove (e.g. a conflict the user settled); default: all
 */
export function clearConflicts(db, ns) {
  return transact(db, ['conflicts'], 'readwrite', async (tx) => {
    const store = tx.objectStore('conflicts');
    if (!ns) await req(store.clear());
    else for (const n of ns) await req(store.delete(n));
  });
}
