// Hybrid logical clock stamps, as docs/protocol.md defines them:
// "<physical ms, 13 digits>:<counter, 5 digits>:<node>". Fixed widths make string order
// equal clock order, so stamps can be compared as plain strings.

/** @typedef {{ms: number, counter: number}} HlcState */

const MAX_COUNTER = 99999;

/**
 * @param {number} ms
 * @param {number} counter
 * @param {string} node
 * @returns {string}
 */
export function formatHlc(ms, counter, node) {
  return `${String(ms).padStart(13, '0')}:${String(counter).padStart(5, '0')}:${node}`;
}

/**
 * Parse a stamp; the node may itself contain ':' (client ids allow it), so only the first
 * two separators count.
 * @param {unknown} stamp
 * @returns {{ms: number, counter: number, node: string} | null}
 */
export function parseHlc(stamp) {
  if (typeof stamp !== 'string') return null;
  const m = /^(\d{13}):(\d{5}):(.+)$/.exec(stamp);
  if (!m) return null;
  return { ms: Number(m[1]), counter: Number(m[2]), node: m[3] };
}

/**
 * The clock state for a local write: ms = max(now, last.ms); the counter increments when ms
 * did not move. A counter overflow borrows the next millisecond instead of widening the field.
 * @param {HlcState | null | undefined} last
 * @param {number} now
 * @returns {HlcState}
 */
export function tickHlc(last, now) {
  const prev = last ?? { ms: 0, counter: 0 };
  const ms = Math.max(now, prev.ms);
  if (ms !== prev.ms) return { ms, counter: 0 };
  if (prev.counter >= MAX_COUNTER) return { ms: ms + 1, counter: 0 };
  return { ms, counter: prev.counter + 1 };
}

/**
 * Advance the clock past a received stamp, so the next local write sorts after it.
 * @param {HlcState | null | undefined} last
 * @param {unknown} remote
 * @returns {HlcState}
 */
export function receiveHlc(last, remote) {
  const prev = last ?? { ms: 0, counter: 0 };
  const r = parseHlc(remote);
  if (!r) return prev;
  if (r.ms > prev.ms || (r.ms === prev.ms && r.counter > prev.counter)) {
    return { ms: r.ms, counter: r.counter };
  }
  return prev;
}
