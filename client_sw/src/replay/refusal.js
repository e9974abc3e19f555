// The refusal pause: the server refused a push as a whole (`400`: a bad `client_id`, a
// `protocol` it does not know, a body it cannot read). That is no queued write's fault, and
// every batch this client sends would meet it again: replay stops, nothing is dead-lettered,
// and the pause is kept in the database so neither the worker nor another tab loops on it.
// The client lifts it on start (the app or the server may have been updated since: one
// attempt tells) and on resume().

import { readMetaValue, writeMetaValue } from '../local/db.js';

export const REFUSAL_KEY = 'replay_refused';

/**
 * Why replay is paused: the server's answer to the refused batch.
 * @typedef {object} BatchRefusal
 * @property {number} status  400
 * @property {string} code  the server's problem code, e.g. 'invalid_request', 'malformed_json'
 * @property {string} detail  the server's explanation, for the app's log or support screen
 * @property {string} [field]  the request field at fault, when the server named one
 *   ('client_id', 'protocol', 'mutations')
 * @property {number} at  when it was refused (ms since the epoch)
 */

/**
 * @param {IDBDatabase} db
 * @returns {Promise<BatchRefusal | undefined>}
 */
export function readRefusal(db) {
  return readMetaValue(db, REFUSAL_KEY);
}

/**
 * @param {IDBDatabase} db
 * @param {BatchRefusal | undefined} refusal  undefined lifts the pause
 */
export function writeRefusal(db, refusal) {
  return writeMetaValue(db, REFUSAL_KEY, refusal);
}

// With the `u` flag a well-formed pair is one code point; only an unpaired half matches.
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Whether a value holds a string (or an object key) with a lone UTF-16 surrogate. Such a
 * string has no UTF-8 form: the server refuses the whole push that carries it (`400
 * malformed_json`), so it must never be queued.
 * @param {unknown} value
 * @returns {boolean}
 */
export function holdsLoneSurrogate(value) {
  const stack = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (LONE_SURROGATE.test(v)) return true;
    } else if (v !== null && typeof v === 'object') {
      for (const [key, inner] of Object.entries(v)) {
        if (LONE_SURROGATE.test(key)) return true;
        stack.push(inner);
      }
    }
  }
  return false;
}
