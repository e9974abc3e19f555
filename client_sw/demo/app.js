// The demo: two users (picked in the page), each with a private list, and a list they
// share, on top of the syncserver page library. One client follows both spaces over one
// socket and one outbox. Everything the app shows comes from the local database, so it
// works the same online and offline. Todos use the server's default policy (merge); notes
// (`demo_notes`, in the shared list) are `manual` on the demo server: a note whose edit
// lost waits for the person to keep theirs or the other one. On a `--dev` server the dev
// panel revokes a user's access to the shared list: their open pages drop it, live.
import { createSyncClient, SchemaInvalidError } from '/sync/index.js';
import { signIn, watchAccess } from './dev.js';
import { conflictView, keyOf, markConflicts, renderList } from './lists.js';
import { mineOf, nameOf, stateWords, viewState } from './words.js';

const params = new URLSearchParams(location.search);
const shared = params.get('space') || 'demo'; // the list both users share
const user = params.get('user') || 'alice'; // who this page is (a dev token's `sub`)
const own = `user-${user}`; // their private list: a dev token grants it to them only
const USERS = [...new Set(['alice', 'bob', user])];
const NOTES = 'demo_notes';
// The app's schema version, stamped on every write (docs/client.md, "App versions"): raise
// it with the collections file's app_version when the shape of the data changes.
const APP_VERSION = 1;

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

/** What a PushError means to the person who clicked "Notify me". */
const PUSH_WORDS = {
  unsupported: 'This browser cannot show notifications from this app.',
  denied: 'Notifications are blocked for this site: allow them in the site settings.',
  dismissed: 'No notifications: ask again any time.',
  disabled: 'The server does not send notifications (Web Push is not configured).',
  subscribe_failed: "The browser's push service could not be reached.",
  server: 'The server did not take the subscription; try again later.',
};

/**
 * "Notify me": permission is asked only when the person clicks, never on first visit.
 * Once on, a change made elsewhere while this app is closed shows a notification (the
 * worker's onPush, sw-config.js, writes it) and is already on this device when it opens.
 * @param {import('/sync/index.js').SyncClient} sync
 */
async function offerPush(sync) {
  const button = /** @type {HTMLButtonElement} */ ($('notify-me'));
  const state = $('notify-state');
  if (!('PushManager' in window) || !('Notification' in window)) return;
  const show = (/** @type {boolean} */ on, /** @type {string} */ words) => {
    button.dataset.enabled = String(on);
    button.textContent = on ? 'Stop notifications' : 'Notify me';
    state.textContent = words;
  };
  show(await sync.pushEnabled(), '');
  button.hidden = false;
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      if (button.dataset.enabled === 'true') {
        await sync.disablePush().catch(() => {}); // the browser's side is undone anyway
        show(false, 'Notifications are off on this device.');
      } else {
        await sync.enablePush();
        show(true, 'You will be notified of changes made elsewhere.');
      }
    } catch (error) {
      const code = /** @type {any} */ (error).code;
      show(false, PUSH_WORDS[/** @type {keyof typeof PUSH_WORDS} */ (code)] ?? /** @type {Error} */ (error).message);
    } finally {
      button.disabled = false;
    }
  });
}

/**
 * Load the newest version of the app: the browser checks for a new worker (sw.js, whose
 * shell version changes with every release), which takes over at once (skipWaiting and
 * clients.claim: registerAppShell's default) with the new app in its precache; then the
 * page reloads, served by it. Without a new worker (none registered, or none found), a plain
 * reload: navigations are network-first.
 */
async function reloadToUpdate() {
  const registration = await navigator.serviceWorker?.getRegistration().catch(() => undefined);
  if (registration) {
    const taken = new Promise((resolve) => {
      navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true });
      setTimeout(resolve, 10000); // no new worker after all: reload anyway
    });
    await registration.update().catch(() => {});
    if (registration.installing || registration.waiting) await taken;
  }
  location.reload();
}

/** The user picker: the same page as another user (their own database and token). */
function showUsers() {
  $('users').replaceChildren(...USERS.map((name) => {
    const link = Object.assign(document.createElement('a'), { textContent: name, className: 'user' });
    const query = new URLSearchParams(params);
    query.set('user', name);
    link.href = `?${query}`;
    if (name === user) link.setAttribute('aria-current', 'page');
    return link;
  }));
}

async function main() {
  showUsers();
  $('own-heading-name').textContent = `${user}'s list`;
  $('own-space').textContent = own;
  $('space').textContent = shared;
  $('user').textContent = user;
  const worker = registerWorker().catch((error) => console.warn('service worker not registered', error));
  // A `--dev` server: follow what the user's token grants ('token'), so that a revoked
  // space is dropped and a granted one added when the token changes. `--auth none`: no
  // tokens, no grants: follow the two lists by name.
  const server = await signIn(user, shared);
  const sync = await createSyncClient({
    spaces: server.dev ? 'token' : [own, shared], user, collections: ['todos', NOTES], token: server.token,
    appVersion: APP_VERSION,
  });
  // The server no longer takes this version's changes: ask for a reload (they are kept).
  const showUpgrade = () => { $('upgrade').hidden = false; };
  sync.on('upgraderequired', showUpgrade);
  if (sync.upgradeRequired) showUpgrade();
  $('reload').addEventListener('click', () => { reloadToUpdate(); });
  /** What tests and curious developers can look at from the console. */
  const events = {
    conflicts: /** @type {any[]} */ ([]), rejected: /** @type {any[]} */ ([]),
    statuses: /** @type {string[]} */ ([]), replays: /** @type {any[]} */ ([]),
    changes: /** @type {any[]} */ ([]), resyncs: /** @type {any[]} */ ([]),
    revoked: /** @type {any[]} */ ([]), added: /** @type {any[]} */ ([]),
  };
  const app = { sync, events, worker, user, shared, own, dev: server.dev,
    todos: /** @type {any} */ (null), notes: /** @type {any} */ (null), mine: /** @type {any} */ (null) };
  Object.assign(window, { app });

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
    if (event.origin === 'remote') for (const r of event.records) remote.add(keyOf(r.space, r.collection, r.id));
  });

  const resolve = async (/** @type {any} */ entry, /** @type {'client' | 'server'} */ accept) => {
    await resolveConflict(sync, entry, accept);
    await renderLogs();
  };
  /** A list on the page: a collection of a space, shown while the client follows the space. */
  const view = (/** @type {string} */ space, /** @type {string} */ name, /** @type {string} */ list, /** @type {string} */ empty, /** @type {boolean} */ checkbox) => ({
    space, name, checkbox, resolve,
    list: /** @type {HTMLUListElement} */ ($(list)), empty: $(empty),
    collection: /** @type {import('/sync/index.js').Collection | null} */ (null),
    off: /** @type {(() => void) | null} */ (null),
  });
  const views = [
    view(own, 'todos', 'mine', 'mine-empty', true),
    view(shared, 'todos', 'todos', 'empty', true),
    view(shared, NOTES, 'notes', 'notes-empty', false),
  ];
  const shown = () => views.filter((v) => v.collection !== null);
  /** @type {Map<string, any[]>} */
  let byItem = new Map();
  let logsRun = 0;

  async function renderLogs() {
    // Calls overlap (every change and conflict asks for one): only the latest may draw, or
    // a read from before a conflict was settled could bring its marker back.
    const run = ++logsRun;
    const conflicts = (await sync.conflicts()).filter((c) => sync.spaces.includes(c.mutation.space));
    const dead = await sync.deadLetters();
    if (run !== logsRun) return;
    byItem = new Map();
    for (const c of conflicts) {
      const key = keyOf(c.mutation.space, c.mutation.collection, c.mutation.id);
      byItem.set(key, [...(byItem.get(key) ?? []), c]);
    }
    for (const v of shown()) markConflicts(/** @type {any} */ (v), byItem);
    $('conflicts-panel').hidden = conflicts.length === 0;
    $('clear-conflicts').hidden = !conflicts.some((c) => c.code !== 'conflict_open');
    // The full story (and the choice) is on the item; here, a line per conflict that leads
    // there. A conflict whose item is gone (deleted) is told in full here.
    $('conflicts').replaceChildren(...conflicts.map((c) => {
      const li = document.createElement('li');
      li.dataset.item = keyOf(c.mutation.space, c.mutation.collection, c.mutation.id);
      const row = shown().map((v) => v.space === c.mutation.space && v.name === c.mutation.collection
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

  /**
   * Show the lists of a space the client follows (at start, or granted now), or say it is
   * not: revoked, its records gone from this device.
   * @param {string} space
   * @param {string} [why]  what happened, when it just did
   */
  function bind(space, why) {
    if (space !== own && space !== shared) return; // a space the demo has no list for
    const followed = sync.spaces.includes(space);
    for (const v of views.filter((v) => v.space === space)) {
      v.off?.();
      v.off = null;
      v.collection = followed ? sync.space(space).collection(v.name) : null;
      if (!v.collection) {
        v.list.replaceChildren();
        continue;
      }
      const shownView = /** @type {any} */ (v);
      v.off = v.collection.subscribe((records) => {
        renderList(shownView, records, remote, sync.clientId);
        markConflicts(shownView, byItem);
        if (byItem.size > 0) renderLogs(); // the panel links to rows that may be new
      });
    }
    const section = $(space === own ? 'own-list' : 'shared-list');
    section.dataset.access = followed ? 'granted' : 'none';
    $(space === own ? 'own-body' : 'shared-body').hidden = !followed;
    const notice = $(space === own ? 'own-gone' : 'shared-gone');
    notice.hidden = followed;
    if (followed) notice.textContent = '';
    else if (server.refused && !why) notice.textContent = `Not signed in as ${user}: ${server.refused}`;
    else {
      notice.textContent = `You (${user}) have no access to this list${why ? `: ${why}` : ''}.`
        + (server.dev ? ' It comes back when access is granted again (the dev panel below).' : '');
    }
    app.todos = views[1].collection;
    app.notes = views[2].collection;
    app.mine = views[0].collection;
    renderLogs();
  }
  sync.on('space-revoked', (event) => {
    events.revoked.push(event);
    const records = event.dropped === 1 ? '1 record was' : `${event.dropped} records were`;
    const writes = event.deadLetters ? `, and ${event.deadLetters} change(s) not yet sent are listed below as refused` : '';
    bind(event.space, `it was revoked, and its ${records} removed from this device${writes}`);
  });
  sync.on('space-added', (event) => { events.added.push(event); bind(event.space); });
  bind(own);
  bind(shared);

  sync.on('conflict', (event) => { events.conflicts.push(event); renderLogs(); });
  sync.on('rejected', (event) => { events.rejected.push(event); renderLogs(); });
  $('clear-conflicts').addEventListener('click', async () => {
    // Open choices stay: dismissing must not hide a conflict that still waits on the server.
    const settled = (await sync.conflicts()).filter((c) => c.code !== 'conflict_open').map((c) => c.n);
    await sync.clearConflicts(settled);
    renderLogs();
  });
  $('clear-dead').addEventListener('click', async () => { await sync.clearDeadLetters(); renderLogs(); });

  /** @param {string} formId @param {string} inputId @param {typeof views[number]} into @param {string} prefix @param {object} extra */
  const addForm = (formId, inputId, into, prefix, extra) => {
    $(formId).addEventListener('submit', async (event) => {
      event.preventDefault();
      const input = /** @type {HTMLInputElement} */ ($(inputId));
      const title = input.value.trim();
      if (!title || !into.collection) return;
      const refused = $('write-error');
      try {
        await into.collection.put(newId(prefix), { title, ...extra, created: new Date().toISOString() });
        input.value = '';
        refused.hidden = true;
      } catch (error) {
        // A SchemaInvalidError: the server's collections file refuses it (checked here,
        // offline too). A SpaceError: the list was revoked a moment ago (and is hidden now).
        if (!(error instanceof SchemaInvalidError)) { console.warn(/** @type {Error} */ (error).message); return; }
        refused.textContent = `Not saved: ${error.detail}${error.pointer ? ` (at ${error.pointer})` : ''}.`;
        refused.hidden = false;
      }
    });
  };
  addForm('new-mine', 'mine-title', views[0], 't', { done: false });
  addForm('new-todo', 'title', views[1], 't', { done: false });
  addForm('new-note', 'note-title', views[2], 'n', {});

  if (server.dev) {
    $('dev-panel').hidden = false;
    watchAccess({
      list: $('access'), users: USERS, me: user, space: shared,
      // A new version of the table says this user may (not) use the shared list, and the
      // client follows it (does not): take a new token now, and the client drops the list
      // (space-revoked) or adds it (space-added).
      changed: (table) => {
        const revoked = table.revoked.some((r) => r.sub === user && r.space === shared);
        if (revoked !== sync.spaces.includes(shared)) return;
        sync.resume().catch((error) => console.warn('taking a new token failed', error));
      },
    });
  }
  offerPush(sync).catch((error) => console.warn('push offer failed', error));
  document.body.dataset.ready = 'true';
}

main().catch((error) => {
  console.error(error);
  $('status').textContent = `error: ${error.message}`;
});
