// The app's classic worker: replays the user's one outbox, whatever spaces its writes are in,
// with the token the user's pages stored in their database.
importScripts('/sync/sw-sync.js');

self.SyncServerSW.installSyncHandlers({ url: '/' });
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
