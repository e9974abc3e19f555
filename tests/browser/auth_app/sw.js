// The app's classic worker: replays every user's outbox with the token that user's pages
// stored in their database.
importScripts('/sync/sw-sync.js');

self.SyncServerSW.installSyncHandlers({ url: '/' });
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
