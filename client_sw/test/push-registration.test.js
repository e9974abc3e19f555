// Registering a device for Web Push against the real server (docs/protocol.md, "Web Push"):
// enablePush() asks permission only when called, subscribes with the server's key and
// registers the subscription for the spaces the client follows, which it follows as they
// change; disablePush() and logout() delete it; the worker registers a subscription the
// browser replaced. What the server holds is read back through the protocol itself: the
// number of devices a POST /v1/notify reaches, and the pushes that arrive at the
// endpoint registered (a local HTTP endpoint standing for the browser's push service:
// headless browsers and node have none). The browser objects enablePush calls
// (Notification, navigator.serviceWorker, pushManager) are minimal stand-ins.
import assert from 'node:assert/strict';
import { createECDH, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import vm from 'node:vm';
import { createSyncClient } from '../src/index.js';
import { PushError } from '../src/page/push.js';
import { readPushState } from '../src/net/webpush.js';
import { openDatabase } from '../src/local/db.js';
import './helpers.js';
import { SyncServer, freePort } from './server.js';

const b64url = (/** @type {Buffer} */ bytes) => bytes.toString('base64url');

/** @type {SyncServer} */
let server;
/** @type {import('node:http').Server} */
let pushService;
let pushOrigin = '';
/** @type {string[]} the paths pushes arrived at */
const arrived = [];
/** why the registration tests cannot run here, if they cannot */
let missing = '';

before(async () => {
  pushService = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      arrived.push(String(request.url));
      response.writeHead(201).end();
    });
  });
  await new Promise((resolve) => pushService.listen(0, '127.0.0.1', () => resolve(undefined)));
  pushOrigin = `http://127.0.0.1:${/** @type {any} */ (pushService.address()).port}`;
  const vapid = createECDH('prime256v1');
  vapid.generateKeys();
  server = await new SyncServer(await freePort(), {
    SYNCSERVER_WEBPUSH_VAPID_KEY: b64url(vapid.getPrivateKey()),
    SYNCSERVER_WEBPUSH_SUBJECT: 'mailto:tests@example.com',
    SYNCSERVER_WEBPUSH_ALLOW_LOOPBACK: '1',
    SYNCSERVER_WEBPUSH_MIN_INTERVAL: '0',
  }).start();
  const answer = await fetch(`${server.url}v1/webpush/key`);
  // A server without the endpoints at all (not a `webpush_disabled` one) predates Web Push.
  if (answer.status === 404 && (await answer.json().catch(() => ({}))).code !== 'webpush_disabled') {
    missing = 'this server has no /v1/webpush endpoints yet (the webpush branch)';
  }
});
after(async () => {
  await server?.dispose();
  pushService?.close();
  delete (/** @type {any} */ (globalThis)).navigator;
  delete (/** @type {any} */ (globalThis)).Notification;
  delete (/** @type {any} */ (globalThis)).PushManager;
});

let devices = 0;

/** A browser subscription to the local push service, with keys made as a browser makes them. @param {Uint8Array} key */
function newSubscription(key, browser = { unsubscribed: 0 }) {
  devices += 1;
  const endpoint = `${pushOrigin}/push/d${process.pid}-${devices}`;
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const keys = { p256dh: b64url(ecdh.getPublicKey()), auth: b64url(randomBytes(16)) };
  return {
    endpoint, options: { applicationServerKey: key.buffer },
    toJSON: () => ({ endpoint, expirationTime: null, keys }),
    async unsubscribe() { browser.unsubscribed += 1; return true; },
  };
}

/**
 * Stand-ins for the browser's Notification, PushManager and navigator.serviceWorker: the
 * permission answers `answer` when asked, subscribe() makes a new subscription.
 * @param {{permission?: NotificationPermission, answer?: NotificationPermission}} [init]
 */
function fakeBrowser(init = {}) {
  const browser = {
    permission: init.permission ?? 'default', answer: init.answer ?? 'granted', asked: 0, unsubscribed: 0,
    /** @type {any[]} */ subscribed: [],
    /** @type {any} */ subscription: null,
  };
  const pushManager = {
    getSubscription: async () => browser.subscription,
    async subscribe(/** @type {any} */ options) {
      browser.subscribed.push(options);
      browser.subscription = newSubscription(options.applicationServerKey, browser);
      const { unsubscribe } = browser.subscription;
      browser.subscription.unsubscribe = async () => { browser.subscription = null; return unsubscribe(); };
      return browser.subscription;
    },
  };
  const registration = { scope: 'http://app.test/', pushManager };
  Object.assign(globalThis, {
    Notification: class {
      static get permission() { return browser.permission; }
      static async requestPermission() { browser.asked += 1; browser.permission = browser.answer; return browser.answer; }
    },
    PushManager: function PushManager() {},
    navigator: { serviceWorker: { getRegistration: async () => registration, ready: Promise.resolve(registration) } },
  });
  return { browser, registration };
}

let names = 0;
/** @param {string[]} spaces */
function client(spaces) {
  names += 1;
  return createSyncClient({
    spaces, url: server.url, live: false, serviceWorker: false, pollWaitSeconds: 1, dbName: `push-reg-${process.pid}-${names}`,
  });
}

/**
 * How many devices the server would notify for `space` (its subscriptions for it).
 * @param {string} space
 * @returns {Promise<number>}
 */
async function reached(space) {
  const response = await fetch(`${server.url}v1/notify`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ space, title: 'count' }),
  });
  assert.equal(response.status, 202, await response.clone().text());
  return (await response.json()).devices;
}

/**
 * @param {() => Promise<boolean> | boolean} check
 * @param {string} what
 */
async function waitFor(check, what) {
  const deadline = Date.now() + 10000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('enablePush asks only when called, registers the spaces followed, follows their changes, and disablePush undoes it', async (t) => {
  if (missing) return t.skip(missing);
  const { browser } = fakeBrowser();
  const tag = `${process.pid}-a`;
  const [a, b, c] = [`fam-${tag}`, `work-${tag}`, `club-${tag}`];
  const sync = await client([a, b]);
  try {
    assert.equal(browser.asked, 0, 'no prompt on start');
    assert.equal(await sync.pushEnabled(), false);
    const enabled = await sync.enablePush();
    assert.equal(browser.asked, 1);
    assert.deepEqual(enabled.spaces.sort(), [a, b].sort());
    const key = await (await fetch(`${server.url}v1/webpush/key`)).json();
    assert.equal(browser.subscribed.length, 1);
    assert.equal(browser.subscribed[0].userVisibleOnly, true);
    assert.equal(Buffer.from(browser.subscribed[0].applicationServerKey).toString('base64url'), key.public_key);
    assert.equal(await sync.pushEnabled(), true);
    assert.equal(await reached(a), 1);
    const path = new URL(enabled.endpoint).pathname;
    await waitFor(() => arrived.includes(path), 'the notification to arrive at the registered endpoint');

    await sync.follow(c);
    await waitFor(async () => (await reached(c)) === 1, 'the followed space to be registered');
    sync.unfollow(b);
    await waitFor(async () => (await reached(b)) === 0, 'the unfollowed space to leave the registration');
    assert.equal(await reached(a), 1, 'one subscription, replaced, not a second one');

    await sync.disablePush();
    assert.equal(browser.unsubscribed, 1);
    assert.equal(await reached(a), 0);
    assert.equal(await readPushState(sync.db), undefined);
  } finally {
    sync.close();
  }
});

test('logout deletes the registration while the token is still there', async (t) => {
  if (missing) return t.skip(missing);
  const { browser } = fakeBrowser({ permission: 'granted' });
  const space = `out-${process.pid}`;
  const sync = await client([space]);
  await sync.enablePush();
  assert.equal(browser.asked, 0, 'granted before: no prompt');
  assert.equal(await reached(space), 1);
  await sync.logout();
  assert.equal(await reached(space), 0);
  assert.equal(browser.unsubscribed, 1);
});

test('the worker registers a subscription the browser replaced, with the stored client id and spaces', async (t) => {
  if (missing) return t.skip(missing);
  fakeBrowser({ permission: 'granted' });
  const space = `rot-${process.pid}`;
  const sync = await client([space]);
  const dbName = sync.db.name;
  const { endpoint: old } = await sync.enablePush();
  sync.close(); // no page open from here on

  const { fire } = loadWorker();
  const fresh = newSubscription(new Uint8Array(65));
  const registered = await fire('pushsubscriptionchange', { newSubscription: fresh }, dbName);
  assert.deepEqual(JSON.parse(JSON.stringify(registered)), [dbName]);
  assert.equal(await reached(space), 1, 'the new subscription replaced the old one');
  const db = await openDatabase({ name: dbName });
  try {
    assert.equal((await readPushState(db))?.endpoint, fresh.endpoint);
  } finally {
    db.close();
  }
  const before = arrived.filter((p) => p === new URL(old).pathname).length;
  await reached(space);
  await waitFor(() => arrived.includes(new URL(fresh.endpoint).pathname), 'a push at the new endpoint');
  assert.equal(arrived.filter((p) => p === new URL(old).pathname).length, before, 'none at the old one');
});

test('a server without Web Push configured is a PushError `disabled`', async (t) => {
  if (missing) return t.skip(missing);
  fakeBrowser({ permission: 'granted' });
  const plain = await new SyncServer(await freePort()).start();
  names += 1;
  const sync = await createSyncClient({ space: 'x', url: plain.url, live: false, serviceWorker: false, dbName: `push-reg-${process.pid}-${names}` });
  try {
    await assert.rejects(sync.enablePush(), (error) => error instanceof PushError && error.code === 'disabled');
  } finally {
    sync.close();
    await plain.dispose();
  }
});

test('permission refused, a closed prompt and a browser without push are PushErrors, before any request', async () => {
  const cases = /** @type {const} */ ([
    [{ permission: 'denied' }, 'denied', 0],
    [{ answer: 'denied' }, 'denied', 1],
    [{ answer: 'default' }, 'dismissed', 1],
  ]);
  names += 1;
  // A server that is not there: nothing may be asked of it.
  const sync = await createSyncClient({ space: 'x', url: 'http://127.0.0.1:9/', live: false, serviceWorker: false, dbName: `push-reg-${process.pid}-${names}` });
  try {
    for (const [init, code, asked] of cases) {
      const { browser } = fakeBrowser(init);
      await assert.rejects(sync.enablePush(), (error) => error instanceof PushError && error.code === code, code);
      assert.equal(browser.asked, asked);
      assert.equal(browser.subscribed.length, 0);
    }
    fakeBrowser();
    delete (/** @type {any} */ (globalThis)).PushManager;
    await assert.rejects(sync.enablePush(), (error) => error instanceof PushError && error.code === 'unsupported');
  } finally {
    sync.close();
  }
});

class WorkerChannel extends BroadcastChannel {
  /** @param {string} name */
  constructor(name) {
    super(name);
    this.unref();
  }
}

/** The classic build in a worker scope whose registration has a pushManager with no subscription. */
function loadWorker() {
  /** @type {Map<string, Function>} */
  const handlers = new Map();
  const scope = {
    indexedDB, IDBKeyRange, BroadcastChannel: WorkerChannel, fetch, URL, URLSearchParams, Request, Response, Headers,
    structuredClone, setTimeout, clearTimeout, console, crypto, atob, btoa,
    location: { href: 'http://app.test/sw.js', origin: 'http://app.test' },
    SyncManager: function SyncManager() {},
    registration: { scope: 'http://app.test/', sync: {}, pushManager: { getSubscription: async () => null } },
    clients: { matchAll: async () => [] },
    addEventListener(/** @type {string} */ type, /** @type {Function} */ fn) { handlers.set(type, fn); },
  };
  /** @type {any} */ (scope).self = scope;
  vm.createContext(scope);
  vm.runInContext(readFileSync(new URL('../src/sw-sync.js', import.meta.url), 'utf8'), scope, { filename: 'sw-sync.js' });
  return {
    /**
     * @param {string} type
     * @param {object} event
     * @param {string} dbName
     */
    async fire(type, event, dbName) {
      /** @type {any} */ (scope).SyncServerSW.installSyncHandlers({ dbName, url: server.url });
      /** @type {Promise<unknown> | undefined} */
      let waited;
      handlers.get(type)?.({ ...event, waitUntil: (/** @type {Promise<unknown>} */ p) => { waited = p; } });
      return waited;
    },
  };
}
