// The client as an npm package: what `npm pack` puts in the tarball, and what an app that
// installed that tarball (no registry, no network: the package has no runtime dependencies)
// can import and type-check, the way a bundler-free ES module or a Vite app sees it.
// About 10 s on a 2-core machine: npm pack, npm install --offline, node, tsc three times.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const NAME = manifest.name;
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

// Under `npm test` the parent's npm_* variables (its prefix, its config) would steer the
// nested npm, which must behave as in a fresh shell.
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));

/**
 * @param {string[]} args
 * @param {string} cwd
 */
function npm(args, cwd) {
  const execpath = process.env.npm_execpath;
  const [cmd, argv] = execpath && execpath.endsWith('.js')
    ? [process.execPath, [execpath, ...args]]
    : ['npm', args];
  return run(cmd, argv, cwd);
}

/**
 * @param {string} cmd
 * @param {string[]} args
 * @param {string} cwd
 */
function run(cmd, args, cwd) {
  const done = spawnSync(cmd, args, { cwd, env: cleanEnv, encoding: 'utf8', timeout: 120_000 });
  assert.equal(done.status, 0, `${cmd} ${args.join(' ')}\n${done.stdout}\n${done.stderr}`);
  return done.stdout;
}

/** @type {string} */
let tmp;
/** @type {{filename: string, files: {path: string}[]}} */
let packed;
/** @type {string} */
let app;
/** @type {{page: Record<string, string>, worker: Record<string, string>} | undefined} */
let seenExports;

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'syncserver-npm-'));
  const out = npm(['pack', '--json', '--pack-destination', tmp], ROOT);
  packed = JSON.parse(out)[0];
  // A fresh project outside the repository, installing only the tarball, offline, with a
  // cache of its own: nothing can come from the registry or from the developer's cache.
  app = join(tmp, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  npm(['install', join(tmp, packed.filename), '--offline', '--no-audit', '--no-fund',
    '--ignore-scripts', '--cache', join(tmp, 'npm-cache')], app);
});

after(() => rmSync(tmp, { recursive: true, force: true }));

test('the package version is the Python package version (pyproject.toml)', () => {
  const pyproject = readFileSync(join(ROOT, '..', 'pyproject.toml'), 'utf8');
  const project = pyproject.split(/^\[/m).find((table) => table.startsWith('project]'));
  const version = project?.match(/^version\s*=\s*"([^"]+)"/m)?.[1];
  assert.ok(version, 'pyproject.toml [project] version');
  assert.equal(manifest.version, version);
});

test('the tarball holds the library, its types and the classic worker build, and nothing else', () => {
  const files = packed.files.map((f) => f.path).sort();
  for (const file of files) {
    assert.ok(file.startsWith('src/') || ['package.json', 'README.md'].includes(file), `unexpected ${file}`);
    assert.doesNotMatch(file, /node_modules|(^|\/)test\/|\.test\.js$|^demo\//, file);
  }
  for (const file of ['src/index.js', 'src/worker.js', 'src/index.d.ts', 'src/worker.d.ts', 'src/sw-sync.js']) {
    assert.ok(files.includes(file), `missing ${file}`);
  }
  // Every target of `exports` (and `types`) is in the tarball.
  /** @param {unknown} target @returns {string[]} */
  const targets = (target) => (typeof target === 'string' ? [target]
    : Object.values(/** @type {object} */ (target)).flatMap(targets));
  for (const target of [...targets(manifest.exports), manifest.types]) {
    assert.ok(files.includes(target.replace(/^\.\//, '')), `exports target ${target} is not packed`);
  }
  assert.equal(Object.keys(manifest.dependencies ?? {}).length, 0, 'no runtime dependencies');
});

test('an ES module imports the page and worker entries of the installed package under node', () => {
  writeFileSync(join(app, 'check.mjs'), `
import { createRequire } from 'node:module';
import * as page from '${NAME}';
import * as worker from '${NAME}/worker';
const require = createRequire(import.meta.url);
let deep = 'exported';
try { await import('${NAME}/src/local/db.js'); } catch (error) { deep = error.code; }
console.log(JSON.stringify({
  page: Object.fromEntries(Object.entries(page).map(([k, v]) => [k, typeof v])),
  worker: Object.fromEntries(Object.entries(worker).map(([k, v]) => [k, typeof v])),
  version: require('${NAME}/package.json').version,
  classic: require.resolve('${NAME}/sw-sync.js'),
  deep,
}));
`);
  const seen = JSON.parse(run(process.execPath, ['check.mjs'], app));
  seenExports = seen;
  for (const name of ['createSyncClient', 'openDatabase', 'replayOutbox', 'mergePatch']) {
    assert.equal(seen.page[name], 'function', `page entry: ${name}`);
  }
  for (const name of ['installSyncHandlers', 'registerAppShell', 'replayOutbox', 'countOutbox']) {
    assert.equal(seen.worker[name], 'function', `worker entry: ${name}`);
  }
  assert.equal(seen.worker.OUTBOX_SYNC_TAG, 'string');
  assert.equal(seen.worker.createSyncClient, undefined, 'the worker entry leaves the page client out');
  assert.equal(seen.version, manifest.version);
  // Installed, not resolved back into this repository.
  assert.equal(seen.classic, join(app, 'node_modules', ...NAME.split('/'), 'src', 'sw-sync.js'));
  assert.equal(seen.deep, 'ERR_PACKAGE_PATH_NOT_EXPORTED', 'only the documented entry points are exported');
});

test('an app type-checks against the installed package\'s types (both entries)', () => {
  const installed = join(app, 'node_modules', ...NAME.split('/'));
  assert.ok(existsSync(join(installed, manifest.types)), manifest.types);
  writeFileSync(join(app, 'page.ts'), `
import { createSyncClient, SpaceError, type SyncClient, type LocalRecord, type SpaceMode } from '${NAME}';
export async function start(): Promise<LocalRecord | null> {
  const sync: SyncClient = await createSyncClient({ space: 'team-1', url: '/' });
  return sync.collection<{ title: string }>('todos').put('t1', { title: 'milk' });
}
export async function many(): Promise<number> {
  const sync = await createSyncClient({ spaces: 'token', token: async () => 'jwt' });
  const listed = await createSyncClient({ spaces: ['a', 'b'] });
  await listed.follow('c');
  listed.unfollow('c');
  const team = sync.space(sync.spaces[0]);
  const mode: SpaceMode | undefined = team.mode;
  team.on('status', (status) => status.length);
  sync.on('space-revoked', (event) => event.deadLetters + event.dropped);
  sync.on('space-added', (event) => event.space);
  try {
    await team.collection<{ title: string }>('todos').put('t1', { title: 'milk' });
  } catch (error) {
    if (error instanceof SpaceError && error.code === 'forbidden') return mode === 'r' ? 0 : 1;
  }
  return team.pending();
}
// @ts-expect-error one space or many, not both
void createSyncClient({ space: 'a', spaces: ['b'] });
`);
  // What `syncserver types` writes: the record types of the declared collections.
  writeFileSync(join(app, 'collections.ts'), `
import { createSyncClient, SchemaInvalidError, type Collection } from '${NAME}';
export interface Todo { title: string; done?: boolean }
declare module '${NAME}' {
  interface CollectionTypes { todos: Todo }
}
export async function typed(): Promise<string> {
  const sync = await createSyncClient({ space: 'team-1', appVersion: 3 });
  const todos: Collection<Todo> = sync.collection('todos');
  await todos.put('t1', { title: 'milk' });
  // @ts-expect-error a todo's title is a string
  await todos.put('t2', { title: 5 });
  await sync.space('team-1').collection('todos').patch('t1', { done: true });
  // @ts-expect-error the patch is typed too
  await sync.space('team-1').collection('todos').patch('t1', { done: 'yes' });
  await sync.collection('notes').put('n1', { anything: [1] }); // undeclared here: untyped
  sync.on('upgraderequired', (event) => event.appVersion + (event.minAppVersion ?? 0));
  sync.on('collections', (declaration) => declaration.collections.todos?.schema);
  try {
    await todos.put('t3', { title: 'x' });
  } catch (error) {
    if (error instanceof SchemaInvalidError && error.code === 'schema_invalid') return error.pointer + error.detail;
  }
  return sync.declaration?.undeclared ?? 'none';
}
`);
  writeFileSync(join(app, 'sw.ts'), `
import { installSyncHandlers, registerAppShell, OUTBOX_SYNC_TAG } from '${NAME}/worker';
// @ts-expect-error the worker entry has no page client
import { createSyncClient } from '${NAME}/worker';
const tag: 'syncserver-outbox' = OUTBOX_SYNC_TAG;
installSyncHandlers({ url: '/', tag }).replay('app').then((summary) => summary.applied);
registerAppShell({ version: 'v1', precache: ['/'], routes: [{ match: 'navigate', strategy: 'network-first' }] });
void createSyncClient;
`);
  // Every name the entries export at run time (seen by the previous test) is declared.
  assert.ok(seenExports, 'the import test ran');
  writeFileSync(join(app, 'coverage.ts'), `
import * as page from '${NAME}';
import * as worker from '${NAME}/worker';
export const declared = [
${Object.keys(seenExports.page).map((n) => `  page.${n},`).join('\n')}
${Object.keys(seenExports.worker).map((n) => `  worker.${n},`).join('\n')}
];
`);
  // Vite and other bundlers ('bundler'), node's own ESM rules ('node16'), and older tools
  // that ignore `exports` ('node10', through `types` and `typesVersions`).
  for (const [moduleResolution, module] of [['bundler', 'ESNext'], ['node16', 'node16'], ['node10', 'ESNext']]) {
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        strict: true, noEmit: true, target: 'ES2022', module, moduleResolution, lib: ['ES2022', 'DOM'], types: [],
      },
      files: ['page.ts', 'sw.ts', 'coverage.ts', 'collections.ts'],
    }));
    run(process.execPath, [TSC, '-p', 'tsconfig.json'], app);
  }
});
