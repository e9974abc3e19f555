// Apply the per-mutation results of a push (docs/protocol.md, "Result kinds"). All results
// of a batch are applied in one transaction: either the outbox shrinks and the records
// move forward together, or nothing changes and the batch is replayed later (safe: the
// server answers a replay with the stored results).

import { getMeta, req, setMeta, transact } from '../local/db.js';
import { receiveHlc } from '../local/hlc.js';
import { applyOp, refreshRow, storeServerRecord } from '../local/store.js';

/** @typedef {import('../local/store.js').OutboxEntry} OutboxEntry */
/** @typedef {import('../local/store.js').ServerRecord} ServerRecord */
/** @typedef {import('../local/store.js').PushResult} PushResult */

/**
 * @param {PushResult} result
 * @returns {boolean}
 */
export function lostAField(result) {
  return Boolean(result.resolution?.fields?.some((f) => f.winner === 'server'));
}

/**
 * @typedef {object} ResultOutcome
 * @property {Array<{space: string, collection: string, id: string}>} changed
 * @property {Array<{mutation: OutboxEntry, result: PushResult}>} conflicts
 * @property {Array<{mutation: OutboxEntry, result: PushResult}>} merged
 * @property {Array<{mutation: OutboxEntry, result: PushResult}>} rejected
 * @property {number} applied
 * @property {number[]} unanswered  mids of sent entries the server gave no result for
 */

/**
 * @param {IDBTransaction} tx
 * @param {OutboxEntry} entry
 * @param {PushResult} result
 */
async function storeApplied(tx, entry, result) {
  const key = [entry.space, entry.collection, entry.id];
  const row = await req(tx.objectStore('records').get(key));
  const server = row?.server ?? null;
  const version = result.version ?? 0;
  // The feed may already have delivered this version (or a later one): keep that.
  if (server && server.version >= version) return refreshRow(tx, entry.space, entry.collection, entry.id);
  // The result carries no data: derive the state by the server's rules, marked `local` so
  // the feed's copy of this version replaces it (docs/client.md, "Confirmed data").
  const state = applyOp(server, entry) ?? { data: {}, deleted: false };
  const stamp = result.hlc_clamped ?? entry.hlc;
  await setMeta(tx, 'hlc', receiveHlc(await getMeta(tx, 'hlc'), stamp));
  return refreshRow(tx, entry.space, entry.collection, entry.id, {
    space: entry.space, collection: entry.collection, id: entry.id, version,
    // The result carries no server time; ours stands in until the feed brings a newer version.
    seq: result.seq, deleted: state.deleted, hlc: stamp, updated_at: Date.now(),
    data: state.data, local: true,
  });
}

/**
 * Apply the results of one push batch.
 * @param {IDBDatabase} db
 * @param {OutboxEntry[]} entries  the batch as sent
 * @param {PushResult[]} results
 * @returns {Promise<ResultOutcome>}
 */
export function applyPushResults(db, entries, results) {
  const stores = ['records', 'outbox', 'meta', 'dead_letters', 'conflicts'];
  return transact(db, stores, 'readwrite', async (tx) => {
    const byMid = new Map(results.map((r) => [r.mid, r]));
    /** @type {ResultOutcome} */
    const outcome = { changed: [], conflicts: [], merged: [], rejected: [], applied: 0, unanswered: [] };
    const now = Date.now();
    for (const entry of entries) {
      const result = byMid.get(entry.mid);
      if (!result) {
        outcome.unanswered.push(entry.mid);
        continue;
      }
      // Every answered mutation leaves the outbox first, so the views rebuilt below fold in
      // only the writes that are still waiting.
      await req(tx.objectStore('outbox').delete(entry.mid));
      const target = { space: entry.space, collection: entry.collection, id: entry.id };
      if (result.status === 'applied') {
        await storeApplied(tx, entry, result);
        outcome.applied += 1;
      } else if (result.status === 'merged' || result.status === 'conflict') {
        if (result.record) await storeServerRecord(tx, result.record);
        await refreshRow(tx, entry.space, entry.collection, entry.id);
        if (result.status === 'merged') outcome.merged.push({ mutation: entry, result });
        // A conflict always means the write took no effect; a merge matters to the app
        // only where the server's value won a field this write also changed.
        if (result.status === 'conflict' || lostAField(result)) {
          outcome.conflicts.push({ mutation: entry, result });
          await req(tx.objectStore('conflicts').add({
            status: result.status, code: result.code, message: result.message,
            mutation: entry, record: result.record ?? null, resolution: result.resolution,
            conflict_id: result.conflict_id, at: now,
          }));
        }
      } else {
        // 'rejected', and any status this client does not know: keep the write where the
        // app can see it rather than retrying it forever or dropping it silently.
        await req(tx.objectStore('dead_letters').put({
          mid: entry.mid, mutation: entry, code: result.code ?? `unknown_status_${result.status}`,
          message: result.message ?? '', at: now,
        }));
        await refreshRow(tx, entry.space, entry.collection, entry.id);
        outcome.rejected.push({ mutation: entry, result });
      }
      outcome.changed.push(target);
    }
    return outcome;
  });
}

/**
 * Move one entry to the dead-letter store without a per-mutation result (the server refused
 * it at batch level even alone, e.g. 413 for a single oversized mutation).
 * @param {IDBDatabase} db
 * @param {OutboxEntry} entry
 * @param {string} code
 * @param {string} message
 */
export function deadLetter(db, entry, code, message) {
  return applyPushResults(db, [entry], [{ mid: entry.mid, status: 'rejected', code, message }]);
}
