// Bearer tokens for push, pull, conflicts and the WebSocket hello, and the auth pause that
// both pages and the service worker honour. The current token and the pause live in the
// database's meta store: the worker replays the outbox while no page is open, so it can
// only use a token a page left there (docs/client.md, "Tokens and the service worker").

import { getMeta, req, setMeta, transact } from '../local/db.js';

export const TOKEN_KEY = 'auth_token';
export const PAUSE_KEY = 'auth_paused';

/**
 * Why replay is paused: the server refused the token (401) or a space (403).
 * @typedef {object} AuthPause
 * @property {number} status  401 or 403
 * @property {string} code  'unauthorized' or 'forbidden' (the server's problem code)
 * @property {string} [space]  the space refused, when the server named one
 */

/**
 * Where a request gets its token: `get` the current one, `refresh` after a 401 (undefined
 * when no newer token can be had, and the request is not retried).
 * @typedef {object} TokenSource
 * @property {() => Promise<string | undefined>} get
 * @property {(failed: string | undefined) => Promise<string | undefined>} refresh
 */

/** @typedef {string | (() => string | null | undefined | Promise<string | null | undefined>)} TokenOption */

/**
 * @param {IDBDatabase} db
 * @param {string | undefined} token  undefined forgets it
 */
export function storeToken(db, token) {
  return transact(db, ['meta'], 'readwrite', async (tx) => {
    if (token) await setMeta(tx, TOKEN_KEY, token);
    else await req(tx.objectStore('meta').delete(TOKEN_KEY));
  });
}

/**
 * @param {IDBDatabase} db
 * @returns {Promise<string | undefined>}
 */
export function readToken(db) {
  return transact(db, ['meta'], 'readonly', (tx) => getMeta(tx, TOKEN_KEY));
}

/**
 * @param {IDBDatabase} db
 * @returns {Promise<AuthPause | undefined>}
 */
export function readPause(db) {
  return transact(db, ['meta'], 'readonly', (tx) => getMeta(tx, PAUSE_KEY));
}

/**
 * @param {IDBDatabase} db
 * @param {AuthPause | undefined} pause  undefined lifts it
 */
export function writePause(db, pause) {
  return transact(db, ['meta'], 'readwrite', async (tx) => {
    if (pause) await setMeta(tx, PAUSE_KEY, pause);
    else await req(tx.objectStore('meta').delete(PAUSE_KEY));
  });
}

/**
 * The worker's tokens: whatever a page stored last. After a 401 it looks again, in case a
 * page stored a newer token meanwhile; the same token is not worth a retry.
 * @param {IDBDatabase} db
 * @returns {TokenSource}
 */
export function storedTokens(db) {
  return {
    get: () => readToken(db),
    async refresh(failed) {
      const token = await readToken(db);
      return token && token !== failed ? token : undefined;
    },
  };
}

/**
 * The page's tokens from the `token` option: a string, or a function called on first use
 * and again after each 401. Every token obtained is stored for the worker.
 * @param {TokenOption | undefined} option
 * @param {IDBDatabase} db
 */
export function pageTokens(option, db) {
  /** @type {string | undefined} */
  let current;
  let fetched = false;
  const source = {
    option,
    async call() {
      const value = typeof source.option === 'function' ? await source.option() : source.option;
      current = value || undefined;
      fetched = true;
      await storeToken(db, current);
      return current;
    },
    /** @returns {Promise<string | undefined>} */
    async get() {
      if (!fetched && source.option !== undefined) return source.call();
      return current;
    },
    /** @param {string | undefined} _failed */
    async refresh(_failed) {
      // A fixed string cannot get better by asking again.
      return typeof source.option === 'function' ? source.call() : undefined;
    },
    /** @param {TokenOption | undefined} next */
    set(next) { source.option = next; fetched = false; current = undefined; },
  };
  return source;
}

/**
 * @param {RequestInit} init
 * @param {string | undefined} token
 * @returns {RequestInit}
 */
function withBearer(init, token) {
  if (!token) return init;
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return { ...init, headers };
}

/**
 * Fetch with the current token; after a 401, ask for a new one once and retry once.
 * @param {(url: string, init: RequestInit) => Promise<Response>} doFetch
 * @param {string} url
 * @param {RequestInit} init
 * @param {TokenSource | undefined} tokens
 * @returns {Promise<Response>}
 */
export async function fetchWithToken(doFetch, url, init, tokens) {
  const token = await tokens?.get();
  const response = await doFetch(url, withBearer(init, token));
  if (response.status !== 401 || !tokens) return response;
  const fresh = await tokens.refresh(token);
  if (!fresh) return response;
  await response.body?.cancel().catch(() => {});
  return doFetch(url, withBearer(init, fresh));
}

/**
 * The pause a refused response means, or undefined when it is not an auth refusal.
 * @param {Response} response
 * @param {{code?: string, space?: string}} [problem]
 * @returns {AuthPause | undefined}
 */
export function pauseOf(response, problem = {}) {
  if (response.status !== 401 && response.status !== 403) return undefined;
  /** @type {AuthPause} */
  const pause = { status: response.status, code: problem.code ?? (response.status === 401 ? 'unauthorized' : 'forbidden') };
  if (problem.space) pause.space = problem.space;
  return pause;
}

export class AuthError extends Error {
  /** @param {AuthPause} pause */
  constructor(pause) {
    super(`the server refused the token: ${pause.status} ${pause.code}`);
    this.name = 'AuthError';
    this.pause = pause;
  }
}
