// Shared set-up for the unit tests: a real IndexedDB implementation (fake-indexeddb runs the
// spec's algorithms in memory), one fresh database per test.
import 'fake-indexeddb/auto';
import { openDatabase } from '../src/local/db.js';

let counter = 0;

/**
 * @param {number} [version]
 * @returns {Promise<IDBDatabase>}
 */
export function freshDb(version) {
  counter += 1;
  return openDatabase({ name: `test-${process.pid}-${counter}`, version });
}

/**
 * A record as the server sends it.
 * @param {Partial<import('../src/local/store.js').ServerRecord>} fields
 */
export function serverRecord(fields) {
  return {
    space: 's1', collection: 'todos', id: 't1', version: 1, seq: 1, deleted: false,
    hlc: '1763756400000:00000:server', updated_at: 1763756400000, data: {}, ...fields,
  };
}
