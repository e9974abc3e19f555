// Types of the service-worker entry (`syncserver-client/worker`, served as /sync/worker.js):
// the worker side of index.d.ts, nothing of the page client. Keep in step with worker.js;
// test/package.test.js type-checks every runtime export of both entries against these.
export {
  installSyncHandlers, OUTBOX_SYNC_TAG, registerAppShell, routeMatches, replayOutbox, ReplayError,
  openDatabase, databaseHandle, DB_VERSION, countOutbox, readOutbox, listDeadLetters,
  clearDeadLetters, listConflicts, clearConflicts,
} from './index.js';
export type {
  SyncHandlerOptions, PushChanges, PushNotification, AppShellOptions, Route, Strategy, ReplayOptions, ReplaySummary, OpenOptions,
  OutboxEntry, DeadLetter, ConflictLogEntry, PushResult, ServerRecord, SyncServerSWNamespace,
} from './index.js';
