// What the demo says to a person: the sync state and each conflict in plain words. Codes
// such as `stale_base_version` stay in the data (and the console); people read sentences.

/**
 * The one state the header shows, from the client's status and its queue.
 * @param {import('/sync/index.js').SyncStatus | 'starting'} status
 * @param {number} pending
 * @returns {'starting' | 'offline' | 'unreachable' | 'busy' | 'pending' | 'synced' | 'connecting'}
 */
export function viewState(status, pending) {
  if (status === 'offline' || status === 'unreachable' || status === 'starting') return status;
  if (status === 'server-busy') return 'busy';
  if (pending > 0) return 'pending';
  return status === 'up-to-date' ? 'synced' : 'connecting';
}

/** @param {number} n */
const changes = (n) => (n === 1 ? '1 change' : `${n} changes`);

/**
 * @param {ReturnType<typeof viewState>} state
 * @param {number} pending
 * @returns {{label: string, detail: string}}
 */
export function stateWords(state, pending) {
  const waiting = `${changes(pending)} ${pending === 1 ? 'is' : 'are'} saved on this device`;
  const waitsHere = `${changes(pending)} ${pending === 1 ? 'waits' : 'wait'} on this device`;
  switch (state) {
    case 'offline':
      return {
        label: 'Offline',
        detail: pending > 0
          ? `${waiting} and will sync when you are back online.`
          : 'You can keep working: changes are saved on this device and sync when you are back online.',
      };
    case 'unreachable':
      return {
        label: 'Server unreachable',
        detail: `You are online, but the sync server does not answer. ${pending > 0
          ? `${waitsHere}; it is sent as soon as the server is back.` : 'Retrying.'}`,
      };
    case 'busy':
      return {
        label: 'Server busy, retrying',
        detail: `The sync server is up but cannot save right now. ${pending > 0 ? `${waitsHere}; ` : ''}retrying by itself.`,
      };
    case 'pending':
      return { label: `Syncing ${changes(pending)}`, detail: 'Online: sending your changes to the server.' };
    case 'synced':
      return { label: 'Synced', detail: 'All changes are saved on the server.' };
    case 'connecting':
      return { label: 'Connecting…', detail: 'Getting the latest changes from the server.' };
    default:
      return { label: 'Starting…', detail: '' };
  }
}

/**
 * A record's name for a sentence: its title in quotes, else its id.
 * @param {Record<string, unknown> | null | undefined} data
 * @param {string} id
 */
export function nameOf(data, id) {
  const title = data?.title;
  return typeof title === 'string' && title ? `‘${title}’` : `item ${id}`;
}

/** Field names as a person says them. @param {string} field */
const fieldWords = (field) => ({ title: 'the text', done: 'done / not done' })[field] ?? field;

/**
 * Your version of the record: the write applied on the server's copy (a patch only names
 * the fields it changed).
 * @param {import('/sync/index.js').ConflictLogEntry} entry
 * @returns {Record<string, unknown> | null}
 */
export function mineOf(entry) {
  const { op, data } = entry.mutation;
  if (op === 'delete') return null;
  return op === 'patch' ? { ...(entry.record?.data ?? {}), ...(data ?? {}) } : (data ?? {});
}

/**
 * The sentence for one logged conflict, and whether the person has a choice to make.
 * @param {import('/sync/index.js').ConflictLogEntry} entry
 * @returns {{text: string, choice: boolean}}
 */
export function conflictWords(entry) {
  const { mutation, record } = entry;
  const mine = mineOf(entry);
  const name = nameOf(mine ?? record?.data, mutation.id);
  const yourEdit = mutation.op === 'delete' ? `You deleted ${name}` : `Your edit to ${name}`;
  const older = `${yourEdit} was made on an older copy`;
  if (entry.code === 'conflict_open') {
    const theirs = record && !record.deleted ? `it now reads ${nameOf(record.data, mutation.id)}` : 'it was deleted there';
    return {
      text: `${older}: another device changed it meanwhile (${theirs}). Nothing was overwritten: choose which version to keep.`,
      choice: true,
    };
  }
  if (!record || record.deleted) {
    return { text: `${older}: another device had deleted it, and the delete was kept.`, choice: false };
  }
  const lost = (entry.resolution?.fields ?? []).filter((f) => f.winner === 'server').map((f) => f.field);
  if (entry.status === 'merged' && lost.length > 0) {
    return {
      text: `${older}: for ${lost.map(fieldWords).join(' and ')}, the other device's newer change was kept; the rest of your edit was saved.`,
      choice: false,
    };
  }
  const kept = mutation.op === 'delete' ? 'so it is back' : `it reads ${nameOf(record.data, mutation.id)}`;
  return { text: `${older}: the other device's change was kept (${kept}).`, choice: false };
}
