// The import graph of the client's modules, read from their own source: the demo test walks
// it for the worker's precache list, the architecture test checks the rooms and cycles.
import { readdirSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';

export const SRC = new URL('../src/', import.meta.url);

/** Generated from the other modules (scripts/build-classic.mjs); it imports nothing. */
export const GENERATED = 'sw-sync.js';

// `import ... from '…'`, `export ... from '…'` (one line or several) and `import '…'`.
const STATIC = /^(?:import|export)\s[^;]*?\bfrom\s+'([^']+)'|^import\s+'([^']+)'/gm;
// `import('…')`: in this library only JSDoc types use it (there is no dynamic import).
const TYPE = /\bimport\('([^']+)'\)/g;

/**
 * The modules a module imports, as paths relative to the folder given (src/ by default).
 * Bare specifiers (packages) and absolute URLs are left out: only our own files matter.
 * @param {string} file  e.g. 'replay/outbox.js'
 * @param {URL} [root]
 * @returns {{runtime: string[], types: string[]}}
 */
export function importsOf(file, root = SRC) {
  const source = readFileSync(new URL(file, root), 'utf8');
  /** @param {string | undefined} specifier */
  const resolve = (specifier) => (specifier && /^\.\.?\//.test(specifier)
    ? [posix.join(posix.dirname(file), specifier)] : []);
  return {
    runtime: [...source.matchAll(STATIC)].flatMap((m) => resolve(m[1] ?? m[2])),
    types: [...source.matchAll(TYPE)].flatMap((m) => resolve(m[1])),
  };
}

/**
 * Every module reachable from a file through static imports, the file included.
 * @param {string} file
 * @param {URL} [root]
 * @param {Set<string>} [seen]
 */
export function reachable(file, root = SRC, seen = new Set()) {
  if (seen.has(file)) return seen;
  seen.add(file);
  for (const next of importsOf(file, root).runtime) reachable(next, root, seen);
  return seen;
}

/**
 * Every .js module under src/ but the generated classic build, relative to src/.
 * @returns {string[]}
 */
export function allModules() {
  return readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .map((path) => path.split('\\').join('/'))
    .filter((path) => path.endsWith('.js') && path !== GENERATED)
    .sort();
}

/**
 * A cycle in a graph (module -> the modules it imports), as the path that closes it, or
 * null when there is none.
 * @param {Map<string, string[]>} graph
 * @returns {string[] | null}
 */
export function findCycle(graph) {
  /** @type {Map<string, 'open' | 'done'>} */
  const state = new Map();
  /** @type {string[]} */
  const path = [];
  /** @param {string} node @returns {string[] | null} */
  const visit = (node) => {
    if (state.get(node) === 'done') return null;
    if (state.get(node) === 'open') return [...path.slice(path.indexOf(node)), node];
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of [...graph.keys()].sort()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return null;
}
