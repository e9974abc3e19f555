// A test app of many spaces. The test is the app's sign-in: it hands in a user and a token,
// and re-issues the token (refresh()) to grant or take away spaces; the client follows the
// spaces the token grants.
import { createSyncClient } from '/sync/index.js';

await navigator.serviceWorker.register('/sw.js', { updateViaCache: 'none' });

// Every WebSocket the page opens, counted: one for all the spaces.
let sockets = 0;
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(...args) { super(...args); sockets += 1; }
};

const events = { 'space-revoked': [], 'space-added': [], rejected: [], replay: [], auth: [] };

/** @param {{user: string, token: string}} session */
async function signIn({ user, token }) {
  window.app.token = token;
  const sync = await createSyncClient({ spaces: 'token', user, token: async () => window.app.token });
  for (const type of Object.keys(events)) sync.on(type, (event) => events[type].push(event));
  sync.on('status', (status) => { document.getElementById('status').textContent = status; });
  window.app.sync = sync;
  return sync.db.name;
}

/** A new token from the app's sign-in: the client takes it and follows what it grants. */
async function refresh(token) {
  window.app.token = token;
  await window.app.sync.resume();
}

/** @param {string} space @param {string} id @param {object} data */
const put = (space, id, data) => window.app.sync.space(space).collection('todos').put(id, data);

/** @param {string} space */
async function titles(space) {
  return (await window.app.sync.space(space).collection('todos').all()).map((r) => r.data.title).sort();
}

window.app = { signIn, refresh, put, titles, events, token: null, sync: null, sockets: () => sockets };
document.body.dataset.ready = 'true';
