// A minimal app of its own, using the client library the way docs/client.md shows: the
// library from /sync/ on the same origin, a worker of its own (sw.js) for Background Sync.
import { createSyncClient } from '/sync/index.js';

const params = new URLSearchParams(location.search);
const space = params.get('space') ?? 'notes';
// updateViaCache 'none': update checks refetch the worker and the library it imports.
if (params.get('sw') === 'module') {
  await navigator.serviceWorker.register('/sw-module.js', { type: 'module', updateViaCache: 'none' });
} else {
  await navigator.serviceWorker.register('/sw.js', { updateViaCache: 'none' });
}

const sync = await createSyncClient({ space });
const notes = sync.collection('notes');
const replays = [];
sync.on('replay', (event) => replays.push(event));
sync.on('status', (status) => { document.getElementById('status').textContent = status; });
sync.on('pending', (count) => { document.getElementById('pending').textContent = String(count); });

notes.subscribe((records) => {
  document.getElementById('notes').replaceChildren(...records.map((record) => {
    const item = document.createElement('li');
    item.textContent = record.data.text;
    return item;
  }));
});

document.getElementById('new-note').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = /** @type {HTMLInputElement} */ (document.getElementById('text'));
  await notes.put(crypto.randomUUID(), { text: input.value });
  input.value = '';
});

window.app = { sync, notes, replays };
document.body.dataset.ready = 'true';
