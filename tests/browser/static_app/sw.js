// The app's own classic service worker: the library's worker part replays the outbox on
// Background Sync. Imported scripts need no Service-Worker-Allowed header; only the
// registered script's location bounds its scope.
importScripts('/sync/sw-sync.js');

self.SyncServerSW.installSyncHandlers({ url: '/' });
// Control the page at once, so that its writes are handed to Background Sync.
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
