// The app's version (the `appVersion` option) and what the server says of it: every write
// is stamped with it (page/sync-client.js), and when the server no longer takes it (a write
// answered `upgrade_required`, here or in another context, or GET /v1/collections naming a
// higher min_app_version) the app is told once, with `upgraderequired`, to reload. A page
// of a newer version lifts the replay pause an older one met (replay/upgrade.js).

import { readUpgradePause, startAppVersion, writeUpgradePause } from '../replay/upgrade.js';

/**
 * The app must be reloaded: the server no longer takes writes of its version.
 * @typedef {object} UpgradeRequired
 * @property {number} appVersion  the version of the writes refused (this app's)
 * @property {number} [minAppVersion]  the oldest the server takes, when it said
 * @property {string} message  the server's words
 * @property {'push' | 'collections'} source  a write was refused, or GET /v1/collections said so
 */

/**
 * What the versions need of their page client (page/sync-client.js).
 * @typedef {object} VersionsHost
 * @property {IDBDatabase} db
 * @property {boolean} closed
 * @property {boolean} started
 * @property {(type: string, event: unknown) => void} emit
 * @property {() => Promise<unknown>} schedule  replay the outbox (a pause was lifted)
 */

export class AppVersions {
  /**
   * @param {VersionsHost} host
   * @param {number | undefined} version
   */
  constructor(host, version) {
    this.host = host;
    /** the version every write is stamped with; undefined: none (the server reads 1) */
    this.version = version;
    /** @type {UpgradeRequired | null} set once the server refused this app's version */
    this.required = null;
  }

  /** @returns {number} the version as the server reads it */
  get effective() { return this.version ?? 1; }

  /** At start: lift the pause an older version met, or learn that this one is outdated. */
  async start() {
    const held = await startAppVersion(this.host.db, this.effective);
    if (held) this.outdated({ appVersion: held.app_version, message: held.message, source: 'push' });
  }

  /**
   * Start is over: what was found meanwhile is told in the next task, after the app's code
   * that follows `await createSyncClient()` has added its listeners.
   */
  started() {
    const found = this.required;
    if (found) setTimeout(() => { if (!this.host.closed) this.host.emit('upgraderequired', found); }, 0);
  }

  /**
   * The server no longer takes writes of `event.appVersion`: tell the app (once per
   * version), unless this app is newer than the writes refused (it was reloaded already).
   * @param {UpgradeRequired} event
   */
  outdated(event) {
    if (this.effective > event.appVersion) return;
    if (this.required?.appVersion === event.appVersion && this.required.minAppVersion === event.minAppVersion) return;
    this.required = event;
    if (this.host.started) this.host.emit('upgraderequired', event); // else told by started()
  }

  /**
   * GET /v1/collections answered: an app older than the server takes is outdated; a pause
   * met by writes it takes again (the operator lowered min_app_version) is lifted.
   * @param {import('../net/collections.js').Declaration} declaration
   */
  declared(declaration) {
    const version = this.effective;
    if (declaration.declared && version < declaration.min_app_version) {
      this.outdated({
        appVersion: version, minAppVersion: declaration.min_app_version, source: 'collections',
        message: `the server takes writes of app version ${declaration.min_app_version} or newer; this app is version ${version}: reload it`,
      });
    }
    const { db } = this.host;
    readUpgradePause(db).then(async (pause) => {
      if (!pause || pause.app_version < declaration.min_app_version || this.host.closed) return;
      await writeUpgradePause(db, undefined);
      await this.host.schedule();
    }).catch(() => {});
  }
}
