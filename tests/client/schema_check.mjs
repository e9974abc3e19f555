// The browser client's schema validator (client_sw/src/local/schema-check.js) over stdin:
// one JSON line {"schema", "data"} in, one JSON line out: the first problem, or null.
// One node process serves a whole test run (tests/client/test_schema_check_agrees.py).
import { createInterface } from 'node:readline';
import { schemaProblem } from '../../client_sw/src/local/schema-check.js';

for await (const line of createInterface({ input: process.stdin })) {
  let answer;
  try {
    const { schema, data } = JSON.parse(line);
    answer = { problem: schemaProblem(schema, data) };
  } catch (error) {
    answer = { error: String(error?.stack ?? error) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
