// The collections the server declares (GET /v1/collections, net/collections.js), as a page
// client checks its writes against them before queuing them: a record that breaks its
// collection's JSON Schema, or a write to a collection the server does not take, throws a
// SchemaInvalidError at the call site, offline too (the last answer is kept in the
// database), and nothing is queued. The server checks again on push and stays the
// authority: a declaration this client has not heard of yet is the server's to enforce.

import { SchemaCheck } from '../local/schema-check.js';
import { fetchDeclaration, readDeclaration } from '../net/collections.js';

/** @typedef {import('../net/collections.js').Declaration} Declaration */

// How long a first start (no copy kept yet) waits for GET /v1/collections.
const FIRST_ANSWER_WAIT_MS = 3000;
/** @typedef {import('../net/collections.js').StoredDeclaration} StoredDeclaration */
/** @typedef {import('../local/store.js').RecordRow} RecordRow */

/**
 * A write the declared collections refuse, before anything was queued: `schema_invalid`
 * (the record as it would be stored breaks its collection's schema at `pointer`) or
 * `unknown_collection` (the server takes no writes to a collection it does not declare).
 */
export class SchemaInvalidError extends Error {
  /**
   * @param {'schema_invalid' | 'unknown_collection'} code
   * @param {{collection: string, id: string, pointer?: string, detail: string, message: string}} about
   */
  constructor(code, about) {
    super(about.message);
    this.name = 'SchemaInvalidError';
    this.code = code;
    this.collection = about.collection;
    this.id = about.id;
    /** RFC 6901 pointer into the record's data ("" for the record itself) */
    this.pointer = about.pointer ?? '';
    /** the validator's words alone (the server's wording) */
    this.detail = about.detail;
  }
}

/**
 * What the declaration needs of its page client (page/sync-client.js).
 * @typedef {object} DeclaredHost
 * @property {IDBDatabase} db
 * @property {string} url
 * @property {import('../net/auth.js').TokenSource} tokens
 * @property {boolean} closed
 * @property {(type: string, event: unknown) => void} emit
 * @property {import('./versions.js').AppVersions} versions  told each answer of the server
 */

export class DeclaredCollections {
  /** @param {DeclaredHost} host */
  constructor(host) {
    this.host = host;
    /** @type {StoredDeclaration | undefined} */
    this.stored = undefined;
    /** @type {Map<string, SchemaCheck | null>} compiled on first use */
    this.checks = new Map();
    /** @type {Promise<void> | null} */
    this.fetching = null;
    this.again = false;
  }

  /** @returns {Declaration | null} the declaration writes are checked against (null: none known yet) */
  get current() { return this.stored?.body ?? null; }

  /**
   * The copy the last session kept; without one, the server's answer is waited for, a few
   * seconds at most (a slow network must not keep the app from starting; until an answer
   * comes, writes go unchecked and the server checks them).
   */
  async start() {
    const stored = await readDeclaration(this.host.db);
    if (stored) this.use(stored);
    const asked = this.refresh();
    if (stored || globalThis.navigator?.onLine === false) return;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
    await Promise.race([asked, new Promise((resolve) => { timer = setTimeout(resolve, FIRST_ANSWER_WAIT_MS); })]);
    clearTimeout(timer);
  }

  /**
   * Ask the server again (coalesced: calls during a request make one more after it). Never
   * rejects: a failure keeps the copy held.
   * @returns {Promise<void>}
   */
  refresh() {
    if (this.fetching) {
      this.again = true;
      return this.fetching;
    }
    this.fetching = (async () => {
      try {
        do {
          this.again = false;
          if (this.host.closed) break;
          const { db, url, tokens } = this.host;
          try {
            const fresh = await fetchDeclaration({ db, url, tokens });
            if (this.host.closed) break;
            this.use(fresh);
            this.host.versions.declared(fresh.body);
          } catch {
            // Offline, the server away, a refused token (the feed and replay report it):
            // the copy held stays in force.
          }
        } while (this.again);
      } finally {
        this.fetching = null;
      }
    })();
    return this.fetching;
  }

  /** @param {StoredDeclaration} stored */
  use(stored) {
    const before = this.stored;
    const changed = !before || before.etag !== stored.etag
      || (stored.etag === null && JSON.stringify(before.body) !== JSON.stringify(stored.body));
    this.stored = stored;
    if (changed) {
      this.checks.clear();
      this.host.emit('collections', stored.body);
    }
  }

  /**
   * Refuse a write the declaration refuses whatever its data (a collection the server does
   * not take), and return the check of the record it leaves (undefined: nothing to check).
   * @param {import('../replay/outbox.js').WriteRequest} write
   * @returns {((record: RecordRow | null) => void) | undefined}
   */
  checkerFor(write) {
    const declaration = this.current;
    if (!declaration?.declared) return undefined;
    const { collection, id } = write;
    const spec = declaration.collections[collection];
    if (!spec) {
      if (declaration.undeclared !== 'reject') return undefined;
      const names = Object.keys(declaration.collections).sort().join(', ') || 'none';
      throw new SchemaInvalidError('unknown_collection', {
        collection, id, detail: `collection '${collection}' is not declared`,
        message: `collection '${collection}' is not declared by the server, which takes no writes to other collections (declared: ${names}): the write was not queued`,
      });
    }
    const check = this.compiled(collection, spec.schema);
    if (!check) return undefined;
    return (record) => {
      if (!record || record.deleted) return; // a tombstone is not checked
      // As the server will read it: JSON (a Date as its string, undefined fields gone).
      const problem = check.check(JSON.parse(JSON.stringify(record.data ?? {})));
      if (!problem) return;
      const where = problem.pointer === '' ? 'the record' : problem.pointer;
      throw new SchemaInvalidError('schema_invalid', {
        collection, id, pointer: problem.pointer, detail: problem.message,
        message: `${collection}/${id} does not match the collection's schema at ${where}: ${problem.message}; the write was not queued`,
      });
    };
  }

  /**
   * @param {string} collection
   * @param {Record<string, any> | null} schema
   * @returns {SchemaCheck | null}
   */
  compiled(collection, schema) {
    if (!this.checks.has(collection)) this.checks.set(collection, schema ? new SchemaCheck(schema) : null);
    return this.checks.get(collection) ?? null;
  }
}
