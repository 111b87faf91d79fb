/**
 * A shard starts a read only after the writes received before it are applied. It used to wait for "the
 * newest write" only, assuming writes settle in call order: when a later write was refused at once while
 * an earlier one was still stalled, the shard re-checked in a microtask loop that never ended, and the
 * whole shard hung at 100% CPU (found by `make fuzz`, seed 424242: every request of that shard hung, and
 * capped connections piled up to maxConnections). The shard must wait for every earlier write, whatever
 * order they settle in.
 */
import t from 'tap';
import { Worker } from 'node:worker_threads';
import { ERROR_OP, Op, RESPONSE_BIT } from '../lib/protocol/protocol.js';

t.test('a read waits for every earlier write even when they settle out of order', async (t) => {
  const worker = new Worker(new URL('./support/shard-order-worker.js', import.meta.url), { execArgv: [] });
  const answers: Array<{ op: number; id: number }> = [];
  const allThree = new Promise<void>((resolve) =>
    worker.on('message', (m: { op: number; id: number }) => {
      answers.push(m);
      if (answers.length === 3) resolve();
    }),
  );
  const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('timeout'), 5000).unref());
  const outcome = await Promise.race([allThree.then(() => 'answered'), timeout]);
  await worker.terminate();
  t.equal(outcome, 'answered', `the shard answered all three requests (got ${JSON.stringify(answers)})`);
  t.same(
    answers,
    [
      { op: ERROR_OP, id: 2 },
      { op: Op.PUT | RESPONSE_BIT, id: 1 },
      { op: Op.GET | RESPONSE_BIT, id: 3 },
    ],
    'the refused write fails at once; the read is answered only after the stalled write',
  );
});
