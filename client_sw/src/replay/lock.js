// Only one outbox replay may run at a time across all tabs and the service worker: two
// concurrent replays would send the same batch twice (harmless for the server, but both
// would then apply the same results and announce the same conflicts). The Web Locks API
// covers windows and workers; where it is missing, a lease in the shared database does.

import { getMeta, setMeta, transact } from '../local/db.js';

const LEASE_KEY = 'replay_lease';

/**
 * @param {number} ms
 * @returns {Promise<void>}
 */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * @typedef {object} LockOptions
 * @property {LockManager | null} [locks]  defaults to navigator.locks; null forces the lease
 * @property {number} [leaseMs]  how long a lease holder may go silent before it is presumed dead
 * @property {number} [pollMs]
 */

/**
 * Run `fn` while holding the replay lock of this database, waiting for it if needed.
 * @template T
 * @param {IDBDatabase} db
 * @param {() => Promise<T>} fn
 * @param {LockOptions} [options]
 * @returns {Promise<T>}
 */
export function withReplayLock(db, fn, options = {}) {
  const locks = options.locks === undefined ? globalThis.navigator?.locks : options.locks;
  if (locks) return /** @type {Promise<T>} */ (locks.request(`syncserver-replay:${db.name}`, fn));
  return withLease(db, fn, options.leaseMs ?? 30000, options.pollMs ?? 100);
}

/**
 * @param {IDBDatabase} db
 * @param {string} owner
 * @param {number} leaseMs
 * @returns {Promise<boolean>}
 */
function tryAcquire(db, owner, leaseMs) {
  return transact(db, ['meta'], 'readwrite', async (tx) => {
    const lease = await getMeta(tx, LEASE_KEY);
    const now = Date.now();
    if (lease && lease.owner !== owner && lease.expires > now) return false;
    await setMeta(tx, LEASE_KEY, { owner, expires: now + leaseMs });
    return true;
  });
}

/**
 * @template T
 * @param {IDBDatabase} db
 * @param {() => Promise<T>} fn
 * @param {number} leaseMs
 * @param {number} pollMs
 * @returns {Promise<T>}
 */
async function withLease(db, fn, leaseMs, pollMs) {
  const owner = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  while (!(await tryAcquire(db, owner, leaseMs))) await sleep(pollMs);
  // Renew while working: a slow network must not let a second replay start beside us.
  const renew = setInterval(() => { tryAcquire(db, owner, leaseMs).catch(() => {}); }, leaseMs / 3);
  try {
    return await fn();
  } finally {
    clearInterval(renew);
    await transact(db, ['meta'], 'readwrite', async (tx) => {
      const lease = await getMeta(tx, LEASE_KEY);
      if (lease?.owner === owner) await tx.objectStore('meta').delete(LEASE_KEY);
    }).catch(() => {});
  }
}
