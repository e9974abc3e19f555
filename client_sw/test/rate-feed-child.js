// The live feed against a real server, run by rate.test.js in a child process with Node's
// WebSocket turned on (Node 20 has it behind --experimental-websocket). Arguments: server
// URL, token, space. Prints {limits, states, liveAfterMs} as JSON once the feed is live.
// Without arguments (the test runner loads every file of test/) it does nothing.
import 'fake-indexeddb/auto';
import { storeToken } from '../src/net/auth.js';
import { openDatabase } from '../src/local/db.js';
import { LiveFeed } from '../src/feed/ws.js';

const [url, token, space] = process.argv.slice(2);
if (url) {
  const db = await openDatabase({ name: `feed-${process.pid}` });
  await storeToken(db, token);
  /** @type {any[]} */
  const limits = [];
  /** @type {string[]} */
  const states = [];
  const started = Date.now();
  const live = new Promise((resolve) => {
    const feed = new LiveFeed({
      db, url, space, clientId: `c-feed-${process.pid}`, onChanges: () => {},
      tokens: { get: async () => token, refresh: async () => undefined },
      onLimited: (limit) => limits.push(limit),
      onState: (state) => {
        states.push(state);
        if (state === 'live') resolve(feed);
      },
    });
    feed.start();
  });
  const timeout = setTimeout(() => { console.log(JSON.stringify({ limits, states, timedOut: true })); process.exit(1); }, 20000);
  const feed = /** @type {LiveFeed} */ (await live);
  clearTimeout(timeout);
  feed.stop();
  db.close();
  console.log(JSON.stringify({ limits, states, liveAfterMs: Date.now() - started }));
  process.exit(0);
}
