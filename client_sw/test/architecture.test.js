// The floor plan of src/ (docs/architecture.md, "The browser client"): modules live in
// rooms, a module imports only from its own room and the rooms declared below it, and no
// modules import each other in a cycle. The graph is read from the modules' own import
// statements, JSDoc type imports included (a type named from an upper room is a dependency
// on it too); nothing is imported to build it.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import test from 'node:test';
import { GENERATED, SRC, allModules, findCycle, importsOf, reachable } from './module-graph.js';

// Each room and the rooms it may import, bottom first. Each room's README.md ends with
// "May import: ..." naming the same rooms (checked below): the plan is declared here once.
const ROOMS = {
  local: [],
  net: ['local'],
  replay: ['local', 'net'],
  feed: ['local', 'net'],
  // The worker pulls a space a push nudged (feed/pull.js) while no page is open: the feed's
  // HTTP pull is the one way changes come in, so sw/ uses it rather than a second copy.
  sw: ['local', 'net', 'replay', 'feed'],
  page: ['local', 'net', 'replay', 'feed'],
};
// The package's entry points, at the top of src/ above every room (nothing imports them).
// The worker's leaves the page client out, and reaches of the feed only its HTTP pulls (the
// test below): a worker keeps no socket.
const ENTRIES = {
  'index.js': ['local', 'net', 'replay', 'feed', 'page'],
  'worker.js': ['local', 'net', 'replay', 'sw'],
};

/** @param {string} file */
const roomOf = (file) => (file.includes('/') ? file.split('/')[0] : file);

/**
 * The imports that break the plan, as readable lines.
 * @param {Map<string, string[]>} graph  module -> the modules it imports
 * @param {Record<string, string[]>} rooms
 * @param {Record<string, string[]>} entries
 */
function violations(graph, rooms, entries) {
  const found = [];
  for (const [file, targets] of graph) {
    const from = roomOf(file);
    const allowed = entries[file] ?? rooms[from];
    for (const target of targets) {
      const to = roomOf(target);
      if (to !== from && !allowed?.includes(to)) found.push(`${file} -> ${target}`);
    }
  }
  return found;
}

/** @param {'runtime' | 'types' | 'both'} kind */
function graphOf(kind) {
  return new Map(allModules().map((file) => {
    const { runtime, types } = importsOf(file);
    return [file, kind === 'runtime' ? runtime : kind === 'types' ? types : [...runtime, ...types]];
  }));
}

test('every module lives in a declared room or is an entry point; each room says what it may import', () => {
  const folders = readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  assert.deepEqual(folders.sort(), Object.keys(ROOMS).sort(), 'a new folder of src/ is a room: declare it here');
  const top = allModules().filter((file) => !file.includes('/'));
  assert.deepEqual(top.sort(), Object.keys(ENTRIES).sort(), 'at the top of src/: only the entry points');
  assert.ok(existsSync(new URL(GENERATED, SRC)), GENERATED);
  for (const [room, below] of Object.entries(ROOMS)) {
    const readme = new URL(`${room}/README.md`, SRC);
    assert.ok(existsSync(readme), `src/${room}/README.md says what lives in ${room}/`);
    const said = readFileSync(readme, 'utf8').match(/^May import: (.*)\.$/m)?.[1];
    assert.equal(said, below.length ? below.join(', ') : 'nothing of ours', `src/${room}/README.md`);
  }
});

test('every import names a module that exists', () => {
  const known = new Set(allModules());
  for (const [file, targets] of graphOf('both')) {
    for (const target of targets) assert.ok(known.has(target), `${file} imports ${target}, which is not there`);
  }
});

test('imports, types included, stay in their room or go to a room below it', () => {
  assert.deepEqual(violations(graphOf('both'), ROOMS, ENTRIES), []);
});

test('no modules import each other in a cycle', () => {
  // Runtime imports: a type may name a module of its own room that imports it back.
  assert.equal(findCycle(graphOf('runtime'))?.join(' -> '), undefined);
});

test('the checks find what they look for: an upward import, an unknown room, a cycle', () => {
  const graph = new Map([
    ['local/a.js', ['net/b.js']],
    ['net/b.js', ['local/a.js']],
    ['page/c.js', ['sw/d.js', 'replay/e.js']],
    ['worker.js', ['page/c.js']],
    ['attic/f.js', ['local/a.js']],
  ]);
  assert.deepEqual(violations(graph, ROOMS, ENTRIES),
    ['local/a.js -> net/b.js', 'page/c.js -> sw/d.js', 'worker.js -> page/c.js', 'attic/f.js -> local/a.js']);
  assert.deepEqual(findCycle(graph), ['local/a.js', 'net/b.js', 'local/a.js']);
  assert.equal(findCycle(new Map([['x.js', ['y.js']], ['y.js', []]])), null);
});

test('the worker entry keeps no socket: of the feed it reaches only the HTTP pulls', () => {
  const feed = [...reachable('worker.js')].filter((file) => file.startsWith('feed/')).sort();
  assert.deepEqual(feed.filter((file) => !['feed/pull.js', 'feed/multipull.js'].includes(file)), [], 'the worker reaches the live feed');
  assert.ok(!reachable('worker.js').has('page/sync-client.js'));
});
