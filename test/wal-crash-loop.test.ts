/**
 * A crash loop with the write-ahead log on: an instance opened, written and abandoned (its process killed)
 * again and again, each life shorter than the fence-plug retention. The log must stay bounded by what the
 * recent lives wrote, and every acknowledged write must survive every life.
 */
import t from 'tap';
import { tinyStore } from './support/tiny-store.js';
import { openLsmStore } from '../lib/embedded.js';
import type { LsmStore } from '../lib/lsm/lsm-store.js';
import { openMemStore } from '../lib/store/mem.js';
import { FENCE_RETENTION_MS, listSegments, WAL_MAX_IN_FLIGHT } from '../lib/wal/log.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import { ManualClock } from './support/manual-clock.js';

const LIVES = 40;
const LIFE_MS = 2_000;
const WRITES_PER_LIFE = 20;

t.test('segments stay bounded over a crash loop of short lives, and nothing acknowledged is lost', async (t) => {
  const seed = seedFromEnv();
  const random = new Random(seed);
  const name = `wal-crash-loop-${process.pid}`;
  const mem = openMemStore(name);
  const clock = new ManualClock(Date.now());
  const options = { ...tinyStore(`mem://${name}`, { maxKeyGroups: 8 }), instanceId: 'looped', durability: 'wal' as const, compactionWorkers: 0 as const };
  const model = new Map<string, string>();
  let previous: LsmStore | undefined;
  let most = 0;
  for (let life = 0; life < LIVES; life++) {
    const store = (await openLsmStore(options, { clock })) as LsmStore;
    await previous?.close().catch(() => undefined); // the killed process: fenced, its log left behind
    for (let i = 0; i < WRITES_PER_LIFE; i++) {
      const key = `k${random.int(200)}`;
      const value = `life-${life}-${i}`;
      await store.put(key, value); // acknowledged: durable in the log
      model.set(key, value);
    }
    most = Math.max(most, (await listSegments(mem, 'looped')).length);
    clock.advance(LIFE_MS);
    previous = store;
  }
  // The fence plugs of the lives within the retention window stay (they guard against stale writers);
  // older plugs go, and so does every data segment a flush made redundant, even behind young plugs. Each
  // open flushes what it replayed, so at most the last two lives' writes are still in the log.
  const livesKept = Math.ceil(FENCE_RETENTION_MS / LIFE_MS) + 2;
  const bound = livesKept * WAL_MAX_IN_FLIGHT + 2 * WRITES_PER_LIFE;
  t.ok(most <= bound, `at most ${bound} segments at any life's end (saw ${most}; seed ${seed})`);
  const last = (await openLsmStore(options, { clock })) as LsmStore;
  await previous?.close().catch(() => undefined);
  const wrong: Array<[string, string]> = [];
  for (const [k, v] of model) {
    const got = await last.get(k);
    if (got === undefined || Buffer.from(got).toString() !== v) wrong.push([k, v]);
  }
  t.equal(wrong.length, 0, `every acknowledged write survives ${LIVES} lives (${wrong.length} wrong)`);
  await last.close();
});
