// The demo works offline only if its worker precaches every module the page loads.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import test from 'node:test';
import vm from 'node:vm';
import { reachable } from './module-graph.js';

const root = new URL('..', import.meta.url);

test('the demo worker precaches every module of the page library and the app', () => {
  const scope = { self: /** @type {any} */ ({}) };
  vm.runInNewContext(readFileSync(new URL('demo/sw-config.js', root), 'utf8'), scope);
  const precache = new Set(scope.self.DEMO_SW_CONFIG.shell.precache);
  for (const file of reachable('index.js')) assert.ok(precache.has(`/sync/${file}`), `/sync/${file}`);
  // The app's own modules too (app.js imports its views and words).
  for (const file of reachable('app.js', new URL('demo/', root))) assert.ok(precache.has(`/${file}`), `/${file}`);
  for (const url of ['/', '/index.html', '/app.js', '/app.css', '/manifest.webmanifest']) {
    assert.ok(precache.has(url), url);
  }
  const html = readFileSync(new URL('demo/index.html', root), 'utf8');
  for (const [, url] of html.matchAll(/(?:href|src)="(\/[^"]+)"/g)) assert.ok(precache.has(url), url);
});

test('every file the demo worker precaches exists (one missing URL fails the whole install)', () => {
  const scope = { self: /** @type {any} */ ({}) };
  vm.runInNewContext(readFileSync(new URL('demo/sw-config.js', root), 'utf8'), scope);
  for (const url of scope.self.DEMO_SW_CONFIG.shell.precache) {
    if (url === '/') continue;
    const file = url.startsWith('/sync/') ? `src/${url.slice('/sync/'.length)}` : `demo${url}`;
    assert.ok(existsSync(new URL(file, root)), `${url}: no ${file}`);
  }
});
