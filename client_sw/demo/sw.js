// The demo's service worker, as a classic script. An app adds sync to its own worker with
// the two SyncServerSW calls below.
importScripts('/sw-config.js', '/sync/sw-sync.js');

const { registerAppShell, installSyncHandlers } = self.SyncServerSW;
registerAppShell(self.DEMO_SW_CONFIG.shell);
installSyncHandlers(self.DEMO_SW_CONFIG.sync);
