// What this device keeps about the spaces it follows, beside their records: a mark on each
// space whose access was taken away (its data was dropped, and a late feed page must not
// bring it back), and the server's last answer to GET /v1/spaces, so that a client started
// offline still knows what it follows and in which mode.

import { getMeta, req, setMeta, transact } from './db.js';

const REVOKED_PREFIX = 'revoked:';
export const GRANTS_KEY = 'spaces_granted';

/** @typedef {'r' | 'rw'} SpaceMode */

/**
 * The server's list of the spaces a token grants (GET /v1/spaces), as stored.
 * @typedef {object} Grants
 * @property {string | null} sub  the token's user; null: the server runs without auth
 * @property {Record<string, SpaceMode>} spaces  space -> mode
 * @property {number} at  when it was read (ms since the epoch)
 */

/**
 * @param {IDBTransaction} tx  with the meta store
 * @param {string} space
 * @returns {Promise<boolean>}
 */
export async function isRevoked(tx, space) {
  return Boolean(await getMeta(tx, `${REVOKED_PREFIX}${space}`));
}

/**
 * @param {IDBTransaction} tx  with the meta store
 * @param {string} space
 * @param {string} code  why: 'forbidden'
 */
export async function markRevoked(tx, space, code) {
  await setMeta(tx, `${REVOKED_PREFIX}${space}`, { code, at: Date.now() });
}

/**
 * The space is granted again: feed pages of it are stored once more.
 * @param {IDBDatabase} db
 * @param {string} space
 */
export function clearRevoked(db, space) {
  return transact(db, ['meta'], 'readwrite', (tx) => req(tx.objectStore('meta').delete(`${REVOKED_PREFIX}${space}`)));
}

/**
 * @param {IDBDatabase} db
 * @returns {Promise<Grants | undefined>}
 */
export function readGrants(db) {
  return transact(db, ['meta'], 'readonly', (tx) => getMeta(tx, GRANTS_KEY));
}

/**
 * @param {IDBDatabase} db
 * @param {Grants} grants
 */
export function writeGrants(db, grants) {
  return transact(db, ['meta'], 'readwrite', (tx) => setMeta(tx, GRANTS_KEY, grants));
}
