// The outbox: local writes waiting for the server. A write lands in the records store and
// the outbox in ONE transaction, so the app never shows a change that is not queued, and a
// queued change is never missing from the view.

import { getClientId, getMeta, req, setMeta, transact } from './db.js';
import { formatHlc, tickHlc } from './hlc.js';
import { pendingFor, refreshRow } from './store.js';

/** @typedef {import('./store.js').OutboxEntry} OutboxEntry */
/** @typedef {import('./store.js').LocalRecord} LocalRecord */

/**
 * @typedef {object} WriteRequest
 * @property {string} space
 * @property {string} collection
 * @property {string} id
 * @property {'put' | 'patch' | 'delete'} op
 * @property {any} [data]
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
  const isObject = write.data !== null && typeof write.data === 'object' && !Array.isArray(write.data);
  if (write.op !== 'delete' && !isObject) throw new TypeError(`${write.op} needs an object`);
}

/**
 * Queue a write and update the record's view, atomically.
 *
 * Base version: the server applies a batch in order and every accepted change adds 1 to the
 * version, so a write queued behind n unanswered writes of the same record is based on
 * (last confirmed version + n). Offline chains therefore read put@0, patch@1, delete@2.
 * @param {IDBDatabase} db
 * @param {WriteRequest} write
 * @param {number} [now]  ms since the epoch, for the HLC stamp
 * @returns {Promise<{entry: OutboxEntry, record: import('./store.js').RecordRow | null}>}
 */
export async function enqueueWrite(db, write, now = Date.now()) {
  validateWrite(write);
  const clientId = await getClientId(db);
  return transact(db, ['records', 'outbox', 'meta'], 'readwrite', async (tx) => {
    const { space, collection, id, op } = write;
    const row = await req(tx.objectStore('records').get([space, collection, id]));
    const queued = await pendingFor(tx, space, collection, id);
    // The counter and the clock live in the meta store and change in this transaction, so
    // two tabs writing at once still get distinct mids and ordered stamps.
    const mid = (await getMeta(tx, 'next_mid')) ?? 1;
    await setMeta(tx, 'next_mid', mid + 1);
    const clock = tickHlc(await getMeta(tx, 'hlc'), now);
    await setMeta(tx, 'hlc', clock);
    /** @type {OutboxEntry} */
    const entry = {
      mid, space, collection, id, op,
      base_version: (row?.server?.version ?? 0) + queued.length,
      hlc: formatHlc(clock.ms, clock.counter, clientId),
      queued_at: now,
    };
    if (op !== 'delete') entry.data = structuredClone(write.data);
    await req(tx.objectStore('outbox').add(entry));
    const record = await refreshRow(tx, space, collection, id);
    return { entry, record };
  });
}

/**
 * The oldest queued writes, in mid (= write) order.
 * @param {IDBDatabase} db
 * @param {number} [limit]
 * @returns {Promise<OutboxEntry[]>}
 */
export function readOutbox(db, limit) {
  return transact(db, ['outbox'], 'readonly',
    (tx) => req(tx.objectStore('outbox').getAll(null, limit)));
}

/**
 * @param {IDBDatabase} db
 * @returns {Promise<number>}
 */
export function countOutbox(db) {
  return transact(db, ['outbox'], 'readonly', (tx) => req(tx.objectStore('outbox').count()));
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
 * @property {import('./store.js').ServerRecord} record  the server's resolution
 * @property {unknown} [resolution]
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
 */
export function clearConflicts(db) {
  return transact(db, ['conflicts'], 'readwrite', (tx) => req(tx.objectStore('conflicts').clear()));
}
