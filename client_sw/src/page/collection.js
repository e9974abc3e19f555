// One collection of one space: the read and write API the app uses. Reads come from
// IndexedDB only; writes go through the client, which checks the space may be written,
// queues them and arranges delivery.

import { getRecord, listRecords } from '../local/store.js';

/** @typedef {import('../local/store.js').LocalRecord} LocalRecord */

export class Collection {
  /**
   * @param {import('./sync-client.js').SyncClient} client
   * @param {string} name
   * @param {string} space
   */
  constructor(client, name, space) {
    this.client = client;
    this.name = name;
    this.space = space;
  }

  /** @param {string} id @param {Record<string, unknown>} data */
  put(id, data) { return this.client.write({ space: this.space, collection: this.name, id, op: 'put', data }); }

  /** @param {string} id @param {Record<string, unknown>} patch  RFC 7396 merge patch */
  patch(id, patch) { return this.client.write({ space: this.space, collection: this.name, id, op: 'patch', data: patch }); }

  /** @param {string} id */
  delete(id) { return this.client.write({ space: this.space, collection: this.name, id, op: 'delete' }); }

  /** @param {string} id @returns {Promise<LocalRecord | null>} */
  get(id) { return getRecord(this.client.db, this.space, this.name, id); }

  /** @returns {Promise<LocalRecord[]>} */
  all() { return listRecords(this.client.db, this.space, this.name); }

  /**
   * @param {(record: LocalRecord) => boolean} predicate
   * @returns {Promise<LocalRecord[]>}
   */
  async query(predicate) { return (await this.all()).filter(predicate); }

  /**
   * Call `fn` with all records now and again after every change to this collection, in this
   * tab, another tab, the worker or the server (a revoked space's records are gone: `[]`).
   * @param {(records: LocalRecord[]) => void} fn
   * @returns {() => void} unsubscribe
   */
  subscribe(fn) {
    let running = false;
    let again = false;
    const refresh = async () => {
      if (running) { again = true; return; }
      running = true;
      try {
        do { again = false; fn(await this.all()); } while (again);
      } finally { running = false; }
    };
    const off = this.client.on('change', (event) => {
      if (event.records.some((/** @type {{space: string, collection: string}} */ r) => r.collection === this.name && r.space === this.space)) refresh();
    });
    refresh();
    return off;
  }
}
