// A space taken away from this user. Its queued writes can never be delivered: they become
// dead letters with code `forbidden`, which the app reads (deadLetters()) as it reads any
// write the server refused. When reading was taken away too (the space is revoked), its
// records, cursors and conflict log go as well, in the same transaction, and the space is
// marked so that a feed page still in flight does not bring them back (local/spaces.js).

import { req, transact } from '../local/db.js';
import { markRevoked } from '../local/spaces.js';
import { refreshRow } from '../local/store.js';

/** @typedef {import('../local/store.js').OutboxEntry} OutboxEntry */
/** @typedef {import('../local/store.js').RecordRef} RecordRef */

/**
 * @param {string} space
 * @returns {IDBKeyRange}  every key [space, ...] of the records, outbox and cursors
 */
const spaceRange = (space) => IDBKeyRange.bound([space], [space, []]);

/**
 * Move the queued writes of a space to the dead letters, inside `tx` (outbox, dead_letters).
 * @param {IDBTransaction} tx
 * @param {string} space
 * @param {string} code
 * @param {string} message
 * @returns {Promise<OutboxEntry[]>}  the writes moved
 */
async function deadLetterQueued(tx, space, code, message) {
  const outbox = tx.objectStore('outbox');
  /** @type {OutboxEntry[]} */
  const entries = await req(outbox.index('by_record').getAll(spaceRange(space)));
  const at = Date.now();
  for (const entry of entries) {
    await req(outbox.delete(entry.mid));
    await req(tx.objectStore('dead_letters').put({ mid: entry.mid, mutation: entry, code, message, at }));
  }
  return entries;
}

/**
 * The space may be read but no longer written (its mode became `r`): its queued writes go to
 * the dead letters and the views of their records are rebuilt without them.
 * @param {IDBDatabase} db
 * @param {string} space
 * @param {string} message
 * @returns {Promise<{changed: RecordRef[], deadLettered: OutboxEntry[]}>}
 */
export function deadLetterSpace(db, space, message) {
  return transact(db, ['records', 'outbox', 'dead_letters'], 'readwrite', async (tx) => {
    const deadLettered = await deadLetterQueued(tx, space, 'forbidden', message);
    /** @type {Map<string, RecordRef>} */
    const changed = new Map();
    for (const e of deadLettered) changed.set(JSON.stringify([e.collection, e.id]), { space, collection: e.collection, id: e.id });
    for (const ref of changed.values()) await refreshRow(tx, space, ref.collection, ref.id);
    return { changed: [...changed.values()], deadLettered };
  });
}

/**
 * The space may no longer be read: drop its records, cursors and conflict log entries, move
 * its queued writes to the dead letters (code `forbidden`), and mark it revoked, in one
 * transaction. Run it under the replay lock, so that no push in flight stores a result of
 * the space afterwards.
 * @param {IDBDatabase} db
 * @param {string} space
 * @param {string} message  the dead letters' message
 * @returns {Promise<{dropped: RecordRef[], deadLettered: OutboxEntry[]}>}
 */
export function revokeSpace(db, space, message) {
  const stores = ['records', 'outbox', 'dead_letters', 'conflicts', 'cursors', 'meta'];
  return transact(db, stores, 'readwrite', async (tx) => {
    const range = spaceRange(space);
    const records = tx.objectStore('records');
    /** @type {RecordRef[]} */
    const dropped = (await req(records.getAllKeys(range))).map((key) => {
      const [, collection, id] = /** @type {string[]} */ (key);
      return { space, collection, id };
    });
    await req(records.delete(range));
    await req(tx.objectStore('cursors').delete(range));
    const deadLettered = await deadLetterQueued(tx, space, 'forbidden', message);
    await new Promise((resolve, reject) => {
      const request = tx.objectStore('conflicts').openCursor();
      request.onerror = () => reject(request.error);
      request.onsuccess = () => {
        const row = request.result;
        if (!row) { resolve(undefined); return; }
        if (row.value?.mutation?.space === space) row.delete();
        row.continue();
      };
    });
    await req(tx.objectStore('meta').delete(`resync:${space}`));
    await markRevoked(tx, space, 'forbidden');
    return { dropped, deadLettered };
  });
}
