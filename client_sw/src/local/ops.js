// Commutative operations inside a patch, applied locally by the rules of the server
// (syncserver/core/commutative.py and merge.py): a top-level field whose value is a one-key object
// naming an operation is that operation, not a value. `{"likes": {"$inc": 1}}` adds to a
// number; `{"tags": {"$add": [...]}}` and `{"tags": {"$remove": [...]}}` change a set, kept
// as the sorted list of its present elements, elements compared by their JSON text. A
// missing field or null is no value (0, the empty set); any other kind of value makes the
// server reject the write (operation_type_mismatch), so it changes nothing here either.
// The plain fields of the patch apply first (RFC 7396), then the operations.
//
// This is the optimistic view only: the server also remembers per-element stamps, so a
// concurrent remove elsewhere can win over our add. The confirmed state always comes from
// the server's copy (push result record or feed), never from this function alone.

import { mergePatch } from './merge-patch.js';

const OPERATORS = ['$inc', '$add', '$remove'];
const INT_MAX = 2 ** 63; // exclusive: what a 64-bit signed integer holds, as the server checks

/**
 * @param {unknown} value
 * @returns {string | null}  the operator when `value` is an operation
 */
export function operatorOf(value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const keys = Object.keys(value);
  return keys.length === 1 && OPERATORS.includes(keys[0]) ? keys[0] : null;
}

/**
 * A message when an operation's argument is one the server rejects (invalid_mutation).
 * @param {string} field
 * @param {string} op
 * @param {unknown} arg
 * @returns {string | null}
 */
export function checkOperation(field, op, arg) {
  if (op === '$inc') return typeof arg === 'number' ? null : `${field}: $inc takes a number`;
  return Array.isArray(arg) ? null : `${field}: ${op} takes a list of elements`;
}

/**
 * The problem with the first bad operation of a patch, or null.
 * @param {Record<string, unknown>} patch
 * @returns {string | null}
 */
export function patchProblem(patch) {
  for (const [field, value] of Object.entries(patch)) {
    const op = operatorOf(value);
    if (op) {
      const problem = checkOperation(field, op, /** @type {any} */ (value)[op]);
      if (problem) return problem;
    }
  }
  return null;
}

/**
 * Whether a patch holds operations only (an empty patch too, as on the server). Such a patch
 * never revives a tombstone: it changes only the data the server keeps in it, which no
 * client sees (syncserver/core/merge.py, docs/conflicts.md).
 * @param {Record<string, unknown>} patch
 * @returns {boolean}
 */
export function onlyOperations(patch) {
  return Object.values(patch).every((value) => operatorOf(value) !== null);
}

/**
 * Compare two strings by Unicode code point, as Python compares str (JavaScript's `<` compares
 * UTF-16 units, which orders U+E000..U+FFFF after the astral planes).
 * @param {string} a
 * @param {string} b
 * @returns {number}
 */
export function compareCodePoints(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = /** @type {number} */ (a.codePointAt(i));
    const y = /** @type {number} */ (b.codePointAt(i));
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/**
 * The counter after `$inc`, or undefined when the server would reject the write (a value
 * that is not a number, an integer outside 64 bits, a float that is no longer finite).
 * @param {unknown} current
 * @param {number} amount
 * @returns {number | undefined}
 */
export function increment(current, amount) {
  if (current !== null && current !== undefined && typeof current !== 'number') return undefined;
  const base = typeof current === 'number' ? current : 0;
  const result = base + amount;
  if (!Number.isFinite(result)) return undefined;
  if (wireInteger(base) && wireInteger(amount) && (result >= INT_MAX || result < -INT_MAX)) return undefined;
  return result;
}

/**
 * Whether the server reads this number as an integer: JSON.stringify writes integral values
 * below 1e21 as plain digits (an int for the server), larger ones with an exponent (a float).
 * JavaScript cannot tell 2.0 from 2; a float counter with an integral value near 2**63 is the
 * one case where the optimistic view and the server can differ until the server's copy lands.
 * @param {number} value
 * @returns {boolean}
 */
function wireInteger(value) {
  return Number.isInteger(value) && Math.abs(value) < 1e21;
}

/**
 * The set after `$add` or `$remove`, or undefined when the server would reject the write
 * (a value that is not a list). A plain list becomes a set (its elements present).
 * @param {unknown} current
 * @param {string} op
 * @param {unknown[]} elements
 * @returns {unknown[] | undefined}
 */
export function applySetOp(current, op, elements) {
  if (current !== null && current !== undefined && !Array.isArray(current)) return undefined;
  /** @type {Map<string, unknown>} */
  const present = new Map();
  if (Array.isArray(current)) for (const element of current) present.set(JSON.stringify(element), element);
  for (const element of elements) {
    const key = JSON.stringify(element);
    if (op === '$add') present.set(key, element);
    else present.delete(key);
  }
  return [...present.keys()].sort(compareCodePoints).map((key) => structuredClone(present.get(key)));
}

/**
 * Apply a patch with operations to `target` without mutating either. Returns undefined when
 * the server would reject the write as a whole (the record then stays as it was).
 * @param {unknown} target
 * @param {Record<string, unknown>} patch
 * @returns {Record<string, unknown> | undefined}
 */
export function applyPatch(target, patch) {
  if (patchProblem(patch)) return undefined;
  /** @type {Record<string, unknown>} */
  const plain = {};
  /** @type {Array<[string, string, any]>} */
  const ops = [];
  for (const [field, value] of Object.entries(patch)) {
    const op = operatorOf(value);
    if (op) ops.push([field, op, /** @type {any} */ (value)[op]]);
    else plain[field] = value;
  }
  const data = mergePatch(target, plain);
  for (const [field, op, arg] of ops) {
    const next = op === '$inc' ? increment(data[field], arg) : applySetOp(data[field], op, arg);
    if (next === undefined) return undefined;
    data[field] = next;
  }
  return data;
}
