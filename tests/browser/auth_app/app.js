// A test app that signs in: the test hands it a user and a token (a real app would get them
// from its sign-in flow), and the client keeps that user's data in the user's own database.
import { createSyncClient } from '/sync/index.js';

await navigator.serviceWorker.register('/sw.js', { updateViaCache: 'none' });

const events = { auth: [], logout: [], replay: [], 'rate-limited': [] };

/** @param {{space: string, user: string, token: string}} session */
async function signIn({ space, user, token }) {
  const sync = await createSyncClient({ space, user, token: async () => token });
  for (const type of Object.keys(events)) sync.on(type, (event) => events[type].push(event));
  sync.on('status', (status) => { document.getElementById('status').textContent = status; });
  window.app.sync = sync;
  window.app.notes = sync.collection('notes');
  return sync.db.name;
}

window.app = { signIn, events, sync: null, notes: null };
document.body.dataset.ready = 'true';
