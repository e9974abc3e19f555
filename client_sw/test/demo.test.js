// The demo works offline only if its worker precaches every module the page loads.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import test from 'node:test';
import vm from 'node:vm';

const root = new URL('..', import.meta.url);

/**
 * Every module reachable from a file through static relative imports.
 * @param {string} file  path relative to src/
 * @param {Set<string>} seen
 */
function moduleGraph(file, seen = new Set(), dir = 'src') {
  if (seen.has(file)) return seen;
  seen.add(file);
  const source = readFileSync(new URL(`${dir}/${file}`, root), 'utf8');
  for (const match of source.matchAll(/^(?:import|export) [^;]*? from '\.\/([\w.-]+\.js)';$/gm)) {
    moduleGraph(match[1], seen, dir);
  }
  return seen;
}

test('the demo worker precaches every module of the page library and the app', () => {
  const scope = { self: /** @type {any} */ ({}) };
  vm.runInNewContext(readFileSync(new URL('demo/sw-config.js', root), 'utf8'), scope);
  const precache = new Set(scope.self.DEMO_SW_CONFIG.shell.precache);
  for (const file of moduleGraph('index.js')) assert.ok(precache.has(`/sync/${file}`), `/sync/${file}`);
  // The app's own modules too (app.js imports its views and words).
  for (const file of moduleGraph('app.js', new Set(), 'demo')) assert.ok(precache.has(`/${file}`), `/${file}`);
  for (const url of ['/', '/index.html', '/app.js', '/app.css', '/manifest.webmanifest']) {
    assert.ok(precache.has(url), url);
  }
  const html = readFileSync(new URL('demo/index.html', root), 'utf8');
  for (const [, url] of html.matchAll(/(?:href|src)="(\/[^"]+)"/g)) assert.ok(precache.has(url), url);
});
