// Replay the outbox to POST /v1/push in batches. Used by the service worker's Background
// Sync handler and, where that API is missing, by the pages. A network error or a 5xx
// leaves every entry in place and rejects, so Background Sync schedules a retry. A 429
// (the user's rate is spent) does too, after storing how long the server asked to wait:
// until then no replay sends anything (net/rate.js).

import { getClientId } from '../local/db.js';
import { fetchWithToken, pauseOf, readPause, writePause } from '../net/auth.js';
import { endpoint } from '../net/endpoint.js';
import { RateLimitError, limitOf, readLimit, writeLimit } from '../net/rate.js';
import { fetchOrFail } from '../net/reach.js';
import { withReplayLock } from './lock.js';
import { countOutbox, oneProtocol, protocolOf, readOutbox, toWireMutation } from './outbox.js';
import { holdsLoneSurrogate, readRefusal, writeRefusal } from './refusal.js';
import { applyPushResults, deadLetter } from './results.js';
import { isUpgradeRequired, readAppVersion, readUpgradePause, stampOf, writeUpgradePause } from './upgrade.js';

/** @typedef {import('../local/notify.js').Notifier} Notifier */

export class ReplayError extends Error {
  /**
   * @param {string} message
   * @param {number} [status]
   * @param {string} [code]  the answer's problem+json code, if any
   */
  constructor(message, status, code) {
    super(message);
    this.name = 'ReplayError';
    this.status = status;
    this.code = code;
  }
}

/**
 * @typedef {object} ReplayOptions
 * @property {IDBDatabase} db
 * @property {string} url  base URL of the sync server, e.g. '/' or 'https://sync.example/'
 * @property {typeof fetch} [fetch]
 * @property {number} [batchSize]
 * @property {Notifier} [notifier]
 * @property {string} [source]  who replays ('worker:sync', 'page'...), for status messages
 * @property {import('./lock.js').LockOptions} [lock]
 * @property {import('../net/auth.js').TokenSource} [tokens]  the bearer token of each push
 */

/**
 * @typedef {object} ReplaySummary
 * @property {number} sent
 * @property {number} applied
 * @property {number} conflicts
 * @property {number} merged
 * @property {number} rejected
 * @property {import('../net/auth.js').AuthPause} [paused]  replay stopped (or did not start) on an auth refusal
 * @property {import('./refusal.js').BatchRefusal} [refused]  replay stopped (or did not start):
 *   the server refused a batch as a whole (400)
 * @property {import('./upgrade.js').UpgradePause} [upgradeRequired]  replay stopped (or did
 *   not start): the server no longer takes writes of this app version (upgrade_required)
 */

/**
 * @param {Response} response
 * @returns {Promise<{code: string, detail: string, space?: string, field?: string}>}
 */
async function readProblem(response) {
  try {
    const body = await response.json();
    /** @type {{code: string, detail: string, space?: string, field?: string}} */
    const problem = { code: String(body.code ?? `http_${response.status}`), detail: String(body.detail ?? '') };
    if (typeof body.space === 'string') problem.space = body.space;
    if (typeof body.field === 'string') problem.field = body.field;
    return problem;
  } catch {
    return { code: `http_${response.status}`, detail: response.statusText };
  }
}

/**
 * Send everything queued, batch by batch, under the replay lock.
 * @param {ReplayOptions} options
 * @returns {Promise<ReplaySummary>}
 */
export function replayOutbox(options) {
  const { db, notifier } = options;
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const maxBatch = options.batchSize ?? 100;
  const source = options.source ?? 'page';
  const url = endpoint(options.url, 'v1/push');

  return withReplayLock(db, async () => {
    /** @type {ReplaySummary} */
    const summary = { sent: 0, applied: 0, conflicts: 0, merged: 0, rejected: 0 };
    let size = maxBatch;
    let announced = false;
    /** spaces the server refused a write of (`forbidden`): their writes wait, the others go on */
    const held = new Set();
    /** @type {import('../net/auth.js').AuthPause | undefined} */
    let forbiddenPause;
    /** @param {import('../net/auth.js').AuthPause} pause */
    const pauseFor = async (pause) => {
      // Nothing is dropped or retried: the outbox waits for setToken() / resume().
      await writePause(db, pause);
      notifier?.post({ type: 'auth', ...pause, source });
      summary.paused = pause;
    };
    try {
      const paused = await readPause(db);
      if (paused) {
        summary.paused = paused;
        return summary;
      }
      const refused = await readRefusal(db);
      if (refused) {
        summary.refused = refused;
        return summary;
      }
      const outdated = await readUpgradePause(db);
      if (outdated) {
        summary.upgradeRequired = outdated;
        return summary;
      }
      const until = await readLimit(db);
      if (until > Date.now()) {
        // Still inside the wait of a 429: the entries stay; whoever calls retries later.
        throw new RateLimitError({ code: 'rate_limited', retryAfter: Math.ceil((until - Date.now()) / 1000), until });
      }
      for (;;) {
        const entries = oneProtocol(await readOutbox(db, size, held));
        if (entries.length === 0) break;
        if (!announced) {
          notifier?.post({ type: 'replay', state: 'start', source });
          announced = true;
        }
        const unsendable = entries.find((e) => holdsLoneSurrogate(e.data));
        if (unsendable) {
          // Queued before enqueueWrite() refused such data: no JSON the server reads can
          // carry it, and sent along it would have the whole batch refused. Its own fault.
          const outcome = await deadLetter(db, unsendable, 'malformed_json',
            'the data holds a lone UTF-16 surrogate, which has no UTF-8 form; the write was not sent');
          announce(notifier, outcome);
          summary.rejected += 1;
          continue;
        }
        const clientId = await getClientId(db);
        /** @type {Record<string, unknown>} */
        const body = { client_id: clientId, mutations: entries.map(toWireMutation) };
        // Protocol 1 is the default: a body without the field is read as one.
        if (protocolOf(entries[0]) !== 1) body.protocol = protocolOf(entries[0]);
        // A thrown fetch (offline, connection refused) propagates: nothing was dropped.
        const response = await fetchWithToken((u, init) => fetchOrFail(doFetch, u, init), url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }, options.tokens);
        if (response.status === 401 || response.status === 403) {
          const problem = await readProblem(response);
          await pauseFor(/** @type {import('../net/auth.js').AuthPause} */ (pauseOf(response, problem)));
          break;
        }
        if (response.status === 429) {
          // Not the batch's fault: nothing is dead-lettered, nothing was stored.
          const limit = await limitOf(response);
          await writeLimit(db, limit.until);
          notifier?.post({ type: 'rate-limited', ...limit, request: 'push', source });
          throw new RateLimitError(limit);
        }
        if (response.status >= 500) {
          const problem = await readProblem(response);
          throw new ReplayError(`push answered ${response.status} ${problem.code}; the outbox is kept`,
            response.status, problem.code);
        }
        if (response.status === 400) {
          // The batch as a whole was refused (its client_id, its protocol, its shape): the
          // server checks each mutation on its own and answers a bad one in its result, so
          // this is no queued write's fault, and every batch would meet it again. Pause and
          // say why; dead-letter nothing (each write would otherwise be dropped in turn).
          const problem = await readProblem(response);
          /** @type {import('./refusal.js').BatchRefusal} */
          const refusal = { status: 400, code: problem.code, detail: problem.detail, at: Date.now() };
          if (problem.field) refusal.field = problem.field;
          await writeRefusal(db, refusal);
          notifier?.post({ type: 'refused', ...refusal, source });
          summary.refused = refusal;
          break;
        }
        if (response.status === 413) {
          // Too large as a whole. Halve the batch until the culprit is alone, then
          // dead-letter just that one (a single write over the limit is its own fault) so
          // it never blocks the writes queued behind it.
          const problem = await readProblem(response);
          if (entries.length > 1) {
            size = Math.ceil(entries.length / 2);
            continue;
          }
          const outcome = await deadLetter(db, entries[0], problem.code, problem.detail);
          announce(notifier, outcome);
          summary.rejected += 1;
          continue;
        }
        if (!response.ok) {
          const problem = await readProblem(response);
          throw new ReplayError(`push answered ${response.status} ${problem.code}`, response.status, problem.code);
        }
        const answer = await response.json();
        const results = Array.isArray(answer.results) ? answer.results : [];
        // A mutation `forbidden` for its space is not the server's final word (it stores no
        // result for it): keep it queued, apply the rest of the batch, and pause after the
        // other spaces' writes (the page settles it: docs/client.md, "Many spaces").
        const forbidden = results.filter(isForbidden);
        const forbiddenMids = new Set(forbidden.map((/** @type {any} */ r) => r.mid));
        // A write `upgrade_required` of the app running now (or a newer one) waits for the
        // app to be reloaded: kept queued, replay paused (replay/upgrade.js). One stamped
        // older than the app running now can never be taken: dropped as any rejection.
        const outdated = await heldForUpgrade(db, entries, results);
        const kept = new Set([...forbiddenMids, ...outdated.map((r) => r.mid)]);
        const outcome = await applyPushResults(db, entries.filter((e) => !kept.has(e.mid)), results.filter((/** @type {any} */ r) => !kept.has(r.mid)));
        summary.sent += entries.length;
        summary.applied += outcome.applied;
        summary.conflicts += outcome.conflicts.length;
        summary.merged += outcome.merged.length;
        summary.rejected += outcome.rejected.length;
        announce(notifier, outcome);
        if (outcome.unanswered.length > 0) {
          // Never loop on a batch the server does not answer in full; retry later.
          throw new ReplayError(`no result for mids ${outcome.unanswered.join(',')}`);
        }
        if (outdated.length) {
          const [first] = outdated;
          const entry = /** @type {import('../local/store.js').OutboxEntry} */ (entries.find((e) => e.mid === first.mid));
          /** @type {import('./upgrade.js').UpgradePause} */
          const pause = { app_version: stampOf(entry), message: String(first.message ?? ''), mid: first.mid, at: Date.now() };
          await writeUpgradePause(db, pause);
          notifier?.post({ type: 'upgrade-required', ...pause, source });
          summary.upgradeRequired = pause;
          break;
        }
        if (forbidden.length) {
          // Hold that space's writes back and send the other spaces' (one revoked space
          // must not keep a user's other spaces from syncing); pause once they are sent.
          const refused = entries.filter((e) => forbiddenMids.has(e.mid));
          for (const entry of refused) held.add(entry.space);
          forbiddenPause ??= refused.length
            ? { status: 403, code: 'forbidden', space: refused[0].space } : { status: 403, code: 'forbidden' };
          if (!refused.length) {
            await pauseFor(forbiddenPause);
            break;
          }
        }
        size = maxBatch;
      }
      if (forbiddenPause && !summary.paused) await pauseFor(forbiddenPause);
      if (announced) notifier?.post({ type: 'replay', state: 'done', source });
      return summary;
    } catch (error) {
      // The facts pages need to tell an unreachable or busy server from other trouble.
      const { status, code, network } = /** @type {any} */ (error) ?? {};
      notifier?.post({ type: 'replay', state: 'error', source, error: String(error), status, code, network: Boolean(network) });
      throw error;
    } finally {
      notifier?.post({ type: 'outbox', pending: await countOutbox(db).catch(() => -1) });
    }
  }, options.lock);
}

/**
 * The `upgrade_required` results of writes stamped with the app version running now (the
 * newest a page started with) or a newer one: those wait for a reload.
 * @param {IDBDatabase} db
 * @param {import('../local/store.js').OutboxEntry[]} entries
 * @param {any[]} results
 * @returns {Promise<any[]>}
 */
async function heldForUpgrade(db, entries, results) {
  const refused = results.filter(isUpgradeRequired);
  if (!refused.length) return [];
  const running = await readAppVersion(db);
  const byMid = new Map(entries.map((e) => [e.mid, e]));
  return refused.filter((r) => {
    const entry = byMid.get(r.mid);
    return entry !== undefined && stampOf(entry) >= running;
  });
}

/**
 * A write refused for its space (the token does not grant it rw): kept and the space paused
 * until the page settles it. A write a collection's roles refuse names its `operation`: the
 * space is fine, that write alone is refused, and goes to the dead letters as any rejection.
 * @param {any} result
 */
function isForbidden(result) {
  return result?.status === 'rejected' && result.code === 'forbidden' && result.operation === undefined;
}

/**
 * @param {Notifier | undefined} notifier
 * @param {import('./results.js').ResultOutcome} outcome
 */
function announce(notifier, outcome) {
  if (!notifier) return;
  if (outcome.changed.length) notifier.post({ type: 'change', records: outcome.changed, origin: 'push' });
  for (const c of outcome.conflicts) notifier.post({ type: 'conflict', ...c });
  for (const m of outcome.merged) notifier.post({ type: 'merged', ...m });
  for (const r of outcome.rejected) notifier.post({ type: 'rejected', ...r });
}
