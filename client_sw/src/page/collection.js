// One collection of the client's space: the read and write API the app uses. Reads come
// from IndexedDB only; writes go through the client, which queues them and arranges
// delivery.

import { getRecord, listRecords } from '../local/store.js';

/** @typedef {import('../local/store.js').LocalRecord} LocalRecord */

export class Collection {
  /**
   * @param {import('./sync-client.js').SyncClient} client
   * @param {string} name
   */
  constructor(client, name) {
    this.client = client;
    this.name = name;
  }

  /** @param {string} id @param {Record<string, unknown>} data */
  put(id, data) { return this.client.write({ collection: this.name, id, op: 'put', data }); }

  /** @param {string} id @param {Record<string, unknown>} patch  RFC 7396 merge patch */
  patch(id, patch) { return this.client.write({ collection: this.name, id, op: 'patch', data: patch }); }

  /** @param {string} id */
  delete(id) { return this.client.write({ collection: this.name, id, op: 'delete' }); }

  /** @param {string} id @returns {Promise<LocalRecord | null>} */
  get(id) { return getRecord(this.client.db, this.client.space, this.name, id); }

  /** @returns {Promise<LocalRecord[]>} */
  all() { return listRecords(this.client.db, this.client.space, this.name); }

  /**
   * @param {(record: LocalRecord) => boolean} predicate
   * @returns {Promise<LocalRecord[]>}
   */
  async query(predicate) { return (await this.all()).filter(predicate); }

  /**
   * Call `fn` with all records now and again after every change to this collection, in this
   * tab, another tab, the worker or the server.
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
      if (event.records.some((/** @type {{collection: string}} */ r) => r.collection === this.name)) refresh();
    });
    refresh();
    return off;
  }
}
