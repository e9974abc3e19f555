// Web Push for the page client: `sync.enablePush()` asks the user's permission (only when
// the app calls it: from a button, never on first visit), subscribes this browser with the
// server's key and registers the subscription for the spaces the client follows;
// `disablePush()` undoes both. The registration follows the client's spaces (follow,
// unfollow, a grant, a revocation) and a subscription the browser replaced. The worker
// (sw/push.js) handles what arrives.

import { getClientId } from '../local/db.js';
import { base64UrlBytes, bytesBase64Url, deleteSubscription, fetchPushKey, readPushState, registerDevice, writePushState, WebPushRequestError } from '../net/webpush.js';

/**
 * Why Web Push could not be enabled (or disabled).
 * - `unsupported`: no service worker, Push API or Notification API in this browser, or no
 *   service worker registered for this page
 * - `denied`: the user (or the browser's settings) refused notifications; only the user
 *   can change that, in the site's settings
 * - `dismissed`: the permission prompt was closed without an answer; asking again later is allowed
 * - `disabled`: the server has no Web Push configured (404 `webpush_disabled`)
 * - `subscribe_failed`: the browser could not subscribe (no push service reachable, a
 *   browser without one such as headless Chromium)
 * - `server`: the server refused the registration or could not be reached (`status`, `serverCode`)
 */
export class PushError extends Error {
  /**
   * @param {'unsupported' | 'denied' | 'dismissed' | 'disabled' | 'subscribe_failed' | 'server'} code
   * @param {string} message
   * @param {{status?: number, serverCode?: string, cause?: unknown}} [detail]
   */
  constructor(code, message, detail = {}) {
    super(message, detail.cause === undefined ? undefined : { cause: detail.cause });
    this.name = 'PushError';
    this.code = code;
    this.status = detail.status ?? 0;
    this.serverCode = detail.serverCode ?? '';
  }
}

/**
 * What push needs of its page client (page/sync-client.js).
 * @typedef {object} PushHost
 * @property {IDBDatabase} db
 * @property {string} url
 * @property {import('../net/auth.js').TokenSource} tokens
 * @property {string[]} spaces  the spaces followed now
 * @property {{collections?: string[]}} options
 * @property {boolean} closed
 */

/**
 * @typedef {object} EnablePushOptions
 * @property {ServiceWorkerRegistration} [registration]  the worker that handles pushes
 *   (default: the one controlling this page, `navigator.serviceWorker.ready`)
 */

/**
 * @typedef {object} PushEnabled
 * @property {string} endpoint  the browser's push endpoint
 * @property {string[]} spaces  the spaces pushes come for, as the server named them
 */

const nav = () => /** @type {any} */ (globalThis.navigator);

/** @returns {boolean} whether this browser has what Web Push needs */
export function pushSupported() {
  return Boolean(nav()?.serviceWorker) && typeof globalThis.PushManager === 'function' && typeof globalThis.Notification === 'function';
}

/** @param {string[]} a @param {string[]} b */
const sameSpaces = (a, b) => a.length === b.length && [...a].sort().every((s, i) => s === [...b].sort()[i]);

/** @param {unknown} error */
function fromRequest(error) {
  if (error instanceof WebPushRequestError) {
    if (error.code === 'webpush_disabled') {
      return new PushError('disabled', 'the sync server has no Web Push configured (webpush_disabled)', { status: error.status, serverCode: error.code });
    }
    return new PushError('server', error.message, { status: error.status, serverCode: error.code, cause: error });
  }
  return error;
}

export class PushControl {
  /** @param {PushHost} host */
  constructor(host) {
    this.host = host;
    /** @type {Promise<void> | null} */
    this.checking = null;
    this.again = false;
  }

  /** @returns {import('../net/webpush.js').WebPushServer} */
  get server() { return { url: this.host.url, tokens: this.host.tokens }; }

  /**
   * Ask permission (the browser's prompt, unless answered before), subscribe, register.
   * @param {EnablePushOptions} [options]
   * @returns {Promise<PushEnabled>}
   */
  async enable(options = {}) {
    if (!pushSupported()) {
      throw new PushError('unsupported', 'this browser has no Web Push (service worker, Push API and Notification API are needed)');
    }
    // The permission first: browsers only show the prompt within the user's gesture, which
    // an await on the network could outlast.
    const permission = globalThis.Notification.permission === 'default'
      ? await globalThis.Notification.requestPermission()
      : globalThis.Notification.permission;
    if (permission === 'denied') {
      throw new PushError('denied', 'notifications are blocked for this site: the user can allow them in the site settings');
    }
    if (permission !== 'granted') throw new PushError('dismissed', 'the notification prompt was closed without an answer');
    const registration = options.registration ?? await this.workerRegistration();
    const key = await fetchPushKey(this.server).catch((error) => { throw fromRequest(error); });
    let subscription = await registration.pushManager.getSubscription();
    if (subscription && bytesBase64Url(subscription.options?.applicationServerKey) !== key) {
      // Made with another key (the server's keys changed): the push service would refuse
      // the server's messages for it.
      await subscription.unsubscribe().catch(() => false);
      subscription = null;
    }
    if (!subscription) {
      try {
        subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlBytes(key) });
      } catch (error) {
        throw new PushError('subscribe_failed', `the browser could not subscribe to push: ${/** @type {Error} */ (error)?.message ?? error}`, { cause: error });
      }
    }
    const state = await this.register(subscription, key);
    return { endpoint: state.endpoint, spaces: state.resolved };
  }

  /** @returns {Promise<ServiceWorkerRegistration>} */
  async workerRegistration() {
    const container = nav().serviceWorker;
    if (!(await container.getRegistration())) {
      throw new PushError('unsupported', 'no service worker is registered for this page: push messages need one (installSyncHandlers)');
    }
    return container.ready;
  }

  /**
   * @param {PushSubscription} subscription
   * @param {string} key
   */
  register(subscription, key) {
    const { db, options } = this.host;
    return registerDevice(db, this.server, { subscription, key, spaces: this.host.spaces, collections: options.collections })
      .catch((error) => { throw fromRequest(error); });
  }

  /**
   * Unsubscribe this browser and delete the registration on the server. The browser's
   * subscription is undone even when the server cannot be told (offline): the server drops
   * it at its next push, which the push service refuses.
   */
  async disable() {
    const { db } = this.host;
    const state = await readPushState(db);
    if (pushSupported()) {
      const registration = await nav().serviceWorker.getRegistration();
      const subscription = await registration?.pushManager.getSubscription();
      // Only the subscription this database registered: another user's may be in use.
      if (subscription && state && subscription.endpoint === state.endpoint) await subscription.unsubscribe().catch(() => false);
    }
    await writePushState(db, undefined);
    if (!state) return;
    await deleteSubscription(this.server, await getClientId(db)).catch((error) => { throw fromRequest(error); });
  }

  /** @returns {Promise<boolean>} whether this database registered a subscription and may still show notifications */
  async enabled() {
    if (!pushSupported() || globalThis.Notification.permission !== 'granted') return false;
    return (await readPushState(this.host.db)) !== undefined;
  }

  /**
   * The spaces followed changed, or the page started: register again when they differ from
   * the registered ones, or when the browser's subscription is not the registered one (it
   * was replaced, or undone). Coalesced; failures are logged, the next change tries again.
   * @returns {Promise<void>}
   */
  check() {
    if (!pushSupported() || globalThis.Notification.permission !== 'granted') return Promise.resolve();
    if (this.checking) {
      this.again = true;
      return this.checking;
    }
    this.checking = (async () => {
      try {
        do {
          this.again = false;
          await this.checkOnce();
        } while (this.again && !this.host.closed);
      } catch (error) {
        console.warn('syncserver: registering the push subscription again failed', error);
      } finally {
        this.checking = null;
      }
    })();
    return this.checking;
  }

  async checkOnce() {
    const { db } = this.host;
    const state = await readPushState(db);
    if (!state || this.host.closed) return;
    const registration = await nav().serviceWorker.getRegistration();
    if (!registration) return;
    let subscription = await registration.pushManager.getSubscription();
    if (subscription && subscription.endpoint === state.endpoint && sameSpaces(this.host.spaces, state.spaces)) return;
    // No prompt: the permission is granted already.
    subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlBytes(state.key) });
    await this.register(subscription, state.key);
  }
}
