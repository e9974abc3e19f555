// The page client's events: 'change', 'conflict', 'merged', 'rejected', 'resync', 'status',
// 'pending', 'replay', 'auth', 'rate-limited', 'space-added', 'space-revoked',
// 'upgraderequired', 'collections' and 'logout' (docs/client.md), and relay(), which turns what every context reports on the channel
// (local/notify.js) into them. A listener that throws is logged and does not stop the others.

export class Emitter {
  constructor() {
    /** @type {Map<string, Set<(event: any) => void>>} */
    this.listeners = new Map();
  }

  /**
   * Listen to one type of event.
   * 'status' says offline / unreachable / server-busy / syncing / up-to-date / online.
   * @param {string} type
   * @param {(event: any) => void} fn
   * @returns {() => void} unsubscribe
   */
  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type)?.add(fn);
    return () => this.listeners.get(type)?.delete(fn);
  }

  /** @param {string} type @param {unknown} event */
  emit(type, event) {
    for (const fn of this.listeners.get(type) ?? []) {
      try { fn(event); } catch (error) { console.error(`syncserver ${type} listener failed`, error); }
    }
  }
}

/**
 * What a context reported (this tab, another tab, the worker), as the client's events.
 * @param {import('./sync-client.js').SyncClient} client
 * @param {import('../local/notify.js').SyncMessage} message
 */
export function relay(client, message) {
  switch (message.type) {
    case 'change':
      client.emit('change', message);
      // A write in another tab changes the outbox too.
      if (message.origin === 'local') client.refreshPending();
      break;
    case 'conflict': client.emit('conflict', { ...message, record: message.result.record }); break;
    case 'merged': client.emit('merged', { ...message, record: message.result.record }); break;
    case 'rejected': {
      client.emit('rejected', message);
      const { code, message: words } = message.result;
      // The server's declaration is not the one this client checked against: ask again.
      if (code === 'schema_invalid' || code === 'unknown_collection') client.refreshCollections();
      // A write of an app version the server no longer takes, dropped (a newer app runs
      // on this database): the tabs still running that version must be reloaded.
      if (code === 'upgrade_required') {
        client.versions.outdated({ appVersion: message.mutation.app_version ?? 1, message: words ?? '', source: 'push' });
      }
      break;
    }
    case 'upgrade-required':
      client.versions.outdated({ appVersion: message.app_version, message: message.message, source: 'push' });
      break;
    case 'refused': {
      const { type, source, ...refusal } = message;
      client.emit('refused', refusal);
      break;
    }
    case 'resync': if (client.following.has(message.space)) client.emit('resync', message); break;
    case 'auth': {
      const { type, source, ...pause } = message;
      client.emit('auth', pause);
      // A client of many spaces settles a space's refusal by itself (page/follow.js).
      client.following.settle(pause).catch((error) => console.error('syncserver: settling a refusal failed', error));
      break;
    }
    case 'space-revoked': {
      const { type, ...event } = message;
      client.following.revokedElsewhere(message.space);
      client.emit('space-revoked', event);
      client.updateStatus();
      break;
    }
    case 'logout':
      if (!client.closed) {
        client.emit('logout', { dbName: client.db.name });
        client.close();
      }
      break;
    case 'outbox': client.refreshPending(); break;
    case 'rate-limited': client.rateLimited(message); break;
    case 'replay':
      if (message.state === 'start') {
        clearTimeout(client.replaying.get(message.source));
        // A worker stopped mid-replay never says 'done'; do not show 'syncing' forever.
        client.replaying.set(message.source, setTimeout(() => {
          client.replaying.delete(message.source);
          client.updateStatus();
        }, 60000));
      } else {
        clearTimeout(client.replaying.get(message.source));
        client.replaying.delete(message.source);
        // The worker's failures count too: it is who pushes when Background Sync runs.
        if (message.state === 'done') client.serverAnswered();
        else client.requestFailed(message);
      }
      client.emit('replay', message);
      client.updateStatus();
      break;
  }
}
