/**
 * Crashes: a writer process is killed (SIGKILL) at random moments while it writes, flushes, checkpoints
 * and collects garbage on a file:// primary. Afterwards the store must open, hold at least everything
 * acknowledged as durable, and every checkpoint that was reported must restore exactly.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { openLsmStore } from '../lib/embedded.js';
import { restoreStore } from '../lib/checkpoint/restore.js';
import type { CheckpointHandle } from '../lib/api.js';
import { Random, seedFromEnv } from '../lib/util/random.js';

const child = join(dirname(fileURLToPath(import.meta.url)), 'support', 'crash-child.js');
const KEYS = 300;
const roundOf = (v: Uint8Array | undefined): number => (v === undefined ? -1 : Number(/^round-(\d+)-/.exec(Buffer.from(v).toString())![1]));
const options = (primary: string, localDir: string) => ({ primary, localDir, maxKeyGroups: 8, compactionWorkers: 0 as const, gcGraceMs: 0 });

async function runAndKill(primary: string, localDir: string, firstRound: number, killAfterMs: number): Promise<{ durable: number; checkpoints: Array<{ round: number; handle: CheckpointHandle }> }> {
  const proc = spawn(process.execPath, [child, primary, localDir, String(firstRound)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let durable = 0;
  const checkpoints: Array<{ round: number; handle: CheckpointHandle }> = [];
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: proc.stdout }).on('line', (line) => {
    const [kind, round] = line.split(' ', 2) as [string, string];
    if (kind === 'DURABLE') durable = Math.max(durable, Number(round));
    if (kind === 'CHECKPOINT') {
      durable = Math.max(durable, Number(round));
      checkpoints.push({ round: Number(round), handle: JSON.parse(line.slice(kind.length + round.length + 2)) as CheckpointHandle });
    }
  });
  await new Promise((r) => setTimeout(r, killAfterMs));
  proc.kill('SIGKILL');
  await new Promise((r) => proc.on('exit', r));
  if (stderr.trim() !== '') throw new Error(`crash child wrote to stderr: ${stderr}`);
  return { durable, checkpoints };
}

t.test('kill -9 during writes, flushes, checkpoints and GC loses nothing durable', async (t) => {
  const seed = seedFromEnv();
  const r = new Random(seed);
  const dir = mkdtempSync(join(tmpdir(), 'floe-crash-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const primary = `file://${dir}/primary`;
  let durable = 0;
  const allCheckpoints: Array<{ round: number; handle: CheckpointHandle }> = [];
  for (let life = 0; life < 4; life++) {
    const killAfter = r.range(2500, 6000);
    const run = await runAndKill(primary, join(dir, `local-${life}`), durable + 1, killAfter);
    allCheckpoints.push(...run.checkpoints);
    durable = Math.max(durable, run.durable);
    // Every key was written in every round, so after durable round R each key holds round R or newer.
    const store = await openLsmStore(options(primary, join(dir, `verify-${life}`)));
    const rounds = (await store.multiGet(Array.from({ length: KEYS }, (_, k) => `key-${k}`))).map(roundOf);
    t.ok(
      durable === 0 || rounds.every((x) => x >= durable),
      `seed ${seed} life ${life}: killed after ${killAfter} ms; durable round ${durable}; oldest round in store ${Math.min(...rounds)}`,
    );
    await store.close();
  }
  t.ok(durable > 0, `the writer made progress (${durable} durable rounds)`);
  // Every reported checkpoint restores exactly (GC ran with zero grace while they were retained).
  for (const [i, c] of allCheckpoints.entries()) {
    const restored = await restoreStore({ ...options(primary, join(dir, `restore-${i}`)), instanceId: `crash-restore-${i}` }, [c.handle]);
    const got = await restored.multiGet(Array.from({ length: KEYS }, (_, k) => `key-${k}`));
    t.ok(got.every((v) => roundOf(v) === c.round), `checkpoint of round ${c.round} restores exactly`);
    await restored.close();
  }
  t.ok(allCheckpoints.length > 0, `${allCheckpoints.length} checkpoints verified`);
});
