// Worker configuration shared by the classic (sw.js) and module (sw-esm.js) demo workers.
// A plain script that sets one global, so importScripts() and `import` both load it.
self.DEMO_SW_CONFIG = {
  // Bump to ship a new app shell: the install step precaches into a new cache and the
  // activate step deletes the old one.
  shell: {
    version: 'demo-v7',
    precache: [
      '/', '/index.html', '/app.js', '/lists.js', '/words.js', '/app.css', '/manifest.webmanifest',
      '/icons/icon-192.png', '/icons/icon-512.png',
      '/sync/index.js', '/sync/sync-client.js', '/sync/collection.js', '/sync/db.js', '/sync/hlc.js', '/sync/merge-patch.js', '/sync/ops.js',
      '/sync/store.js', '/sync/outbox.js', '/sync/results.js', '/sync/lock.js', '/sync/notify.js',
      '/sync/replay.js', '/sync/pull.js', '/sync/ws.js', '/sync/reach.js', '/sync/auth.js', '/sync/events.js',
      '/sync/rate.js', '/sync/replay-schedule.js', '/sync/poll.js', '/sync/refusal.js',
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
  sync: { url: '/' },
};
