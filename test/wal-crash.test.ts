/**
 * Durability 'wal' under kill -9 (issue 9): a writer process with 64 writers in flight is killed at random
 * moments, restarted, killed again. After every kill the store opens and holds every acknowledged write
 * (or a newer one), with no flush or checkpoint ever called.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { openLsmStore } from '../lib/embedded.js';
import { Random, seedFromEnv } from '../lib/util/random.js';

const child = join(dirname(fileURLToPath(import.meta.url)), 'support', 'wal-crash-child.js');
const KEYS = 512;

async function runAndKill(primary: string, localDir: string, killAfterMs: number, acked: Map<string, number>): Promise<number> {
  const proc = spawn(process.execPath, [child, primary, localDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let count = 0;
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  createInterface({ input: proc.stdout }).on('line', (line) => {
    if (line === 'READY') return ready();
    const [, key, c] = line.split(' ') as [string, string, string];
    count++;
    acked.set(key, Math.max(acked.get(key) ?? 0, Number(c)));
  });
  await Promise.race([isReady, new Promise((r) => proc.on('exit', r))]);
  await new Promise((r) => setTimeout(r, killAfterMs));
  proc.kill('SIGKILL');
  await new Promise((r) => proc.on('exit', r));
  if (stderr.trim() !== '') throw new Error(`child wrote to stderr: ${stderr}`);
  return count;
}

t.test('kill -9 with durability wal: every acknowledged write survives', async (t) => {
  const seed = seedFromEnv();
  const r = new Random(seed);
  const dir = mkdtempSync(join(tmpdir(), 'floe-wal-crash-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const primary = `file://${dir}/primary`;
  const acked = new Map<string, number>();
  let total = 0;
  for (let life = 0; life < 5; life++) {
    const killAfter = r.range(300, 1500);
    total += await runAndKill(primary, join(dir, `local-${life}`), killAfter, acked);
    const store = await openLsmStore({ primary, localDir: join(dir, `verify-${life}`), maxKeyGroups: 8, compactionWorkers: 0, durability: 'wal' });
    const got = await store.multiGet(Array.from({ length: KEYS }, (_, k) => `key-${k}`));
    const lost = [...acked].filter(([key, c]) => {
      const v = got[Number(key.slice(4))];
      return v === undefined || Number(Buffer.from(v).toString()) < c;
    });
    t.equal(lost.length, 0, `seed ${seed} life ${life}: killed after ${killAfter} ms, ${total} writes acknowledged so far; lost ${lost.slice(0, 3).map(([k, c]) => `${k}@${c}`).join(' ')}`);
    await store.close();
  }
  t.ok(total > 1000, `the writers made progress (${total} acknowledged writes)`);
});
