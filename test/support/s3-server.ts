/**
 * Standalone S3-protocol test server for `make test` (test/support/run-tests.ts starts it):
 * starts moto on a free loopback port, waits until it answers, prints exactly one line
 *   READY {"FLOE_TEST_S3_ENDPOINT":"http://127.0.0.1:PORT"}
 * on stdout, and stops moto and exits on SIGTERM / SIGINT (or when its parent process goes away).
 * It creates nothing: each test creates its own bucket (test/support/s3-env.ts).
 *
 * Run by hand: node dist/test/support/s3-server.js
 */
import { startMoto } from './moto.js';

async function main(): Promise<void> {
  const moto = await startMoto();
  const parent = process.ppid;
  let done = false;
  const shutdown = async (code: number): Promise<void> => {
    if (done) return;
    done = true;
    await moto.stop();
    process.exit(code);
  };
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => void shutdown(0));
  }
  // An orphaned server would hold its port forever: leave when the parent that started us is gone.
  const watchdog = setInterval(() => {
    if (process.ppid !== parent) void shutdown(0);
  }, 2_000);
  watchdog.unref();
  void moto.exited.then((code) => {
    if (done) return;
    process.stderr.write(`s3-server: moto exited unexpectedly (${code}); last output:\n${moto.tail().join('\n')}\n`);
    void shutdown(1);
  });
  process.stdout.write(`READY ${JSON.stringify({ FLOE_TEST_S3_ENDPOINT: moto.endpoint })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`s3-server: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
