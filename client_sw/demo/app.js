// The demo: a todo list on top of the syncserver page library. Everything the app shows
// comes from the local database, so it works the same online and offline.
import { createSyncClient } from '/sync/index.js';

const params = new URLSearchParams(location.search);
const space = params.get('space') || 'demo';

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

/** @param {string} prefix */
const newId = (prefix) => `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

/**
 * @param {HTMLUListElement} list
 * @param {import('/sync/index.js').LocalRecord[]} todos
 * @param {Set<string>} remote  ids changed by another device, to highlight
 * @param {import('/sync/index.js').Collection} collection
 * @param {string} clientId
 */
function render(list, todos, remote, collection, clientId) {
  const seen = new Set();
  for (const todo of todos.sort((a, b) => String(a.data.created ?? '').localeCompare(String(b.data.created ?? '')) || a.id.localeCompare(b.id))) {
    seen.add(todo.id);
    let item = /** @type {HTMLLIElement | null} */ (list.querySelector(`li[data-id="${CSS.escape(todo.id)}"]`));
    if (!item) {
      item = document.createElement('li');
      item.dataset.id = todo.id;
      const done = Object.assign(document.createElement('input'), { type: 'checkbox', className: 'done', title: 'done' });
      done.addEventListener('change', () => collection.patch(todo.id, { done: done.checked }));
      const title = Object.assign(document.createElement('input'), { type: 'text', className: 'title', maxLength: 200 });
      title.setAttribute('aria-label', 'title');
      title.addEventListener('change', () => collection.patch(todo.id, { title: title.value }));
      const badge = Object.assign(document.createElement('span'), { className: 'badge', textContent: 'not synced' });
      const remove = Object.assign(document.createElement('button'), { type: 'button', className: 'delete', textContent: '×', title: 'delete' });
      remove.addEventListener('click', () => collection.delete(todo.id));
      item.append(done, title, badge, remove);
    }
    list.append(item); // keeps the sorted order; moving a node keeps its focus and listeners
    const done = /** @type {HTMLInputElement} */ (item.querySelector('.done'));
    const title = /** @type {HTMLInputElement} */ (item.querySelector('.title'));
    done.checked = Boolean(todo.data.done);
    if (document.activeElement !== title) title.value = String(todo.data.title ?? '');
    item.classList.toggle('done', Boolean(todo.data.done));
    item.dataset.pending = String(todo.pending);
    item.dataset.version = String(todo.version);
    // Our own writes come back over the feed too; only highlight other devices' changes.
    if (remote.has(todo.id) && !String(todo.hlc ?? '').endsWith(`:${clientId}`)) {
      item.classList.add('remote');
      setTimeout(() => item?.classList.remove('remote'), 1500);
    }
  }
  for (const item of [...list.querySelectorAll('li')]) if (!seen.has(item.dataset.id ?? '')) item.remove();
  $('empty').hidden = todos.length > 0;
  remote.clear();
}

/** @param {import('/sync/index.js').SyncClient} sync */
async function renderLogs(sync) {
  const conflicts = await sync.conflicts();
  $('conflicts-panel').hidden = conflicts.length === 0;
  $('conflicts').replaceChildren(...conflicts.map((c) => Object.assign(document.createElement('li'), {
    textContent: `"${c.mutation.data?.title ?? c.mutation.op}" lost to "${c.record?.data?.title ?? 'deleted'}" (${c.code ?? c.status})`,
  })));
  const dead = await sync.deadLetters();
  $('dead-panel').hidden = dead.length === 0;
  $('dead-letters').replaceChildren(...dead.map((d) => Object.assign(document.createElement('li'), {
    textContent: `${d.mutation.op} ${d.mutation.id}: ${d.code} ${d.message}`,
  })));
}

async function main() {
  const worker = registerWorker().catch((error) => console.warn('service worker not registered', error));
  const sync = await createSyncClient({ space, collections: ['todos'] });
  const todos = sync.collection('todos');
  /** What tests and curious developers can look at from the console. */
  const events = {
    conflicts: /** @type {any[]} */ ([]), rejected: /** @type {any[]} */ ([]),
    statuses: /** @type {string[]} */ ([]), replays: /** @type {any[]} */ ([]),
    changes: /** @type {any[]} */ ([]), resyncs: /** @type {any[]} */ ([]),
  };
  Object.assign(window, { app: { sync, todos, events, worker } });

  $('space').textContent = space;
  $('client-id').textContent = sync.clientId;
  const showStatus = (/** @type {string} */ status) => {
    $('status').dataset.status = status;
    $('status').textContent = status.replace(/-/g, ' ');
    events.statuses.push(status);
  };
  const showPending = (/** @type {number} */ n) => {
    $('pending').dataset.count = String(n);
    $('pending').textContent = `${n} pending`;
  };
  sync.on('status', showStatus);
  sync.on('pending', showPending);
  showStatus(sync.status);
  showPending(sync.pending);

  const remote = new Set();
  sync.on('replay', (event) => events.replays.push(event));
  // The server asked for a resync (e.g. its database was restored): the local copy was
  // dropped and is pulled again; writes still queued stay on top.
  sync.on('resync', (event) => events.resyncs.push(event));
  sync.on('change', (event) => {
    events.changes.push({ ...event, at: Date.now() });
    if (event.origin === 'remote') for (const r of event.records) remote.add(r.id);
  });
  const list = /** @type {HTMLUListElement} */ ($('todos'));
  todos.subscribe((records) => render(list, records, remote, todos, sync.clientId));

  sync.on('conflict', (event) => { events.conflicts.push(event); renderLogs(sync); });
  sync.on('rejected', (event) => { events.rejected.push(event); renderLogs(sync); });
  renderLogs(sync);
  $('clear-conflicts').addEventListener('click', async () => { await sync.clearConflicts(); renderLogs(sync); });
  $('clear-dead').addEventListener('click', async () => { await sync.clearDeadLetters(); renderLogs(sync); });

  const form = /** @type {HTMLFormElement} */ ($('new-todo'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = /** @type {HTMLInputElement} */ ($('title'));
    const title = input.value.trim();
    if (!title) return;
    input.value = '';
    await todos.put(newId('t'), { title, done: false, created: new Date().toISOString() });
  });
  document.body.dataset.ready = 'true';
}

main().catch((error) => {
  console.error(error);
  $('status').textContent = `error: ${error.message}`;
});
