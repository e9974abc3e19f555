// The same worker as an ES module: navigator.serviceWorker.register('/sw-esm.js', {type: 'module'}).
import './sw-config.js';
import { installSyncHandlers, registerAppShell } from '/sync/worker.js';

registerAppShell(self.DEMO_SW_CONFIG.shell);
installSyncHandlers(self.DEMO_SW_CONFIG.sync);
