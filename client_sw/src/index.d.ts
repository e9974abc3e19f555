// Type declarations for the syncserver browser client (the JavaScript is typed with JSDoc;
// this file is what TypeScript apps see). Page API: '/sync/index.js'. Worker API:
// '/sync/worker.js' (module workers) or self.SyncServerSW after importScripts('/sync/sw-sync.js').

export type Op = 'put' | 'patch' | 'delete';
/**
 * offline: the browser has no network. unreachable: it has, but the last push, pull or feed
 * connection got no answer or a 5xx. server-busy: the last answer was 503
 * storage_unavailable. Both last until a request succeeds (the client keeps retrying).
 * syncing: sending or catching up. up-to-date: live feed, nothing queued. online: otherwise
 * (connecting, or writes queued).
 */
export type SyncStatus = 'offline' | 'unreachable' | 'server-busy' | 'online' | 'syncing' | 'up-to-date';
/** why the server is not answering as it should; null on SyncClient.trouble when it is */
export type ServerTrouble = 'unreachable' | 'busy';
export type FeedState = 'connecting' | 'catching-up' | 'live' | 'closed';

/** A record as the server sends it (docs/protocol.md). */
export interface ServerRecord<T = any> {
  space: string;
  collection: string;
  id: string;
  version: number;
  seq?: number;
  deleted: boolean;
  hlc?: string;
  updated_at?: number;
  data: T | null;
}

/** A record as the page API returns it: the server state with queued writes applied. */
export interface LocalRecord<T = any> {
  id: string;
  collection: string;
  space: string;
  data: T;
  deleted: boolean;
  /** last version confirmed by the server (0: never confirmed) */
  version: number;
  /** writes to this record still waiting for the server */
  pending: number;
  hlc: string | null;
  updated_at: number | null;
}

/** A commutative operation, as the value of a top-level field of a patch (never conflicts). */
export type Operation = { $inc: number } | { $add: unknown[] } | { $remove: unknown[] };

/** A queued write, as stored in the outbox. */
export interface OutboxEntry {
  mid: number;
  space: string;
  collection: string;
  id: string;
  op: Op;
  data?: Record<string, unknown>;
  /** the version of the record this client last received from the server (protocol 2) */
  base_version: number;
  hlc: string;
  queued_at: number;
  /** protocol of base_version; absent: 1 (queued by an older client) */
  protocol?: number;
}

export interface Resolution {
  policy: string;
  winner: 'server' | 'client' | 'both' | 'custom';
  fields?: Array<{ field: string; winner: string }>;
  base_unknown?: boolean;
}

export interface PushResult {
  mid: number;
  status: 'applied' | 'merged' | 'conflict' | 'rejected';
  version?: number;
  seq?: number;
  record?: ServerRecord | null;
  code?: string;
  message?: string;
  resolution?: Resolution;
  duplicate?: boolean;
  hlc_clamped?: string;
  /** an open conflict of a `manual` collection (code conflict_open) */
  conflict_id?: number;
}

export interface DeadLetter {
  mid: number;
  mutation: OutboxEntry;
  code: string;
  message: string;
  at: number;
}

export interface ConflictLogEntry {
  n: number;
  status: 'conflict' | 'merged';
  code?: string;
  message?: string;
  mutation: OutboxEntry;
  record: ServerRecord | null;
  resolution?: Resolution;
  /** an open conflict of a `manual` collection: settle it with POST /v1/conflicts/{conflict_id}/resolve */
  conflict_id?: number;
  at: number;
}

export interface RecordRef { space: string; collection: string; id: string }

export interface ChangeEvent { type: 'change'; records: RecordRef[]; origin: 'local' | 'remote' | 'push' }
export interface ConflictEvent { type: 'conflict'; mutation: OutboxEntry; result: PushResult; record: ServerRecord | null | undefined }
export interface MergedEvent { type: 'merged'; mutation: OutboxEntry; result: PushResult; record: ServerRecord | null | undefined }
export interface RejectedEvent { type: 'rejected'; mutation: OutboxEntry; result: PushResult }
export interface ReplayEvent {
  type: 'replay'; state: 'start' | 'done' | 'error'; source: string; error?: string;
  /** on 'error': the HTTP status of the push, its problem code, or whether it got no answer at all */
  status?: number; code?: string; network?: boolean;
}

/** Why replay (and the feed) paused: the server refused the token (401) or a space (403). */
export interface AuthPause {
  status: 401 | 403 | number;
  /** the server's problem code: 'unauthorized' or 'forbidden' */
  code: string;
  /** the space refused, when known */
  space?: string;
}
/**
 * Why replay paused: the server refused a push as a whole (400: a bad `client_id`, a
 * `protocol` it does not know). Nothing was dead-lettered; the outbox waits for resume() or
 * the next start of the client.
 */
export interface BatchRefusal {
  status: 400 | number;
  /** the server's problem code, e.g. 'invalid_request' */
  code: string;
  /** the server's explanation */
  detail: string;
  /** the request field at fault, when the server named one: 'client_id', 'protocol', 'mutations' */
  field?: string;
  /** when it was refused, ms since the epoch */
  at: number;
}
export interface LogoutEvent { dbName: string }
/**
 * The server's per-user limit answered 429 (or refused the feed's subscribe or connection):
 * pushes, pulls and the feed wait until `until` before they try again, never dropping a write.
 */
export interface RateLimitedEvent {
  /** 'rate_limited' (the user's request rate) or 'too_many_connections' (its open sockets and long-polls) */
  code: string;
  /** the seconds the server asked for (Retry-After) */
  retryAfter: number;
  /** when the client tries again, ms since the epoch (the wait is capped at 5 minutes) */
  until: number;
  /** what was refused */
  request: 'push' | 'pull' | 'feed';
}
/** A bearer token, or a function returning one (called on first use and again after a 401). */
export type TokenOption = string | (() => string | null | undefined | Promise<string | null | undefined>);
/** Where a request gets its token; `refresh` after a 401 (undefined: do not retry). */
export interface TokenSource {
  get(): Promise<string | undefined>;
  refresh(failed: string | undefined): Promise<string | undefined>;
}

/** A space the client follows now (granted by a refreshed token, or follow()). */
export interface SpaceAddedEvent {
  space: string;
  /** the token's mode for it; undefined when the server did not say */
  mode: SpaceMode | undefined;
}
/**
 * The token no longer grants reading the space (it is absent from GET /v1/spaces, or the
 * server answered `forbidden` on the socket or a pull). Fires in every tab of the user.
 * The space's records, cursors and conflict log entries were dropped from this device, and
 * its queued writes moved to the dead letters with code `forbidden`.
 */
export interface SpaceRevokedEvent {
  space: string;
  code: 'forbidden' | string;
  /** why, in words */
  detail: string;
  /** how many records were dropped */
  dropped: number;
  /** how many queued writes became dead letters */
  deadLetters: number;
}

export interface SyncEvents {
  change: ChangeEvent;
  conflict: ConflictEvent;
  merged: MergedEvent;
  rejected: RejectedEvent;
  status: SyncStatus;
  pending: number;
  replay: ReplayEvent;
  resync: ResyncEvent;
  auth: AuthPause;
  refused: BatchRefusal;
  'rate-limited': RateLimitedEvent;
  'space-added': SpaceAddedEvent;
  'space-revoked': SpaceRevokedEvent;
  logout: LogoutEvent;
}

/**
 * The local copy of the space was dropped and is pulled again from the empty cursor; the
 * outbox is kept and its writes stay on top of the fresh copy.
 */
export interface ResyncEvent {
  type: 'resync';
  space: string;
  /** 'resync_required' (410 or a WebSocket resync), 'bad_cursor' (400), or 'client_upgrade' (a schema upgrade that could not trust the old cursor) */
  code: string;
  /** how many records' confirmed copies were dropped */
  dropped: number;
}

/** What a token grants on a space: read only, or read and write. */
export type SpaceMode = 'r' | 'rw';

interface SyncClientCommonOptions {
  /** base URL of the sync server; default: this origin ('/') */
  url?: string;
  /** restrict the feed to these collections */
  collections?: string[];
  /** IndexedDB database name (default 'syncserver'; with `user`, the prefix); the worker must use the same */
  dbName?: string;
  /** a key of the signed-in user: the client uses that user's own database ('<dbName>~<user>') */
  user?: string;
  /** bearer token for push, pull, conflicts and the WebSocket hello; stored for the service worker */
  token?: TokenOption;
  /** hand replays to Background Sync when available (default true) */
  serviceWorker?: boolean;
  /** Background Sync tag (default 'syncserver-outbox'); the worker must use the same */
  syncTag?: string;
  /** open the WebSocket feed (default true); false: long-poll over HTTP */
  live?: boolean;
  pollWaitSeconds?: number;
  /** replay from the page when Background Sync has not emptied the outbox after this long online (default 15000) */
  fallbackReplayMs?: number;
}
/** A client of one space: `sync.collection(name)` reads and writes in it. */
export interface OneSpaceOptions extends SyncClientCommonOptions {
  /** the one space this client reads and writes */
  space: string;
  spaces?: undefined;
}
/** A client of many spaces: `sync.space(name).collection(c)` reads and writes in each. */
export interface ManySpacesOptions extends SyncClientCommonOptions {
  space?: undefined;
  /**
   * the spaces to follow: these names (follow() and unfollow() change them), or 'token':
   * every space GET /v1/spaces lists for the token, read again after each token refresh
   */
  spaces: string[] | 'token';
}
export type SyncClientOptions = OneSpaceOptions | ManySpacesOptions;

/**
 * The record types of the declared collections, by name: empty here, filled in by the
 * declarations `syncserver types` writes (docs/collections-cli.md), which type
 * `collection(name)` for the names it lists.
 */
export interface CollectionTypes {}

export declare class Collection<T extends object = Record<string, any>> {
  readonly name: string;
  put(id: string, data: T): Promise<LocalRecord<T> | null>;
  /** RFC 7396 merge patch: null removes a field; a top-level field may be a commutative operation */
  patch(id: string, patch: Partial<{ [K in keyof T]: T[K] | null | Operation }>): Promise<LocalRecord<T> | null>;
  delete(id: string): Promise<null>;
  get(id: string): Promise<LocalRecord<T> | null>;
  all(): Promise<LocalRecord<T>[]>;
  query(predicate: (record: LocalRecord<T>) => boolean): Promise<LocalRecord<T>[]>;
  /** called now and after every change to the collection, from any tab, the worker or the server */
  subscribe(fn: (records: LocalRecord<T>[]) => void): () => void;
}

/**
 * Refused before anything was queued: `forbidden` (a write to a space that is read-only for
 * the token, mode `r`, or no longer followed) or `not_followed` (sync.space(name) of a
 * space the client does not follow).
 */
export declare class SpaceError extends Error {
  readonly code: 'forbidden' | 'not_followed';
  readonly space: string;
  /** the token's mode for the space, when known */
  readonly mode: SpaceMode | undefined;
}

/** One space of a client: sync.space(name). */
export declare class Space {
  readonly name: string;
  /** the token's mode for the space (undefined: not known, or no longer followed) */
  readonly mode: SpaceMode | undefined;
  /** whether the client follows the space now (false once revoked or unfollowed) */
  readonly followed: boolean;
  /** this space's status: the client's trouble (offline, unreachable, server-busy), else its own subscription and queued writes */
  readonly status: SyncStatus;
  /** reads and writes in this space; writes to a read-only or revoked space throw a SpaceError (`forbidden`) */
  collection<K extends keyof CollectionTypes>(name: K): Collection<CollectionTypes[K]>;
  collection<T extends object = Record<string, any>>(name: string): Collection<T>;
  /** this space's writes still waiting for the server */
  pending(): Promise<number>;
  /** `status`: this space's; `change`, `conflict`, `merged`, `rejected`, `resync`, `space-added`, `space-revoked`: those about this space; others: the client's */
  on<K extends keyof SyncEvents>(type: K, fn: (event: SyncEvents[K]) => void): () => void;
}

export declare class SyncClient {
  readonly db: IDBDatabase;
  readonly clientId: string;
  /** the spaces this client follows now (one for a client made with `space`) */
  readonly spaces: string[];
  /** overall: offline, unreachable or server-busy; syncing while anything is sent or caught up; up-to-date when every space is */
  readonly status: SyncStatus;
  /** what the last request to the server said about reaching it; null: it answered */
  readonly trouble: ServerTrouble | null;
  /** queued writes, all spaces */
  readonly pending: number;
  readonly feedState: FeedState;
  /** one space the client follows (a SpaceError `not_followed` for any other) */
  space(name: string): Space;
  /** a collection of the one space of a client made with `space`; a client of many spaces throws a TypeError (use space(name).collection()) */
  collection<K extends keyof CollectionTypes>(name: K): Collection<CollectionTypes[K]>;
  collection<T extends object = Record<string, any>>(name: string): Collection<T>;
  /** a client made with a `spaces` list: follow one more space (subscribed and synced) */
  follow(name: string): Promise<void>;
  /** a client made with a `spaces` list: stop following a space; its local data stays, its queued writes still go out */
  unfollow(name: string): void;
  on<K extends keyof SyncEvents>(type: K, fn: (event: SyncEvents[K]) => void): () => void;
  /** replay the outbox from this page now (normally the worker does it) */
  flush(): Promise<unknown>;
  /** pull the feed over HTTP once */
  pull(): Promise<void>;
  deadLetters(): Promise<DeadLetter[]>;
  clearDeadLetters(mids?: number[]): Promise<void>;
  conflicts(): Promise<ConflictLogEntry[]>;
  /** remove these log entries (their `n`), or all */
  clearConflicts(ns?: number[]): Promise<void>;
  /** use this token from now on and lift an auth pause */
  setToken(token: TokenOption): Promise<void>;
  /** lift an auth pause (a token function is called again) and a refusal pause */
  resume(): Promise<void>;
  /** why replay is paused, if it is */
  authPaused(): Promise<AuthPause | undefined>;
  /** the server's reason, when replay is paused because it refused a batch as a whole */
  replayRefused(): Promise<BatchRefusal | undefined>;
  /** a request to the server with the client's token, e.g. request('v1/conflicts?space=team-1') */
  request(path: string, init?: RequestInit): Promise<Response>;
  /**
   * Receive push messages on this device: asks the notification permission (the browser's
   * prompt, unless answered before: call it from a user action, never on first visit),
   * subscribes with the server's key and registers the subscription for the spaces followed
   * (registered again when they change). Rejects with a PushError.
   */
  enablePush(options?: EnablePushOptions): Promise<PushEnabled>;
  /** unsubscribe this browser and delete the registration on the server (a PushError `server` when it could not be told) */
  disablePush(): Promise<void>;
  /** whether push is enabled for this client on this device (registered, and the permission still granted) */
  pushEnabled(): Promise<boolean>;
  /** stop push messages (disablePush), wipe this user's local data, outbox and cursors, close the socket, emit 'logout' and close */
  logout(): Promise<void>;
  close(): void;
}

export declare function createSyncClient(options: SyncClientOptions): Promise<SyncClient>;

export interface EnablePushOptions {
  /** the worker that handles pushes (default: navigator.serviceWorker.ready) */
  registration?: ServiceWorkerRegistration;
}
export interface PushEnabled {
  /** the browser's push endpoint */
  endpoint: string;
  /** the spaces pushes come for, as the server named them (`user-{sub}` resolved) */
  spaces: string[];
}
export type PushErrorCode = 'unsupported' | 'denied' | 'dismissed' | 'disabled' | 'subscribe_failed' | 'server';
/**
 * Why push could not be enabled: `unsupported` (no service worker, Push or Notification API,
 * or no worker registered), `denied` (notifications blocked: only the user can allow them in
 * the site settings), `dismissed` (the prompt was closed: asking later is allowed),
 * `disabled` (the server has no Web Push), `subscribe_failed` (the browser's push service
 * refused or is unreachable), `server` (the server refused the registration or could not be
 * reached: `status`, `serverCode`).
 */
export declare class PushError extends Error {
  readonly code: PushErrorCode;
  readonly status: number;
  readonly serverCode: string;
}
export declare const DEFAULT_SYNC_TAG: 'syncserver-outbox';

export interface OpenOptions { name?: string; indexedDB?: IDBFactory; version?: number }
export declare const DB_VERSION: number;
export declare const DEFAULT_DB_NAME: string;
export declare function openDatabase(options?: OpenOptions): Promise<IDBDatabase>;
export declare function databaseHandle(options?: OpenOptions): { name: string; get(): Promise<IDBDatabase> };
export declare function getClientId(db: IDBDatabase): Promise<string>;
/** '<base>~<user>' (the user encoded); the base name itself without a user */
export declare function userDatabaseName(user: string | undefined, base?: string): string;
/** empty every store of the database (what logout() does) */
export declare function wipeDatabase(db: IDBDatabase): Promise<void>;

export declare function enqueueWrite(
  db: IDBDatabase,
  write: { space: string; collection: string; id: string; op: Op; data?: Record<string, unknown> },
  now?: number,
): Promise<{ entry: OutboxEntry; record: unknown }>;
export declare function readOutbox(db: IDBDatabase, limit?: number): Promise<OutboxEntry[]>;
export declare function countOutbox(db: IDBDatabase): Promise<number>;
export declare function listDeadLetters(db: IDBDatabase): Promise<DeadLetter[]>;
export declare function clearDeadLetters(db: IDBDatabase, mids?: number[]): Promise<void>;
export declare function listConflicts(db: IDBDatabase): Promise<ConflictLogEntry[]>;
export declare function clearConflicts(db: IDBDatabase, ns?: number[]): Promise<void>;
export declare function getRecord(db: IDBDatabase, space: string, collection: string, id: string): Promise<LocalRecord | null>;
export declare function listRecords(db: IDBDatabase, space: string, collection: string): Promise<LocalRecord[]>;

export interface ReplaySummary {
  sent: number; applied: number; conflicts: number; merged: number; rejected: number;
  /** replay stopped (or did not start) on an auth refusal; the outbox is kept */
  paused?: AuthPause;
  /** replay stopped (or did not start): the server refused a batch as a whole; the outbox is kept */
  refused?: BatchRefusal;
}
export interface ReplayOptions {
  db: IDBDatabase;
  url: string;
  fetch?: typeof fetch;
  batchSize?: number;
  source?: string;
  notifier?: unknown;
  lock?: { locks?: LockManager | null; leaseMs?: number; pollMs?: number };
  /** the bearer token of each push (refreshed once after a 401) */
  tokens?: TokenSource;
}
export declare class ReplayError extends Error { status?: number; code?: string }
/** Send the outbox in batches under the replay lock; rejects (keeping every entry) on a network error, a 5xx or a 429 (RateLimitError). */
export declare function replayOutbox(options: ReplayOptions): Promise<ReplaySummary>;
/** Catch up many spaces with POST /v1/pull (one request, one page budget); a space's `forbidden` goes to onForbidden. */
export declare function pullSpaces(options: {
  db: IDBDatabase; url: string; spaces: string[]; collections?: string[]; limit?: number;
  fetch?: typeof fetch; tokens?: TokenSource;
  onResync?: (event: { space: string; code: string; dropped: RecordRef[] }) => void;
  onForbidden?: (space: string, detail: string) => void;
}): Promise<RecordRef[]>;
export declare function pullChanges(options: {
  db: IDBDatabase; url: string; space: string; collections?: string[]; limit?: number;
  wait?: number; fetch?: typeof fetch; signal?: AbortSignal;
  onResync?: (event: { space: string; code: string; dropped: RecordRef[] }) => void;
  /** the bearer token; a 401 (after one refresh) or 403 rejects with an AuthError */
  tokens?: TokenSource;
}): Promise<RecordRef[]>;
/** a pull refused by the server (401 after one token refresh, or 403) */
export declare class AuthError extends Error { pause: AuthPause }
/** a push or pull refused by a per-user limit (429): `limit.until` says when to try again */
export declare class RateLimitError extends Error {
  status: 429; code: string;
  limit: { code: string; retryAfter: number; until: number };
}

export declare function formatHlc(ms: number, counter: number, node: string): string;
export declare function parseHlc(stamp: unknown): { ms: number; counter: number; node: string } | null;
export declare function tickHlc(last: { ms: number; counter: number } | null | undefined, now: number): { ms: number; counter: number };
export declare function receiveHlc(last: { ms: number; counter: number } | null | undefined, remote: unknown): { ms: number; counter: number };
export declare function mergePatch(target: unknown, patch: unknown): any;
/** a patch with commutative operations ($inc, $add, $remove) applied as the server applies it; undefined when the server would reject it */
export declare function applyPatch(target: unknown, patch: Record<string, unknown>): Record<string, unknown> | undefined;

// ---- service worker side ----

export type Strategy = 'cache-first' | 'network-first' | 'stale-while-revalidate' | 'network-only';
export interface Route {
  /** 'navigate': page loads; RegExp: tested on the path; string: a path prefix */
  match: 'navigate' | RegExp | string | ((url: URL, request: Request) => boolean);
  strategy: Strategy;
}
export interface AppShellOptions {
  /** bump to ship a new shell; caches of other versions are deleted on activate */
  version: string;
  precache?: string[];
  routes?: Route[];
  offlineFallback?: string;
  cachePrefix?: string;
  skipWaiting?: boolean;
}
export declare function registerAppShell(options: AppShellOptions): { precacheName: string; runtimeName: string };
export declare function routeMatches(route: Route, url: URL, request: Request): boolean;

export interface SyncHandlerOptions {
  /** base URL of the sync server (default '/') */
  url?: string;
  /** the pages' `dbName`; their per-user databases ('<dbName>~<user>') are replayed too */
  dbName?: string;
  tag?: string;
  batchSize?: number;
  /**
   * The notification a push shows (browsers require one for every push): return it, or
   * nothing for the default ("3 new changes in <space>", or a notify message's own text).
   */
  onPush?: (changes: PushChanges) => PushNotification | null | undefined | Promise<PushNotification | null | undefined>;
}
/** What a push brought, given to `onPush`. */
export interface PushChanges {
  /** 'sync': a nudge, the space was pulled; 'notify': the app's message (POST /v1/notify) */
  type: 'sync' | 'notify' | 'unknown';
  space: string;
  /** the space's head seq the server announced (sync) */
  head: number;
  /** the records the pull changed on this device */
  records: RecordRef[];
  /** their values now (at most 20; deleted ones left out) */
  values: LocalRecord[];
  /** changed records per collection */
  collections: Record<string, number>;
  /** sync: records other users created per collection the server declares to notify
   * (--webpush-notify-new), counted since this device's last nudge ({} for none) */
  new: Record<string, number>;
  /** the databases pulled into (one per user of the device: '<dbName>~<user>') */
  databases: string[];
  /** a notify message's text */
  message?: { title: string; body: string; url: string; tag: string };
  /** the notification shown when onPush returns nothing */
  suggested: PushNotification;
}
export interface PushNotification {
  title: string;
  body?: string;
  /** opened (or its window focused) on click; only this origin's URLs, others open the worker's scope */
  url?: string;
  /** a newer notification with the same tag replaces the older one */
  tag?: string;
  icon?: string;
  badge?: string;
  silent?: boolean;
}
export declare function installSyncHandlers(options?: SyncHandlerOptions): { replay(source?: string, dbName?: string): Promise<ReplaySummary> };
export declare const OUTBOX_SYNC_TAG: 'syncserver-outbox';

/** What importScripts('/sync/sw-sync.js') puts on the worker global. */
export interface SyncServerSWNamespace {
  installSyncHandlers: typeof installSyncHandlers;
  registerAppShell: typeof registerAppShell;
  routeMatches: typeof routeMatches;
  replayOutbox: typeof replayOutbox;
  ReplayError: typeof ReplayError;
  openDatabase: typeof openDatabase;
  databaseHandle: typeof databaseHandle;
  DB_VERSION: number;
  countOutbox: typeof countOutbox;
  readOutbox: typeof readOutbox;
  listDeadLetters: typeof listDeadLetters;
  clearDeadLetters: typeof clearDeadLetters;
  listConflicts: typeof listConflicts;
  clearConflicts: typeof clearConflicts;
  OUTBOX_SYNC_TAG: 'syncserver-outbox';
}

declare global {
  // eslint-disable-next-line no-var
  var SyncServerSW: SyncServerSWNamespace | undefined;
}

// ---- lower-level parts index.js also exports (SyncClient uses them; apps rarely need to) ----

export interface LiveFeedOptions {
  db: IDBDatabase;
  /** base URL of the sync server (http(s); the ws(s) URL is derived) */
  url: string;
  /** the spaces to follow, one subscription each on the one socket */
  spaces?: string[];
  /** one space: the same as spaces: [space] */
  space?: string;
  /** the same filter for every space */
  collections?: string[];
  clientId: string;
  onChanges(changed: RecordRef[]): void;
  /** the socket's state: live once every space caught up */
  onState?(state: FeedState): void;
  /** one space's state */
  onSpaceState?(space: string, state: FeedState): void;
  /** the server refused or ended a space's subscription with `forbidden`: it leaves the feed (without it, the feed pauses as onAuth says) */
  onForbidden?(space: string): void;
  /** the space's local copy was dropped to start over (resync_required, bad_cursor) */
  onResync?(event: { space: string; code: string; dropped: RecordRef[] }): void;
  WebSocket?: typeof WebSocket;
  pingMs?: number;
  maxBackoffMs?: number;
  /** the token sent in `hello` (refreshed once after a close 4401) */
  tokens?: TokenSource;
  /** the server refused the token or the space; no reconnect until resumeAuth() */
  onAuth?(pause: AuthPause): void;
  /**
   * the server ended the subscription on its own trouble (`storage_unavailable`: status 503,
   * `internal_error`: 500); the feed subscribes again after the backoff (at least `retry_after`)
   */
  onTrouble?(failure: { status?: number; code?: string; network?: boolean }): void;
}
/** The WebSocket feed with reconnects and backoff, as SyncClient runs it. */
export declare class LiveFeed {
  constructor(options: LiveFeedOptions);
  readonly state: FeedState;
  readonly spaces: string[];
  stateOf(space: string): FeedState;
  /** follow one more space (subscribed at once on an open socket) */
  add(space: string): void;
  /** stop following a space (unsubscribed) */
  remove(space: string): void;
  start(): void;
  stop(): void;
  /** reconnect at once, skipping the backoff */
  reconnectNow(): void;
  /** lift an auth pause and reconnect */
  resumeAuth(): void;
  /** send the current token in a new hello on the open socket (the server re-checks every subscription) */
  reauth(): Promise<void>;
}
/** The schema upgrades, in order (migration i brings the database from version i to i + 1). */
export declare const MIGRATIONS: ReadonlyArray<(db: IDBDatabase, tx: IDBTransaction) => void>;
export interface ResultOutcome {
  changed: RecordRef[];
  conflicts: Array<{ mutation: OutboxEntry; result: PushResult }>;
  merged: Array<{ mutation: OutboxEntry; result: PushResult }>;
  rejected: Array<{ mutation: OutboxEntry; result: PushResult }>;
  applied: number;
  /** mids of sent entries the server gave no result for */
  unanswered: number[];
}
/** Apply the results of one push batch to the outbox and the local records, in one transaction. */
export declare function applyPushResults(db: IDBDatabase, entries: OutboxEntry[], results: PushResult[]): Promise<ResultOutcome>;
