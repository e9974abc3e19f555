// The same worker as an ES module: register('/sw-module.js', { type: 'module' }).
import { installSyncHandlers } from '/sync/worker.js';

installSyncHandlers({ url: '/' });
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
