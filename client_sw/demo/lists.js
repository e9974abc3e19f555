// The demo's lists (todos and notes, of a space) and the conflict shown on an item. Rendering
// updates rows in place: a row being edited keeps its focus and caret (rows are moved only
// when out of order, since moving a node takes its focus away).
import { conflictWords, mineOf, nameOf } from './words.js';

/**
 * @typedef {import('/sync/index.js').ConflictLogEntry} ConflictLogEntry
 * @typedef {object} ListView
 * @property {HTMLUListElement} list
 * @property {HTMLElement} empty
 * @property {import('/sync/index.js').Collection} collection
 * @property {boolean} checkbox  todos have a done box; notes do not
 * @property {(entry: ConflictLogEntry, accept: 'client' | 'server') => Promise<void>} resolve
 */

/** `space/collection/id`: how conflicts and remote changes are tied to rows. */
export const keyOf = (/** @type {string} */ space, /** @type {string} */ collection, /** @type {string} */ id) =>
  `${space}/${collection}/${id}`;

/**
 * A conflict in words, with "keep mine" / "keep theirs" when the person must choose.
 * @param {ConflictLogEntry} entry
 * @param {ListView['resolve']} resolve
 * @returns {HTMLElement}
 */
export function conflictView(entry, resolve) {
  const box = document.createElement('div');
  box.className = 'conflict';
  box.dataset.n = String(entry.n);
  box.dataset.code = entry.code ?? entry.status;
  const { text, choice } = conflictWords(entry);
  box.append(Object.assign(document.createElement('p'), { className: 'words', textContent: text }));
  if (choice) {
    const mine = mineOf(entry);
    const theirs = entry.record && !entry.record.deleted ? entry.record.data : null;
    const id = entry.mutation.id;
    const keepMine = button('keep-mine', `Keep mine: ${mine ? nameOf(mine, id) : 'deleted'}`);
    const keepTheirs = button('keep-theirs', `Keep theirs: ${theirs ? nameOf(theirs, id) : 'deleted'}`);
    const note = Object.assign(document.createElement('p'), { className: 'muted outcome' });
    const choose = async (/** @type {'client' | 'server'} */ accept) => {
      keepMine.disabled = keepTheirs.disabled = true;
      note.textContent = 'Saving your choice…';
      try {
        await resolve(entry, accept);
      } catch (error) {
        keepMine.disabled = keepTheirs.disabled = false;
        note.textContent = `Could not save your choice (${/** @type {Error} */ (error).message}); try again when the server is reachable.`;
      }
    };
    keepMine.addEventListener('click', () => choose('client'));
    keepTheirs.addEventListener('click', () => choose('server'));
    const row = document.createElement('div');
    row.className = 'choices';
    row.append(keepMine, keepTheirs);
    box.append(row, note);
  }
  return box;
}

/** @param {string} className @param {string} text */
function button(className, text) {
  return Object.assign(document.createElement('button'), { type: 'button', className, textContent: text });
}

/**
 * @param {ListView} view
 * @param {import('/sync/index.js').LocalRecord[]} records
 * @param {Set<string>} remote  rows changed by another device, to highlight once
 * @param {string} clientId
 */
export function renderList(view, records, remote, clientId) {
  const { list, collection } = view;
  const seen = new Set();
  const byAge = (/** @type {any} */ a, /** @type {any} */ b) =>
    String(a.data.created ?? '').localeCompare(String(b.data.created ?? '')) || a.id.localeCompare(b.id);
  // Only a row out of place is moved: a moved node loses the focus (and, below, the text
  // being typed in it), so a change arriving must leave the edited row where it is.
  let next = list.firstElementChild;
  for (const record of records.sort(byAge)) {
    seen.add(record.id);
    const item = rowFor(view, record.id);
    if (item === next) next = item.nextElementSibling;
    else list.insertBefore(item, next);
    const title = /** @type {HTMLInputElement} */ (item.querySelector('.title'));
    if (document.activeElement !== title) title.value = String(record.data.title ?? '');
    const done = /** @type {HTMLInputElement | null} */ (item.querySelector('.done'));
    if (done) done.checked = Boolean(record.data.done);
    item.classList.toggle('done', Boolean(record.data.done));
    item.dataset.pending = String(record.pending);
    item.dataset.version = String(record.version);
    // Our own writes come back over the feed too; only highlight other devices' changes.
    const key = keyOf(collection.space, collection.name, record.id);
    if (remote.has(key) && !String(record.hlc ?? '').endsWith(`:${clientId}`)) {
      item.classList.add('remote');
      setTimeout(() => item.classList.remove('remote'), 1500);
    }
    remote.delete(key);
  }
  for (const item of [...list.querySelectorAll(':scope > li')]) {
    if (!seen.has(item.dataset.id ?? '')) item.remove();
  }
  view.empty.hidden = records.length > 0;
}

/**
 * The row of a record, made on first sight.
 * @param {ListView} view
 * @param {string} id
 * @returns {HTMLLIElement}
 */
function rowFor(view, id) {
  const { list, collection } = view;
  let item = /** @type {HTMLLIElement | null} */ (list.querySelector(`:scope > li[data-id="${CSS.escape(id)}"]`));
  if (item) return item;
  item = document.createElement('li');
  item.dataset.id = id;
  const line = document.createElement('div');
  line.className = 'line';
  if (view.checkbox) {
    const done = Object.assign(document.createElement('input'), { type: 'checkbox', className: 'done', title: 'done' });
    done.addEventListener('change', () => collection.patch(id, { done: done.checked }));
    line.append(done);
  }
  const title = Object.assign(document.createElement('input'), { type: 'text', className: 'title', maxLength: 200 });
  title.setAttribute('aria-label', 'text');
  title.addEventListener('change', () => collection.patch(id, { title: title.value }));
  const badge = Object.assign(document.createElement('span'), { className: 'badge', textContent: 'not synced' });
  const marker = button('conflict-marker', '⚠ conflict');
  marker.hidden = true;
  marker.title = 'This item has a conflict: show it';
  marker.setAttribute('aria-expanded', 'false');
  marker.addEventListener('click', () => {
    const open = item?.classList.toggle('show-conflict') ?? false;
    marker.setAttribute('aria-expanded', String(open));
  });
  const remove = Object.assign(button('delete', '×'), { title: 'delete' });
  remove.addEventListener('click', () => collection.delete(id));
  line.append(title, badge, marker, remove);
  const details = document.createElement('div');
  details.className = 'conflicts-of-item';
  item.append(line, details);
  return item;
}

/**
 * Mark the rows that have conflicts and put each conflict's words under its row.
 * @param {ListView} view
 * @param {Map<string, ConflictLogEntry[]>} byItem
 */
export function markConflicts(view, byItem) {
  for (const item of view.list.querySelectorAll(':scope > li')) {
    const li = /** @type {HTMLLIElement} */ (item);
    const entries = byItem.get(keyOf(view.collection.space, view.collection.name, li.dataset.id ?? '')) ?? [];
    const marker = /** @type {HTMLButtonElement} */ (li.querySelector('.conflict-marker'));
    const details = /** @type {HTMLElement} */ (li.querySelector('.conflicts-of-item'));
    marker.hidden = entries.length === 0;
    li.classList.toggle('has-conflict', entries.length > 0);
    li.dataset.conflicts = String(entries.length);
    if (entries.length === 0) {
      li.classList.remove('show-conflict');
      marker.setAttribute('aria-expanded', 'false');
    }
    // Rebuild only when the set changed, so a click in progress is not lost.
    const shown = [...details.children].map((c) => /** @type {HTMLElement} */ (c).dataset.n).join();
    if (shown !== entries.map((e) => String(e.n)).join()) {
      details.replaceChildren(...entries.map((e) => conflictView(e, view.resolve)));
    }
  }
}
