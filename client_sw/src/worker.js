// Entry point for module service workers:
//   import { installSyncHandlers, registerAppShell } from '/sync/worker.js';
// Classic workers use importScripts('/sync/sw-sync.js'), generated from these modules by
// scripts/build-classic.mjs, which exposes the same names on self.SyncServerSW.
export { installSyncHandlers, OUTBOX_SYNC_TAG } from './sw/handlers.js';
export { registerAppShell, routeMatches } from './sw/shell.js';
export { replayOutbox, ReplayError } from './replay/replay.js';
export { openDatabase, databaseHandle, DB_VERSION } from './local/db.js';
export { countOutbox, readOutbox, listDeadLetters, clearDeadLetters, listConflicts, clearConflicts } from './replay/outbox.js';
