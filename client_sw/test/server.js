// A real syncserver process (python3 -m syncserver serve) on a free 127.0.0.1 port with its
// own SQLite file, for the unit tests of the pull and resync paths: they talk to the real
// protocol, not to a stand-in.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const AUTH_ENV = ['SYNCSERVER_AUTH', 'SYNCSERVER_DEV', 'SYNCSERVER_JWT_SECRET', 'SYNCSERVER_JWKS'];

/** @returns {Promise<number>} */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (probe.address());
      probe.close(() => resolve(port));
    });
  });
}

export class SyncServer {
  /**
   * @param {number} port
   * @param {Record<string, string>} [env]  settings, e.g. SYNCSERVER_SECRET
   */
  constructor(port, env = {}) {
    this.port = port;
    this.env = env;
    this.url = `http://127.0.0.1:${port}/`;
    this.dir = mkdtempSync(join(tmpdir(), 'syncserver-client-'));
    /** @type {import('node:child_process').ChildProcess | null} */
    this.proc = null;
    this.log = '';
  }

  /** @param {string} [name]  the database file; a new name is a fresh database */
  async start(name = 'sync.db') {
    // Auth is on by default and needs a key: a test that gives no auth settings runs the
    // server with `--auth none`.
    const auth = AUTH_ENV.some((name) => name in this.env) ? [] : ['--auth', 'none'];
    this.proc = spawn('python3', ['-m', 'syncserver', 'serve', '--db', join(this.dir, name),
      '--port', String(this.port), '--no-demo', ...auth], {
      cwd: REPO, env: { ...process.env, SYNCSERVER_LOG_LEVEL: 'warning', ...this.env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout?.on('data', (chunk) => { this.log += chunk; });
    this.proc.stderr?.on('data', (chunk) => { this.log += chunk; });
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`server exited: ${this.log}`);
      try {
        if ((await fetch(`${this.url}healthz`)).ok) return this;
      } catch { /* not listening yet */ }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`server did not start: ${this.log}`);
  }

  async stop() {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    await exited;
    this.proc = null;
  }

  async dispose() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * Push mutations as another client would; every one must be applied. Mids are per client
   * id for the server's whole life: tests sharing a server use distinct ones.
   * @param {string} clientId
   * @param {any[]} mutations
   */
  async push(clientId, mutations) {
    const response = await fetch(`${this.url}v1/push`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: clientId, mutations }),
    });
    if (!response.ok) throw new Error(`push answered ${response.status}: ${await response.text()}`);
    const body = await response.json();
    // Set-up writes must take effect (a reused mid, for one, would be rejected).
    const failed = body.results.filter((/** @type {any} */ r) => r.status !== 'applied');
    if (failed.length) throw new Error(`set-up push not applied: ${JSON.stringify(failed)}`);
    return body;
  }
}

/**
 * A put from another client.
 * @param {number} mid
 * @param {string} space
 * @param {string} collection
 * @param {string} id
 * @param {Record<string, unknown>} data
 */
export function put(mid, space, collection, id, data) {
  return {
    mid, space, collection, id, op: 'put', data, base_version: 0,
    hlc: `${String(Date.now()).padStart(13, '0')}:${String(mid).padStart(5, '0')}:c-other`,
  };
}
