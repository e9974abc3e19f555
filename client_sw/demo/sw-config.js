// Worker configuration shared by the classic (sw.js) and module (sw-esm.js) demo workers.
// A plain script that sets one global, so importScripts() and `import` both load it.
self.DEMO_SW_CONFIG = {
  // Bump to ship a new app shell: the install step precaches into a new cache and the
  // activate step deletes the old one.
  shell: {
    version: 'demo-v12',
    precache: [
      '/', '/index.html', '/app.js', '/dev.js', '/lists.js', '/words.js', '/app.css', '/manifest.webmanifest',
      '/icons/icon-192.png', '/icons/icon-512.png',
      // The page library, module by module (test/demo.test.js checks the list is whole).
      '/sync/index.js',
      '/sync/page/sync-client.js', '/sync/page/collection.js', '/sync/page/events.js',
      '/sync/page/space.js', '/sync/page/follow.js', '/sync/page/status.js', '/sync/page/push.js',
      '/sync/page/declared.js', '/sync/page/versions.js',
      '/sync/local/db.js', '/sync/local/store.js', '/sync/local/hlc.js', '/sync/local/ops.js',
      '/sync/local/merge-patch.js', '/sync/local/notify.js', '/sync/local/spaces.js',
      '/sync/local/schema-check.js', '/sync/local/schema-index.js', '/sync/local/json-values.js',
      '/sync/net/auth.js', '/sync/net/endpoint.js', '/sync/net/rate.js', '/sync/net/reach.js',
      '/sync/net/spaces.js', '/sync/net/webpush.js', '/sync/net/collections.js',
      '/sync/replay/outbox.js', '/sync/replay/results.js', '/sync/replay/refusal.js', '/sync/replay/lock.js',
      '/sync/replay/replay.js', '/sync/replay/schedule.js', '/sync/replay/revoke.js', '/sync/replay/upgrade.js',
      '/sync/feed/pull.js', '/sync/feed/ws.js', '/sync/feed/poll.js', '/sync/feed/multipull.js',
      '/sync/feed/subscriptions.js',
    ],
    offlineFallback: '/offline.html',
    routes: [
      // The sync API is never cached: its answers are the source of truth.
      { match: '/v1/', strategy: 'network-only' },
      // Pages: the freshest version when online, the cached shell when not.
      { match: 'navigate', strategy: 'network-first' },
      // Icons and content-hashed files never change under the same URL.
      { match: /^\/icons\/|\.[0-9a-f]{8,}\.(js|css|png|svg|woff2)$/, strategy: 'cache-first' },
      // Code and styles: answer from the cache at once, refresh it in the background.
      { match: /\.(js|css|webmanifest)$/, strategy: 'stale-while-revalidate' },
    ],
  },
  sync: {
    url: '/',
    // The notification a push shows ("Notify me" in the page). A nudge has pulled the
    // changes into the user's database by now: say what came, and open that user's page.
    // The server's own messages (POST /v1/notify) keep their text: null is the default.
    onPush(changes) {
      if (changes.type !== 'sync') return null;
      const db = changes.databases[0] || '';
      const user = db.includes('~') ? decodeURIComponent(db.slice(db.indexOf('~') + 1)) : '';
      const own = changes.space === `user-${user}`;
      const query = new URLSearchParams(user ? { user } : {});
      if (!own) query.set('space', changes.space);
      const list = own ? 'your list' : `the shared list ${changes.space}`;
      const n = changes.records.length;
      const titles = changes.values.map((v) => v.data && v.data.title).filter(Boolean).slice(0, 3);
      return {
        title: n ? `${n} new ${n === 1 ? 'item' : 'items'} in ${list}` : `${list} is up to date`,
        body: titles.join(', '), url: `/?${query}`, tag: `demo:${changes.space}`, icon: '/icons/icon-192.png',
      };
    },
  },
};
