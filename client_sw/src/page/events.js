// The page client's events: 'change', 'conflict', 'merged', 'rejected', 'resync', 'status',
// 'pending', 'replay', 'auth', 'rate-limited' and 'logout' (docs/client.md). A listener that throws is
// logged and does not stop the others.

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
