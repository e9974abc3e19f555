// The one module that owns the IndexedDB schema and its upgrades. Pages and the service
// worker open the same database, so every change here must be an additive migration:
// never delete or recreate a store that can hold queued writes (Workbox's queue store is
// dropped on a version bump, which loses offline writes; we do not repeat that).

export const DEFAULT_DB_NAME = 'syncserver';

/**
 * The database of one user: `<base>~<user>` (the user key encoded, so any string is safe).
 * Without a user the base name is used as it always was, so existing data stays in place.
 * @param {string | undefined} user
 * @param {string} [base]
 * @returns {string}
 */
export function userDatabaseName(user, base = DEFAULT_DB_NAME) {
  return user ? `${base}~${encodeURIComponent(user)}` : base;
}

/**
 * Empty every store (records, outbox, dead letters, conflicts, cursors, meta: client id,
 * counters, token) in one transaction. The database itself stays, so the service worker's
 * open connection keeps working; the next use starts as a new install.
 * @param {IDBDatabase} db
 */
export function wipeDatabase(db) {
  const stores = Array.from(db.objectStoreNames);
  return transact(db, stores, 'readwrite', async (tx) => {
    for (const name of stores) await req(tx.objectStore(name).clear());
  });
}

/**
 * Ordered migrations; migration i brings the database from version i to version i + 1.
 * @type {Array<(db: IDBDatabase, tx: IDBTransaction) => void>}
 */
export const MIGRATIONS = [
  // v1: settings (client id, mutation counter, clock, cursors), the local copy of records
  // and the queue of writes not yet confirmed by the server.
  (db) => {
    db.createObjectStore('meta', { keyPath: 'key' });
    const records = db.createObjectStore('records', { keyPath: ['space', 'collection', 'id'] });
    records.createIndex('by_collection', ['space', 'collection']);
    db.createObjectStore('outbox', { keyPath: 'mid' });
  },
  // v2: look up the queued writes of one record (base versions, optimistic views), keep
  // rejected writes for the app to show, and keep a log of conflicts.
  (db, tx) => {
    tx.objectStore('outbox').createIndex('by_record', ['space', 'collection', 'id']);
    db.createObjectStore('dead_letters', { keyPath: 'mid' });
    db.createObjectStore('conflicts', { keyPath: 'n', autoIncrement: true });
  },
  // v3: a cursor per (space, collection filter). A filtered feed moves its cursor past the
  // changes of other collections, so one cursor per space made an unfiltered tab skip them.
  // The single cursor of v2 cannot be trusted by any filter: each space that had one is
  // marked for a resync (its confirmed copy is dropped and pulled again on first use; the
  // queued writes stay). Nothing else is touched.
  (db, tx) => {
    db.createObjectStore('cursors', { keyPath: ['space', 'filter'] });
    const meta = tx.objectStore('meta');
    const request = meta.openCursor(IDBKeyRange.bound('cursor:', 'cursor:\uffff'));
    request.onsuccess = () => {
      const row = request.result;
      if (!row) return;
      meta.put({ key: `resync:${String(row.value.key).slice('cursor:'.length)}`, value: 'client_upgrade' });
      row.delete();
      row.continue();
    };
  },
];

export const DB_VERSION = MIGRATIONS.length;

/**
 * Wrap an IDBRequest in a promise. Awaiting these inside a transaction keeps it alive:
 * the continuation runs as a microtask while the transaction is still active.
 * @template T
 * @param {IDBRequest<T>} request
 * @returns {Promise<T>}
 */
export function req(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/**
 * @typedef {object} OpenOptions
 * @property {string} [name]
 * @property {IDBFactory} [indexedDB]
 * @property {number} [version] only tests open an older version, to check upgrades
 */

/**
 * Open (and upgrade) the database.
 * @param {OpenOptions} [options]
 * @returns {Promise<IDBDatabase>}
 */
export function openDatabase(options = {}) {
  const name = options.name ?? DEFAULT_DB_NAME;
  const factory = options.indexedDB ?? globalThis.indexedDB;
  const version = options.version ?? DB_VERSION;
  return new Promise((resolve, reject) => {
    const request = factory.open(name, version);
    request.onupgradeneeded = (event) => {
      const db = request.result;
      const tx = /** @type {IDBTransaction} */ (request.transaction);
      for (let v = event.oldVersion; v < version; v++) MIGRATIONS[v](db, tx);
    };
    request.onsuccess = () => {
      const db = request.result;
      // Another tab or a newer worker wants to upgrade: step aside, or it stays blocked.
      db.onversionchange = () => db.close();
      resolve(db);
    };
    request.onerror = () => {
      // The database is newer than this code (a page updated the schema before this older
      // worker restarted). Migrations only add stores and indexes, so open it as it is.
      if (request.error?.name === 'VersionError') {
        request.onerror = null;
        const current = factory.open(name);
        current.onsuccess = () => {
          const db = current.result;
          db.onversionchange = () => db.close();
          resolve(db);
        };
        current.onerror = () => reject(current.error);
        return;
      }
      reject(request.error);
    };
    request.onblocked = () => {
      // An old connection has not closed yet; onsuccess follows once it does.
    };
  });
}

/**
 * A lazily (re)opened database, for long-lived owners such as a service worker whose
 * connection is closed when a page upgrades the schema.
 * @param {OpenOptions} [options]
 * @returns {{name: string, get: () => Promise<IDBDatabase>}}
 */
export function databaseHandle(options = {}) {
  /** @type {Promise<IDBDatabase> | null} */
  let current = null;
  return {
    name: options.name ?? DEFAULT_DB_NAME,
    get() {
      if (!current) {
        current = openDatabase(options).then((db) => {
          const forget = () => { current = null; };
          db.addEventListener('close', forget);
          db.onversionchange = () => { db.close(); forget(); };
          return db;
        }, (error) => { current = null; throw error; });
      }
      return current;
    },
  };
}

/**
 * Run `fn` in one transaction and resolve once it has committed. If `fn` throws, the
 * transaction is aborted so none of its writes persist.
 * @template T
 * @param {IDBDatabase} db
 * @param {string[]} stores
 * @param {IDBTransactionMode} mode
 * @param {(tx: IDBTransaction) => Promise<T>} fn
 * @returns {Promise<T>}
 */
export async function transact(db, stores, mode, fn) {
  const tx = db.transaction(stores, mode);
  const done = new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve(undefined);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('transaction aborted'));
  });
  let result;
  try {
    result = await fn(tx);
  } catch (error) {
    try { tx.abort(); } catch { /* already finished */ }
    await done.catch(() => {});
    throw error;
  }
  await done;
  return result;
}

/**
 * @param {IDBTransaction} tx
 * @param {string} key
 * @returns {Promise<any>}
 */
export async function getMeta(tx, key) {
  const row = await req(tx.objectStore('meta').get(key));
  return row ? row.value : undefined;
}

/**
 * @param {IDBTransaction} tx
 * @param {string} key
 * @param {unknown} value
 */
export async function setMeta(tx, key, value) {
  await req(tx.objectStore('meta').put({ key, value }));
}

/**
 * One meta value, in a transaction of its own.
 * @param {IDBDatabase} db
 * @param {string} key
 * @returns {Promise<any>}  undefined when none is stored
 */
export function readMetaValue(db, key) {
  return transact(db, ['meta'], 'readonly', (tx) => getMeta(tx, key));
}

/**
 * Store one meta value, or delete it (undefined), in a transaction of its own.
 * @param {IDBDatabase} db
 * @param {string} key
 * @param {unknown} value
 */
export function writeMetaValue(db, key, value) {
  return transact(db, ['meta'], 'readwrite', async (tx) => {
    if (value === undefined) await req(tx.objectStore('meta').delete(key));
    else await setMeta(tx, key, value);
  });
}

/** @returns {string} */
function newClientId() {
  if (globalThis.crypto?.randomUUID) return `c-${globalThis.crypto.randomUUID()}`;
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  return `c-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/**
 * The stable id of this install, created on first use inside the meta store so the pages
 * and the worker agree on it.
 * @param {IDBDatabase} db
 * @returns {Promise<string>}
 */
export function getClientId(db) {
  return transact(db, ['meta'], 'readwrite', async (tx) => {
    let id = await getMeta(tx, 'client_id');
    if (!id) {
      id = newClientId();
      await setMeta(tx, 'client_id', id);
    }
    return id;
  });
}

/**
 * The key of a collection filter: '' for none (or an empty list), else the sorted distinct
 * names joined by ',' (names cannot contain a comma), so ['b', 'a'] and ['a', 'b'] share one
 * cursor.
 * @param {string[] | undefined} collections
 * @returns {string}
 */
export function filterKey(collections) {
  return [...new Set(collections ?? [])].sort().join(',');
}

/**
 * @param {IDBTransaction} tx  with the cursors store
 * @param {string} space
 * @param {string[]} [collections]
 * @returns {Promise<string>}
 */
export async function readCursor(tx, space, collections) {
  const row = await req(tx.objectStore('cursors').get([space, filterKey(collections)]));
  return row?.cursor ?? '';
}

/**
 * @param {IDBTransaction} tx  with the cursors store
 * @param {string} space
 * @param {string} cursor
 * @param {string[]} [collections]
 */
export async function writeCursor(tx, space, cursor, collections) {
  await req(tx.objectStore('cursors').put({ space, filter: filterKey(collections), cursor }));
}

/**
 * The stored cursor of a space's feed under a collection filter ('' when none).
 * @param {IDBDatabase} db
 * @param {string} space
 * @param {string[]} [collections]
 * @returns {Promise<string>}
 */
export function getCursor(db, space, collections) {
  return transact(db, ['cursors'], 'readonly', (tx) => readCursor(tx, space, collections));
}

/**
 * @param {IDBDatabase} db
 * @param {string} space
 * @param {string} cursor
 * @param {string[]} [collections]
 */
export function setCursor(db, space, cursor, collections) {
  return transact(db, ['cursors'], 'readwrite', (tx) => writeCursor(tx, space, cursor, collections));
}
