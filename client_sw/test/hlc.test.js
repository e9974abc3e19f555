import assert from 'node:assert/strict';
import test from 'node:test';
import { formatHlc, parseHlc, receiveHlc, tickHlc } from '../src/local/hlc.js';
import { mergePatch } from '../src/local/merge-patch.js';

test('stamps have fixed widths so string order is clock order', () => {
  const a = formatHlc(999, 2, 'c-1');
  const b = formatHlc(1000, 0, 'c-1');
  assert.equal(a, '0000000000999:00002:c-1');
  assert.ok(a < b);
});

test('parse keeps node ids that contain colons', () => {
  assert.deepEqual(parseHlc('1763756400000:00002:c:x:y'), { ms: 1763756400000, counter: 2, node: 'c:x:y' });
  assert.equal(parseHlc('17637564:2:c'), null);
  assert.equal(parseHlc(undefined), null);
});

test('a write in the same millisecond, or with a clock behind, bumps the counter', () => {
  assert.deepEqual(tickHlc(null, 1000), { ms: 1000, counter: 0 });
  assert.deepEqual(tickHlc({ ms: 1000, counter: 0 }, 1000), { ms: 1000, counter: 1 });
  assert.deepEqual(tickHlc({ ms: 1000, counter: 4 }, 900), { ms: 1000, counter: 5 });
  assert.deepEqual(tickHlc({ ms: 1000, counter: 3 }, 1200), { ms: 1200, counter: 0 });
  assert.deepEqual(tickHlc({ ms: 1000, counter: 99999 }, 1000), { ms: 1001, counter: 0 });
});

test('receiving a later stamp moves the clock past it', () => {
  const state = receiveHlc({ ms: 1000, counter: 0 }, formatHlc(5000, 7, 'server'));
  assert.deepEqual(state, { ms: 5000, counter: 7 });
  const next = tickHlc(state, 1000);
  assert.ok(formatHlc(next.ms, next.counter, 'c') > formatHlc(5000, 7, 'server'));
  assert.deepEqual(receiveHlc(state, formatHlc(10, 0, 'x')), state);
  assert.deepEqual(receiveHlc(state, 'garbage'), state);
});

test('merge patch follows RFC 7396', () => {
  const target = { a: 'b', c: { d: 'e', f: 'g' } };
  assert.deepEqual(mergePatch(target, { a: 'z', c: { f: null } }), { a: 'z', c: { d: 'e' } });
  assert.deepEqual(target, { a: 'b', c: { d: 'e', f: 'g' } }, 'the target is not mutated');
  assert.deepEqual(mergePatch({ a: [1, 2] }, { a: [3] }), { a: [3] });
  assert.deepEqual(mergePatch(null, { a: { b: 1 } }), { a: { b: 1 } });
  assert.deepEqual(mergePatch({ a: 1 }, ['x']), ['x']);
});
