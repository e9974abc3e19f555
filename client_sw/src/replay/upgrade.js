// The upgrade pause: the server no longer takes writes of this app's version (a mutation
// answered `upgrade_required`: its `app_version` is below the server's min_app_version).
// Every write this app queued would meet the same answer, so replay stops there and the
// outbox is kept; the app tells its user to reload (event `upgraderequired`,
// docs/client.md "App versions"). The pause is kept in the database, so neither the worker
// nor another tab loops on it. A page of a newer app version lifts it when it starts: then
// the writes the old app queued are sent once more, and those the server still refuses
// (stamped with a version it no longer takes, and older than the app now running) become
// dead letters, as any refused write: the app that replaced them may show them.

import { getMeta, readMetaValue, req, setMeta, transact, writeMetaValue } from '../local/db.js';

export const UPGRADE_KEY = 'upgrade_required';
// The app version of the newest page client that started on this database (its
// `appVersion`; 1 when it gave none): what the worker compares a refused write's stamp with.
export const APP_VERSION_KEY = 'app_version';

/**
 * Why replay is paused: the server refused a write of this app version.
 * @typedef {object} UpgradePause
 * @property {number} app_version  the refused write's app version
 * @property {string} message  the server's words
 * @property {number} mid  the refused write
 * @property {number} at  when (ms since the epoch)
 */

/**
 * @param {IDBDatabase} db
 * @returns {Promise<UpgradePause | undefined>}
 */
export function readUpgradePause(db) {
  return readMetaValue(db, UPGRADE_KEY);
}

/**
 * @param {IDBDatabase} db
 * @param {UpgradePause | undefined} pause  undefined lifts it
 */
export function writeUpgradePause(db, pause) {
  return writeMetaValue(db, UPGRADE_KEY, pause);
}

/**
 * @param {IDBDatabase} db
 * @returns {Promise<number>}
 */
export async function readAppVersion(db) {
  return (await readMetaValue(db, APP_VERSION_KEY)) ?? 1;
}

/**
 * A page client started with this app version: remember it (never lower it: a tab of the
 * old app still open must not make the worker hold back the new app's writes), and lift a
 * pause a lower version met. Returns the pause that still holds, if any.
 * @param {IDBDatabase} db
 * @param {number} version
 * @returns {Promise<UpgradePause | undefined>}
 */
export function startAppVersion(db, version) {
  return transact(db, ['meta'], 'readwrite', async (tx) => {
    if (version > ((await getMeta(tx, APP_VERSION_KEY)) ?? 1)) await setMeta(tx, APP_VERSION_KEY, version);
    /** @type {UpgradePause | undefined} */
    const pause = await getMeta(tx, UPGRADE_KEY);
    if (pause && version > pause.app_version) {
      await req(tx.objectStore('meta').delete(UPGRADE_KEY));
      return undefined;
    }
    return pause;
  });
}

/**
 * The app version a queued write was stamped with (1: none, as the server reads it).
 * @param {{app_version?: number}} entry
 * @returns {number}
 */
export function stampOf(entry) {
  return entry.app_version ?? 1;
}

/**
 * A push result that says the app is too old.
 * @param {any} result
 * @returns {boolean}
 */
export function isUpgradeRequired(result) {
  return result?.status === 'rejected' && result.code === 'upgrade_required';
}
