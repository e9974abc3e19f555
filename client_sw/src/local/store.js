// The local copy of records. Each row keeps the last state the server confirmed (`server`)
// and the view the app sees: that state with the still-queued writes of the record applied
// on top. Rebuilding the view from those two sources (instead of editing it in place) keeps
// it right whichever arrives first: a change from the feed, a push result, or a new write.

import { getMeta, readCursor, req, setMeta, transact, writeCursor } from './db.js';
import { receiveHlc } from './hlc.js';
import { applyPatch, onlyOperations } from './ops.js';
import { isRevoked } from './spaces.js';

/**
 * @typedef {object} ServerRecord  a record as the server sends it (docs/protocol.md)
 * @property {string} space
 * @property {string} collection
 * @property {string} id
 * @property {number} version
 * @property {number} [seq]
 * @property {boolean} deleted
 * @property {string} [hlc]
 * @property {number} [updated_at]
 * @property {any} data
 * @property {boolean} [local]  derived by this client from an `applied` result (which carries
 *   no data); the server's copy of the same version replaces it
 */

/**
 * @typedef {object} PushResult  the server's answer for one write of a push (docs/protocol.md)
 * @property {number} mid
 * @property {'applied' | 'merged' | 'conflict' | 'rejected'} status
 * @property {number} [version]
 * @property {number} [seq]
 * @property {ServerRecord} [record]
 * @property {string} [code]
 * @property {string} [message]
 * @property {Resolution} [resolution]
 * @property {boolean} [duplicate]
 * @property {string} [hlc_clamped]  the stamp the server stored instead of ours
 * @property {number} [conflict_id]  an open `manual` conflict (code conflict_open)
 * @property {string} [pointer]  `schema_invalid`: the RFC 6901 pointer of the failing place
 *   in the record's data ("" for the record itself)
 */

/**
 * @typedef {object} Resolution  how the server settled a write based on a stale version
 * @property {string} policy
 * @property {'server' | 'client' | 'both' | 'custom'} winner
 * @property {Array<{field: string, winner: string}>} [fields]
 * @property {boolean} [base_unknown]
 */

/**
 * @typedef {object} RecordRow  what the records store holds
 * @property {string} space
 * @property {string} collection
 * @property {string} id
 * @property {ServerRecord | null} server  last state confirmed by the server
 * @property {any} data  the view: server state plus queued writes
 * @property {boolean} deleted
 * @property {number} pending  queued writes not yet answered by the server
 */

/**
 * @typedef {object} OutboxEntry
 * @property {number} mid
 * @property {string} space
 * @property {string} collection
 * @property {string} id
 * @property {'put' | 'patch' | 'delete'} op
 * @property {any} [data]
 * @property {number} base_version
 * @property {string} hlc
 * @property {number} queued_at
 * @property {number} [protocol]  the protocol of `base_version`; absent: 1 (queued by an older client)
 * @property {number} [app_version]  the app version the write was made by (the client's
 *   `appVersion`); absent: none given (the server reads 1)
 */

/**
 * Apply one write to a state; the same rules the server uses for put, patch (with its
 * commutative operations) and delete. A write the server would reject leaves the state as
 * it was.
 * @param {{data: any, deleted: boolean} | null} state
 * @param {Pick<OutboxEntry, 'op' | 'data'>} entry
 * @returns {{data: any, deleted: boolean} | null}
 */
export function applyOp(state, entry) {
  if (entry.op === 'delete') return { data: null, deleted: true };
  if (entry.op === 'put') return { data: structuredClone(entry.data), deleted: false };
  // Operations never revive a deleted record (a put or a plain patch re-creates it).
  if (state?.deleted && onlyOperations(entry.data)) return state;
  const data = applyPatch(state && !state.deleted ? state.data : {}, entry.data);
  return data === undefined ? state : { data, deleted: false };
}

/**
 * The view of a record: its server state with the queued writes folded in, in mid order.
 * @param {ServerRecord | null} server
 * @param {OutboxEntry[]} pending
 * @returns {{data: any, deleted: boolean} | null}  null when the record does not exist at all
 */
export function foldPending(server, pending) {
  /** @type {{data: any, deleted: boolean} | null} */
  let state = server ? { data: server.data, deleted: server.deleted } : null;
  for (const entry of [...pending].sort((a, b) => a.mid - b.mid)) state = applyOp(state, entry);
  return state;
}

/**
 * @param {IDBTransaction} tx  with the outbox store
 * @param {string} space
 * @param {string} collection
 * @param {string} id
 * @returns {Promise<OutboxEntry[]>}
 */
export function pendingFor(tx, space, collection, id) {
  return req(tx.objectStore('outbox').index('by_record').getAll([space, collection, id]));
}

/**
 * Recompute and store the row of one record inside `tx` (records + outbox stores).
 * `server` replaces the confirmed state when given; a row with neither a server state nor
 * queued writes is removed (e.g. a rejected create).
 * @param {IDBTransaction} tx
 * @param {string} space
 * @param {string} collection
 * @param {string} id
 * @param {ServerRecord | null} [server]
 * @returns {Promise<RecordRow | null>}
 */
export async function refreshRow(tx, space, collection, id, server) {
  const records = tx.objectStore('records');
  /** @type {RecordRow | undefined} */
  const row = await req(records.get([space, collection, id]));
  const confirmed = server === undefined ? row?.server ?? null : server;
  const pending = await pendingFor(tx, space, collection, id);
  const view = foldPending(confirmed, pending);
  if (!view) {
    await req(records.delete([space, collection, id]));
    return null;
  }
  /** @type {RecordRow} */
  const next = {
    space, collection, id, server: confirmed, data: view.data, deleted: view.deleted,
    pending: pending.length,
  };
  await req(records.put(next));
  return next;
}

/**
 * Store a server record if it is newer than the confirmed one, inside `tx`
 * (records, outbox, meta). Returns whether the view may have changed.
 *
 * The server's copy of a version also replaces our own derivation of that same version
 * (an `applied` push result carries no data: we compute it, marked `local`), and any copy of
 * that version that differs from ours: the server's rules (per-element stamps of sets,
 * custom resolvers) are the ones that count, and client and server must not disagree for good.
 * @param {IDBTransaction} tx
 * @param {ServerRecord} record
 * @returns {Promise<boolean>}
 */
export async function storeServerRecord(tx, record) {
  /** @type {RecordRow | undefined} */
  const row = await req(tx.objectStore('records').get([record.space, record.collection, record.id]));
  await setMeta(tx, 'hlc', receiveHlc(await getMeta(tx, 'hlc'), record.hlc));
  const known = row?.server;
  // Versions only grow; an older copy (a late feed page, a replayed result) changes nothing.
  if (known && known.version > record.version) return false;
  if (known && known.version === record.version && !known.local && sameState(known, record)) return false;
  await refreshRow(tx, record.space, record.collection, record.id, { ...record });
  return true;
}

/**
 * @param {ServerRecord} a
 * @param {ServerRecord} b
 * @returns {boolean}
 */
function sameState(a, b) {
  return a.deleted === b.deleted && sameJson(a.data, b.data);
}

/**
 * Deep equality of JSON values (object key order does not matter).
 * @param {unknown} a
 * @param {unknown} b
 * @returns {boolean}
 */
export function sameJson(a, b) {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const list = /** @type {unknown[]} */ (b);
    return a.length === list.length && a.every((value, i) => sameJson(value, list[i]));
  }
  const x = /** @type {Record<string, unknown>} */ (a);
  const y = /** @type {Record<string, unknown>} */ (b);
  const keys = Object.keys(x);
  return keys.length === Object.keys(y).length
    && keys.every((key) => Object.prototype.hasOwnProperty.call(y, key) && sameJson(x[key], y[key]));
}

/**
 * Apply a page of feed changes and the cursor after it in one transaction, so a crash never
 * leaves the cursor ahead of the data. The cursor is stored for the page's collection filter.
 * A page of a space whose access was revoked meanwhile (its data dropped, local/spaces.js)
 * is not stored: a pull still in flight must not bring the data back.
 * @param {IDBDatabase} db
 * @param {string} space
 * @param {ServerRecord[]} changes
 * @param {string | undefined} cursor
 * @param {string[]} [collections]  the filter the page was read with
 * @returns {Promise<RecordRef[]>} changed records
 */
export function applyRemoteChanges(db, space, changes, cursor, collections) {
  return transact(db, ['records', 'outbox', 'meta', 'cursors'], 'readwrite', async (tx) => {
    /** @type {RecordRef[]} */
    const changed = [];
    if (await isRevoked(tx, space)) return changed;
    for (const change of changes) {
      if (await storeServerRecord(tx, change)) {
        changed.push({ space: change.space, collection: change.collection, id: change.id });
      }
    }
    if (typeof cursor === 'string') await writeCursor(tx, space, cursor, collections);
    return changed;
  });
}

/** @typedef {{space: string, collection: string, id: string}} RecordRef */

/**
 * Drop the confirmed copy of a space and every cursor of it, whatever the filter, inside
 * `tx` (records, outbox, cursors). Queued writes stay: their rows keep their optimistic view
 * on no confirmed state until the full pull and the replay settle them.
 * @param {IDBTransaction} tx
 * @param {string} space
 * @returns {Promise<RecordRef[]>}  the records whose view changed
 */
async function dropSpace(tx, space) {
  const range = IDBKeyRange.bound([space], [space, []]);
  /** @type {RecordRow[]} */
  const rows = await req(tx.objectStore('records').getAll(range));
  const changed = [];
  for (const row of rows) {
    if (!row.server) continue;
    await refreshRow(tx, row.space, row.collection, row.id, null);
    changed.push({ space: row.space, collection: row.collection, id: row.id });
  }
  await req(tx.objectStore('cursors').delete(range));
  return changed;
}

/**
 * Forget the confirmed state of a space (`resync_required`, `bad_cursor`).
 * @param {IDBDatabase} db
 * @param {string} space
 * @returns {Promise<RecordRef[]>}  the records whose view changed
 */
export function resetSpace(db, space) {
  return transact(db, ['records', 'outbox', 'meta', 'cursors'], 'readwrite', (tx) => dropSpace(tx, space));
}

/**
 * The cursor a feed of `space` under `collections` starts from. When the space is marked for
 * a resync (the schema upgrade that could not trust its old cursor), the space is dropped
 * first, in the same transaction, and `resync` names the reason.
 * @param {IDBDatabase} db
 * @param {string} space
 * @param {string[]} [collections]
 * @returns {Promise<{cursor: string, resync: string | null, dropped: RecordRef[]}>}
 */
export async function startCursor(db, space, collections) {
  const starts = await startCursors(db, [space], collections);
  return /** @type {StartCursor} */ (starts.get(space));
}

/** @typedef {{cursor: string, resync: string | null, dropped: RecordRef[]}} StartCursor */

/**
 * startCursor() of many spaces in one transaction (a client that follows hundreds of spaces
 * subscribes them all at once).
 * @param {IDBDatabase} db
 * @param {string[]} spaces
 * @param {string[]} [collections]
 * @returns {Promise<Map<string, StartCursor>>}
 */
export function startCursors(db, spaces, collections) {
  return transact(db, ['records', 'outbox', 'meta', 'cursors'], 'readwrite', async (tx) => {
    /** @type {Map<string, StartCursor>} */
    const starts = new Map();
    for (const space of spaces) {
      const reason = await getMeta(tx, `resync:${space}`);
      if (!reason) {
        starts.set(space, { cursor: await readCursor(tx, space, collections), resync: null, dropped: [] });
        continue;
      }
      const dropped = await dropSpace(tx, space);
      await req(tx.objectStore('meta').delete(`resync:${space}`));
      starts.set(space, { cursor: '', resync: String(reason), dropped });
    }
    return starts;
  });
}

/**
 * @typedef {object} LocalRecord  what the page API returns
 * @property {string} id
 * @property {string} collection
 * @property {string} space
 * @property {any} data
 * @property {boolean} deleted
 * @property {number} version  last version confirmed by the server (0: never confirmed)
 * @property {number} pending  queued writes not yet confirmed
 * @property {string | null} hlc
 * @property {number | null} updated_at
 */

/**
 * @param {RecordRow} row
 * @returns {LocalRecord}
 */
export function toLocalRecord(row) {
  return {
    id: row.id, collection: row.collection, space: row.space, data: row.data,
    deleted: row.deleted, version: row.server?.version ?? 0, pending: row.pending,
    hlc: row.server?.hlc ?? null, updated_at: row.server?.updated_at ?? null,
  };
}

/**
 * @param {IDBDatabase} db
 * @param {string} space
 * @param {string} collection
 * @param {string} id
 * @returns {Promise<LocalRecord | null>}  null for unknown and deleted records
 */
export async function getRecord(db, space, collection, id) {
  const row = await transact(db, ['records'], 'readonly',
    (tx) => req(tx.objectStore('records').get([space, collection, id])));
  return row && !row.deleted ? toLocalRecord(row) : null;
}

/**
 * All live records of a collection, in id order.
 * @param {IDBDatabase} db
 * @param {string} space
 * @param {string} collection
 * @returns {Promise<LocalRecord[]>}
 */
export async function listRecords(db, space, collection) {
  /** @type {RecordRow[]} */
  const rows = await transact(db, ['records'], 'readonly',
    (tx) => req(tx.objectStore('records').index('by_collection').getAll([space, collection])));
  return rows.filter((row) => !row.deleted).map(toLocalRecord);
}
