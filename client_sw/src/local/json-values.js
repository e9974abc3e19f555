// JSON values as JSON Schema compares and shows them (local/schema-check.js): equality of
// values (1 and 1.0 are one number, key order does not matter, true is not 1), the text a
// message shows, the length of a string in code points, and multipleOf decided on the
// numbers' decimal forms, as the server (jsonschema-rs) decides it.

/**
 * @param {unknown} value
 * @returns {'null' | 'boolean' | 'number' | 'string' | 'array' | 'object' | 'other'}
 */
export function kindOf(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  switch (typeof value) {
    case 'boolean': return 'boolean';
    case 'number': return Number.isFinite(value) ? 'number' : 'other';
    case 'string': return 'string';
    case 'object': return 'object';
    default: return 'other';
  }
}

/**
 * Whether two JSON values are equal as JSON Schema says (`const`, `enum`, `uniqueItems`).
 * @param {unknown} a
 * @param {unknown} b
 * @returns {boolean}
 */
export function jsonEqual(a, b) {
  if (a === b) return true;
  const kind = kindOf(a);
  if (kind !== kindOf(b)) return false;
  if (kind === 'array') {
    const x = /** @type {unknown[]} */ (a);
    const y = /** @type {unknown[]} */ (b);
    return x.length === y.length && x.every((item, i) => jsonEqual(item, y[i]));
  }
  if (kind === 'object') {
    const x = /** @type {Record<string, unknown>} */ (a);
    const y = /** @type {Record<string, unknown>} */ (b);
    const keys = Object.keys(x);
    return keys.length === Object.keys(y).length
      && keys.every((key) => Object.hasOwn(y, key) && jsonEqual(x[key], y[key]));
  }
  return false; // numbers and strings equal only when ===
}

/**
 * A value as the server's messages show it: compact JSON.
 * @param {unknown} value
 * @returns {string}
 */
export function show(value) {
  return JSON.stringify(value) ?? String(value);
}

/**
 * The length of a string in code points (maxLength counts those, not UTF-16 units).
 * @param {string} text
 * @returns {number}
 */
export function codePoints(text) {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}

/**
 * A finite number's shortest decimal form as an integer and a power of ten: 0.35 is
 * [35n, 2] (35 / 10^2). The same digits the server reads from the number.
 * @param {number} x
 * @returns {[bigint, number]}
 */
function decimal(x) {
  const [digits, exponent = '0'] = String(Math.abs(x)).split('e');
  const [whole, fraction = ''] = digits.split('.');
  let mantissa = BigInt(whole + fraction);
  let places = fraction.length - Number(exponent);
  if (places < 0) {
    mantissa *= 10n ** BigInt(-places);
    places = 0;
  }
  return [x < 0 ? -mantissa : mantissa, places];
}

/**
 * Whether `value` is a multiple of `divisor` (> 0): for a whole divisor, in binary as
 * JavaScript holds both; for a fractional one, on their decimal forms (0.7 is a multiple of
 * 0.1, 0.35 is not), as the server decides.
 * @param {number} value
 * @param {number} divisor
 * @returns {boolean}
 */
export function isMultipleOf(value, divisor) {
  if (Number.isInteger(divisor)) return Number.isInteger(value) && value % divisor === 0;
  if (value === 0) return true;
  if (Math.abs(value) < divisor) return false;
  const [a, aPlaces] = decimal(value);
  const [b, bPlaces] = decimal(divisor);
  // value / divisor = (a * 10^bPlaces) / (b * 10^aPlaces): whole when the one divides.
  const shared = Math.min(aPlaces, bPlaces);
  const top = a * 10n ** BigInt(bPlaces - shared);
  const bottom = b * 10n ** BigInt(aPlaces - shared);
  return top % bottom === 0n;
}
