// The demo: a todo list and a notes list on top of the syncserver page library. Everything
// the app shows comes from the local database, so it works the same online and offline.
// Todos use the server's default policy (merge); notes (`demo_notes`) are `manual` on the
// demo server: a note whose edit lost waits for the person to keep theirs or the other one.
import { createSyncClient } from '/sync/index.js';
import { conflictView, keyOf, markConflicts, renderList } from './lists.js';
import { mineOf, nameOf, stateWords, viewState } from './words.js';

const params = new URLSearchParams(location.search);
const space = params.get('space') || 'demo';
const user = params.get('user') || 'demo-user'; // who this page is, on a `--dev` server
const NOTES = 'demo_notes';

/** @param {string} id @returns {HTMLElement} */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

async function registerWorker() {
  if (!('serviceWorker' in navigator)) return;
  // ?sw=module runs the same worker as an ES module (Chromium supports module workers).
  const module = params.get('sw') === 'module';
  // updateViaCache 'none': update checks fetch the worker's imported scripts (the sync
  // library) past the HTTP cache too, so a server upgrade reaches the worker promptly.
  await navigator.serviceWorker.register(module ? '/sw-esm.js' : '/sw.js', {
    type: module ? 'module' : 'classic', updateViaCache: 'none',
  });
}

/**
 * The `token` option: on a server run with `syncserver serve --dev` (the README's quick
 * start), a token for the local user from the dev endpoint, asked again after a 401. A
 * server without that endpoint (404: `--auth none`) takes requests without one. A failure
 * carries what the client needs to judge the server (docs/client.md): no answer is a
 * network failure, a 5xx its status.
 * @returns {Promise<string | undefined>}
 */
async function devToken() {
  let response;
  try {
    response = await fetch('/v1/dev/token', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sub: user, spaces: [space] }), cache: 'no-store',
    });
  } catch (error) {
    throw Object.assign(/** @type {Error} */ (error), { network: true });
  }
  if (response.status === 404) return undefined;
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw Object.assign(new Error(`no dev token: ${body.detail || `HTTP ${response.status}`}`),
      { status: response.status, code: body.code });
  }
  return body.token;
}

/** @param {string} prefix */
const newId = (prefix) => `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

/**
 * Settle an open conflict of the notes list on the server (docs/protocol.md, Conflicts):
 * 'client' writes this device's edit as a new version, 'server' keeps the record. The
 * feed brings the outcome to every device; the log entry goes once the server agreed.
 * @param {import('/sync/index.js').SyncClient} sync
 * @param {import('/sync/index.js').ConflictLogEntry} entry
 * @param {'client' | 'server'} accept
 */
async function resolveConflict(sync, entry, accept) {
  if (entry.conflict_id === undefined) throw new Error('this conflict has no id');
  const response = await sync.request(`v1/conflicts/${entry.conflict_id}/resolve`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ accept }),
  });
  const body = await response.json().catch(() => ({}));
  // conflict_closed: someone settled it already (another device); nothing left to choose.
  if (!response.ok && body.code !== 'conflict_closed') throw new Error(body.detail || `HTTP ${response.status}`);
  await sync.clearConflicts([entry.n]);
  if (body.record) await sync.pull().catch(() => {}); // show the outcome even before the feed does
}

async function main() {
  const worker = registerWorker().catch((error) => console.warn('service worker not registered', error));
  const sync = await createSyncClient({ space, collections: ['todos', NOTES], token: devToken });
  const todos = sync.collection('todos');
  const notes = sync.collection(NOTES);
  /** What tests and curious developers can look at from the console. */
  const events = {
    conflicts: /** @type {any[]} */ ([]), rejected: /** @type {any[]} */ ([]),
    statuses: /** @type {string[]} */ ([]), replays: /** @type {any[]} */ ([]),
    changes: /** @type {any[]} */ ([]), resyncs: /** @type {any[]} */ ([]),
  };
  Object.assign(window, { app: { sync, todos, notes, events, worker } });

  $('space').textContent = space;
  $('client-id').textContent = sync.clientId;
  const showState = () => {
    const state = viewState(sync.status, sync.pending);
    const words = stateWords(state, sync.pending);
    $('sync-state').dataset.state = state;
    $('status').dataset.status = sync.status;
    $('status').textContent = words.label;
    $('status-detail').textContent = words.detail;
    $('pending').dataset.count = String(sync.pending);
    $('pending').textContent = `${sync.pending} waiting`;
    $('pending').title = `${sync.pending} changes saved on this device, not yet on the server`;
  };
  sync.on('status', (status) => { events.statuses.push(status); showState(); });
  sync.on('pending', showState);
  showState();

  const remote = new Set();
  sync.on('replay', (event) => events.replays.push(event));
  // The server asked for a resync (e.g. its database was restored): the local copy was
  // dropped and is pulled again; writes still queued stay on top.
  sync.on('resync', (event) => events.resyncs.push(event));
  sync.on('change', (event) => {
    events.changes.push({ ...event, at: Date.now() });
    if (event.origin === 'remote') for (const r of event.records) remote.add(keyOf(r.collection, r.id));
  });

  const resolve = async (/** @type {any} */ entry, /** @type {'client' | 'server'} */ accept) => {
    await resolveConflict(sync, entry, accept);
    await renderLogs();
  };
  const views = [
    { list: /** @type {HTMLUListElement} */ ($('todos')), empty: $('empty'), collection: todos, checkbox: true, resolve },
    { list: /** @type {HTMLUListElement} */ ($('notes')), empty: $('notes-empty'), collection: notes, checkbox: false, resolve },
  ];
  /** @type {Map<string, any[]>} */
  let byItem = new Map();
  let logsRun = 0;

  async function renderLogs() {
    // Calls overlap (every change and conflict asks for one): only the latest may draw, or
    // a read from before a conflict was settled could bring its marker back.
    const run = ++logsRun;
    const conflicts = (await sync.conflicts()).filter((c) => c.mutation.space === space);
    const dead = await sync.deadLetters();
    if (run !== logsRun) return;
    byItem = new Map();
    for (const c of conflicts) {
      const key = keyOf(c.mutation.collection, c.mutation.id);
      byItem.set(key, [...(byItem.get(key) ?? []), c]);
    }
    for (const view of views) markConflicts(view, byItem);
    $('conflicts-panel').hidden = conflicts.length === 0;
    $('clear-conflicts').hidden = !conflicts.some((c) => c.code !== 'conflict_open');
    // The full story (and the choice) is on the item; here, a line per conflict that leads
    // there. A conflict whose item is gone (deleted) is told in full here.
    $('conflicts').replaceChildren(...conflicts.map((c) => {
      const li = document.createElement('li');
      li.dataset.item = keyOf(c.mutation.collection, c.mutation.id);
      const row = views.map((v) => v.collection.name === c.mutation.collection
        ? v.list.querySelector(`:scope > li[data-id="${CSS.escape(c.mutation.id)}"]`) : null).find(Boolean);
      if (!row) {
        li.append(conflictView(c, resolve));
        return li;
      }
      const show = Object.assign(document.createElement('button'), {
        type: 'button', className: 'quiet show-item', textContent: 'Show',
      });
      show.addEventListener('click', () => {
        row.classList.add('show-conflict');
        row.querySelector('.conflict-marker')?.setAttribute('aria-expanded', 'true');
        row.scrollIntoView({ block: 'center' });
      });
      const what = c.code === 'conflict_open' ? 'choose which version to keep' : "another device's change was kept";
      li.append(Object.assign(document.createElement('span'), {
        textContent: `${nameOf(mineOf(c) ?? c.record?.data, c.mutation.id)}: ${what}.`,
      }), show);
      return li;
    }));
    $('dead-panel').hidden = dead.length === 0;
    $('dead-letters').replaceChildren(...dead.map((d) => Object.assign(document.createElement('li'), {
      textContent: `The server refused ${d.mutation.op === 'delete' ? 'deleting' : 'saving'} ${d.mutation.data?.title ? `‘${d.mutation.data.title}’` : d.mutation.id}: ${d.message || d.code} (${d.code}).`,
    })));
  }

  for (const view of views) {
    view.collection.subscribe((records) => {
      renderList(view, records, remote, sync.clientId);
      markConflicts(view, byItem);
      if (byItem.size > 0) renderLogs(); // the panel links to rows that may be new
    });
  }
  sync.on('conflict', (event) => { events.conflicts.push(event); renderLogs(); });
  sync.on('rejected', (event) => { events.rejected.push(event); renderLogs(); });
  renderLogs();
  $('clear-conflicts').addEventListener('click', async () => {
    // Open choices stay: dismissing must not hide a conflict that still waits on the server.
    const settled = (await sync.conflicts()).filter((c) => c.code !== 'conflict_open').map((c) => c.n);
    await sync.clearConflicts(settled);
    renderLogs();
  });
  $('clear-dead').addEventListener('click', async () => { await sync.clearDeadLetters(); renderLogs(); });

  /** @param {string} formId @param {string} inputId @param {any} collection @param {string} prefix @param {object} extra */
  const addForm = (formId, inputId, collection, prefix, extra) => {
    $(formId).addEventListener('submit', async (event) => {
      event.preventDefault();
      const input = /** @type {HTMLInputElement} */ ($(inputId));
      const title = input.value.trim();
      if (!title) return;
      input.value = '';
      await collection.put(newId(prefix), { title, ...extra, created: new Date().toISOString() });
    });
  };
  addForm('new-todo', 'title', todos, 't', { done: false });
  addForm('new-note', 'note-title', notes, 'n', {});
  document.body.dataset.ready = 'true';
}

main().catch((error) => {
  console.error(error);
  $('status').textContent = `error: ${error.message}`;
});
