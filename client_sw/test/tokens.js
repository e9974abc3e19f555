// HS256 tokens for servers started with `--auth jwt` (no test of its own: shared by the
// test files and the child processes they start).
import { createHmac } from 'node:crypto';

export const JWT_SECRET = 'client-auth-test-secret-of-at-least-32-chars';

/**
 * An HS256 JWT signed with the servers' secret.
 * @param {string} sub
 * @param {Record<string, string>} spaces  e.g. {'a1': 'rw', 'b1': 'r'}
 * @param {number} [ttl]  seconds; negative: already expired
 */
export function mint(sub, spaces, ttl = 600) {
  const b64 = (/** @type {unknown} */ v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, exp: now + ttl, iat: now, spaces })}`;
  return `${head}.${createHmac('sha256', JWT_SECRET).update(head).digest('base64url')}`;
}

/**
 * Push as a user: every mutation must be applied (set-up writes of another device).
 * @param {string} url  the server's base URL
 * @param {string} token
 * @param {string} clientId
 * @param {any[]} mutations
 */
export async function pushAs(url, token, clientId, mutations) {
  const response = await fetch(`${url}v1/push`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ client_id: clientId, mutations }),
  });
  if (!response.ok) throw new Error(`push answered ${response.status}: ${await response.text()}`);
  const body = await response.json();
  const failed = body.results.filter((/** @type {any} */ r) => r.status !== 'applied');
  if (failed.length) throw new Error(`set-up push not applied: ${JSON.stringify(failed)}`);
  return body;
}
