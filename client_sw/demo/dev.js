// What the demo asks of a `syncserver serve --dev` server (the README's quick start): a
// token for the user picked in the page (POST /v1/dev/token), and the dev access table
// (/v1/dev/grants) behind the "revoke bob's access" control. A real app has its own
// sign-in instead, and its backend tells the user's devices when their access changed
// (a push message, its own channel); the page then calls `sync.resume()`, which asks for
// a new token and follows what it grants (docs/client.md, "Many spaces").

const SERVER_KIND = 'syncserver-demo:server';
const POLL_MS = 1500;

/**
 * A token for `user` granting their private space and `shared` (unless the dev access
 * table revoked it), or undefined from a server without the endpoint (404: `--auth none`).
 * A failure carries what the client needs to judge the server (docs/client.md): no answer
 * is a network failure, a 5xx its status.
 * @param {string} user
 * @param {string} shared
 * @returns {Promise<string | undefined>}
 */
export async function devToken(user, shared) {
  let response;
  try {
    response = await fetch('/v1/dev/token', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sub: user, spaces: [shared] }), cache: 'no-store',
    });
  } catch (error) {
    throw Object.assign(/** @type {Error} */ (error), { network: true });
  }
  localStorage.setItem(SERVER_KIND, response.status === 404 ? 'open' : 'dev');
  if (response.status === 404) return undefined;
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw Object.assign(new Error(`no dev token: ${body.detail || `HTTP ${response.status}`}`),
      { status: response.status, code: body.code });
  }
  return body.token;
}

/**
 * Ask the server once, at start: is it a `--dev` server (tokens from its dev endpoint, the
 * spaces the token grants followed) or an `--auth none` one (no tokens)? Offline, the
 * answer of the last visit. The token got on the way is the client's first.
 * @param {string} user
 * @param {string} shared
 * @returns {Promise<{dev: boolean, refused?: string, token: () => Promise<string | undefined>}>}
 */
export async function signIn(user, shared) {
  /** @type {Promise<string | undefined> | undefined} */
  let first;
  /** @type {string | undefined} why the dev endpoint gave no token (not on this machine, a bad user name) */
  let refused;
  try {
    const token = await devToken(user, shared);
    first = Promise.resolve(token);
  } catch (error) {
    if (!(/** @type {any} */ (error).network)) {
      localStorage.setItem(SERVER_KIND, 'dev');
      refused = /** @type {Error} */ (error).message;
    }
  }
  return {
    dev: localStorage.getItem(SERVER_KIND) === 'dev',
    refused,
    token: () => {
      const token = first ?? devToken(user, shared);
      first = undefined;
      return token;
    },
  };
}

/**
 * @typedef {{version: number, revoked: {sub: string, space: string}[]}} AccessTable
 */

/**
 * @param {{sub: string, space: string, granted: boolean}} change
 * @returns {Promise<AccessTable>}
 */
async function changeAccess(change) {
  const response = await fetch('/v1/dev/grants', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(change),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || `HTTP ${response.status}`);
  return body;
}

/**
 * Watch the dev access table while the page is visible, show it with a revoke / grant
 * button per user, and call `changed(table)` with each version read.
 * @param {{list: HTMLElement, users: string[], me: string, space: string, changed: (table: AccessTable) => void}} options
 */
export function watchAccess({ list, users, me, space, changed }) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  let version = -1;
  let clicks = 0;
  /** @param {AccessTable} table */
  const show = (table) => {
    if (table.version === version) return;
    version = table.version;
    list.replaceChildren(...users.map((sub) => {
      const revoked = table.revoked.some((r) => r.sub === sub && r.space === space);
      const li = Object.assign(document.createElement('li'), { className: 'access' });
      li.dataset.user = sub;
      li.dataset.access = revoked ? 'revoked' : 'granted';
      const who = Object.assign(document.createElement('strong'), { textContent: sub });
      const says = revoked ? ' has no access to the shared list' : ' may use the shared list';
      const button = Object.assign(document.createElement('button'), {
        type: 'button', className: 'quiet', textContent: revoked ? `Grant ${sub} access` : `Revoke ${sub}'s access`,
      });
      button.addEventListener('click', async () => {
        button.disabled = true;
        clicks += 1; // a read under way now may answer with the table before the change
        try {
          show(await changeAccess({ sub, space, granted: revoked }));
        } catch (error) {
          button.disabled = false;
          button.title = /** @type {Error} */ (error).message;
        }
      });
      li.append(who, (sub === me ? ' (you)' : '') + says, ' ', button);
      return li;
    }));
    changed(table);
  };
  let asking = false;
  const tick = async () => {
    clearTimeout(timer);
    // A hidden page asks again once it is shown; a read under way schedules the next.
    if (asking || document.hidden) return;
    asking = true;
    const before = clicks;
    try {
      const response = await fetch('/v1/dev/grants', { cache: 'no-store' });
      const table = response.ok ? await response.json() : undefined;
      if (table && clicks === before) show(table);
    } catch {
      // offline or the server away: the next tick asks again
    } finally {
      asking = false;
    }
    timer = setTimeout(tick, POLL_MS);
  };
  document.addEventListener('visibilitychange', tick);
  addEventListener('online', tick);
  tick();
}
