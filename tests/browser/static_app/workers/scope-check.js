// A worker served from a sub-path: registering it with scope '/' needs the server's
// Service-Worker-Allowed header.
self.addEventListener('install', () => self.skipWaiting());
