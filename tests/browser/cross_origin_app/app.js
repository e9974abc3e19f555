// A page whose sync server is on another origin (`?server=http://127.0.0.1:PORT/`), as
// docs/client.md shows for an app served from a CDN: the library from the page's own
// origin, every request to the server cross-origin (CORS), no service worker.
import { createSyncClient } from '/sync/index.js';

const params = new URLSearchParams(location.search);
const sync = await createSyncClient({
  space: params.get('space') ?? 'cross', url: params.get('server'), serviceWorker: false,
});
const notes = sync.collection('notes');
sync.on('status', (status) => { document.getElementById('status').textContent = status; });
sync.on('pending', (count) => { document.getElementById('pending').textContent = String(count); });
window.app = { sync, notes };
document.body.dataset.ready = 'true';
