// The TypeScript client doing what ClientBench does with the Java client (same ops, keys, values, windows),
// for a side-by-side number (docs/benchmarks.md, "Java client"). Needs a running daemon with maxKeyGroups >= 16:
//   node flink/src/test/node/client-pipeline.mjs SOCKET [N]
import { connect } from '../../../../dist/lib/client/client.js';

const socket = process.argv[2];
const n = Number(process.argv[3] ?? 100000);
const c = await connect(socket);
const value = new Uint8Array(100);
const key = (i) => `bench/${i % 100000}`;

async function run(what, count, window, op) {
  let inFlight = 0;
  let i = 0;
  const t0 = performance.now();
  await new Promise((resolve, reject) => {
    const pump = () => {
      while (inFlight < window && i < count) {
        inFlight++;
        op(i++).then(() => {
          inFlight--;
          if (i === count && inFlight === 0) resolve();
          else pump();
        }, reject);
      }
    };
    pump();
  });
  const rate = Math.round(count / ((performance.now() - t0) / 1000));
  console.log(`  ${what.padEnd(9)} in flight ${String(window).padStart(4)}: ${String(rate).padStart(9)} requests/s`);
}

for (const w of [1, 16, 256]) {
  await run('put', n, w, (i) => c.put(key(i), value, { keyGroup: i % 16 }));
  await run('get', n, w, (i) => c.get(key(i), { keyGroup: i % 16 }));
  await run('write x10', n / 10, w, (i) => c.write(Array.from({ length: 10 }, (_, j) => ({ type: 'merge', key: key(i * 10 + j), value, keyGroup: j }))));
}
await c.close();
