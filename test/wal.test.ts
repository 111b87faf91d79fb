/**
 * The write-ahead log on its own (lib/wal): segment format and damage handling, group commit, truncation,
 * and fencing of a stale writer with uploads in flight — checked as a property over seeded random timings:
 * every record the stale writer acknowledged is replayed by the new owner.
 */
import t from 'tap';
import { WAL_RANGE_DELETE, decodeSegment, encodePlug, encodeSegment, type WalOp } from '../lib/wal/format.js';
import { FENCE_RETENTION_MS, listSegments, WAL_LEASE_MS, WAL_MAX_IN_FLIGHT, WalLog } from '../lib/wal/log.js';
import { EntryKind } from '../lib/sst/entry.js';
import { openMemStore } from '../lib/store/mem.js';
import type { ObjectStore } from '../lib/store/object-store.js';
import { parseWalPath, walPath } from '../lib/store/paths.js';
import { Random } from '../lib/util/random.js';
import { systemClock, type Clock } from '../lib/util/clock.js';
import { FloeError } from '../lib/errors.js';
import { ManualClock, TtlClock } from './support/manual-clock.js';
import { openLsmStore } from '../lib/embedded.js';
import { crc32c } from '../lib/util/crc32c.js';
import { overrideStore } from './support/override-store.js';

const op = (k: string, v: string): WalOp => ({ kind: EntryKind.Put, key: Buffer.from(k), value: Buffer.from(v) });
const text = (b: Uint8Array): string => Buffer.from(b).toString();
let n = 0;
/** Opens the log as writer `epoch`; its fencing check fails once a newer writer opened (the `owner` map). */
const owner = new Map<string, number>();
function openLog(store: ObjectStore, id: string, epoch: number, walSeq: number, afterSequence: number, clock: Clock = systemClock) {
  owner.set(store.uri, Math.max(owner.get(store.uri) ?? 0, epoch));
  return WalLog.open(store, id, epoch, { walSeq, afterSequence }, clock, async () => {
    if ((owner.get(store.uri) ?? 0) > epoch) throw new FloeError('FENCED', `writer ${epoch} was taken over`);
  });
}
const freshStore = (): ObjectStore => openMemStore(`wal-${process.pid}-${++n}`);

t.test('segment format: round trip, torn tail of the last segment, damage elsewhere', async (t) => {
  const records = [
    { firstSeq: 5, ops: [op('a', '1')] },
    { firstSeq: 6, ops: [op('b', '2'), { kind: EntryKind.Delete, key: Buffer.from('c'), value: new Uint8Array(0) }] },
  ];
  const bytes = encodeSegment(7, records);
  const back = decodeSegment(bytes, 'seg', false);
  t.equal(back.epoch, 7);
  t.equal(back.fence, false);
  t.same(back.records.map((r) => [r.firstSeq, r.ops.map((o) => [o.kind, text(o.key), text(o.value)])]), [
    [5, [[EntryKind.Put, 'a', '1']]],
    [6, [[EntryKind.Put, 'b', '2'], [EntryKind.Delete, 'c', '']]],
  ]);
  t.equal(decodeSegment(encodeSegment(3, [], true), 'plug', false).fence, true, 'a fence segment of the older format');
  t.equal(decodeSegment(encodeSegment(3, [], true), 'plug', false).plugTime, undefined, 'which has no plug time');
  const plug = encodePlug(4, 1_764_460_800_123);
  t.same(decodeSegment(plug, 'plug', false), { epoch: 4, fence: true, plugTime: 1_764_460_800_123, records: [] }, 'a fence plug with its plug time');
  for (const at of [16, 23, 27]) {
    const bad = Buffer.from(plug);
    bad[at] = bad[at]! ^ 0xff;
    t.throws(() => decodeSegment(bad, 'plug', true), { code: 'CORRUPTION', message: /plug/ }, `a plug with a flipped byte at ${at} is CORRUPTION`);
  }
  t.throws(() => decodeSegment(plug.subarray(0, 20), 'plug', true), { code: 'CORRUPTION' }, 'a short plug is CORRUPTION, even as the last segment');
  const torn = bytes.subarray(0, bytes.length - 3);
  const cut = decodeSegment(torn, 'seg', true);
  t.equal(cut.records.length, 1, 'a torn tail of the last segment is cut back to the last whole record');
  t.ok(cut.tornAt !== undefined, 'and reported');
  t.throws(() => decodeSegment(torn, 'wal/x/00000000000000000001.log', false), { code: 'CORRUPTION', message: /wal\/x\/00000000000000000001\.log/ }, 'a short segment that is not the last is CORRUPTION naming it');
  for (const at of [20, 30, bytes.length - 1]) {
    const bad = Buffer.from(bytes);
    bad[at] = bad[at]! ^ 0xff;
    t.throws(() => decodeSegment(bad, 'seg', true), { code: 'CORRUPTION' }, `a flipped byte at ${at} is CORRUPTION, even in the last segment`);
  }
});

t.test('group commit: many concurrent appends, few uploads, acknowledged in order, all replayed', async (t) => {
  const store = freshStore();
  let puts = 0;
  const counted = overrideStore(store, { put: (...a) => {
      puts++;
      return store.put(...a);
    } });
  const { log } = await openLog(counted, 'i', 1, 0, 0);
  puts = 0;
  const order: number[] = [];
  await Promise.all(Array.from({ length: 1000 }, (_, i) => log.append(i + 1, [op(`k${i}`, `v${i}`)]).then(() => order.push(i + 1))));
  t.same(order, Array.from({ length: 1000 }, (_, i) => i + 1), 'acknowledged in sequence order');
  t.ok(puts < 100, `1000 appends took ${puts} uploads`);
  await log.drain();
  const { replay } = await openLog(store, 'i', 2, 0, 0);
  t.equal(replay.length, 1000, 'every acknowledged record is replayed');
  t.same(replay.map((r) => r.firstSeq), order, 'in order');
  const { replay: after } = await openLog(store, 'i', 3, 0, 600);
  t.equal(after.length, 400, 'records already in SSTs (sequence <= lastSequence) are skipped');
});

t.test('truncation deletes the prefix made redundant', async (t) => {
  const store = freshStore();
  const clock = new ManualClock(Date.now());
  const { log } = await openLog(store, 'i', 1, 0, 0, clock);
  for (let i = 1; i <= 30; i++) await log.append(i, [op(`k${i}`, 'v')]);
  clock.advance(FENCE_RETENTION_MS + 1); // the fence plugs of the open may go now
  const before = await listSegments(store, 'i');
  await log.truncate({ lastSequence: 20 });
  const after = await listSegments(store, 'i');
  t.ok(after.length < before.length, `segments ${before.length} → ${after.length}`);
  const { replay } = await openLog(store, 'i', 2, log.nextSequence, 20);
  t.same(replay.map((r) => r.firstSeq), Array.from({ length: 10 }, (_, i) => 21 + i), 'what is left replays the rest');
});

/** A store whose puts of WAL segments take a seeded random 0-3 ms (so uploads complete out of order). */
function jittered(store: ObjectStore, r: Random): ObjectStore {
  return overrideStore(store, {
    put: async (...a) => {
      await new Promise((res) => setTimeout(res, r.int(4)));
      return store.put(...a);
    },
  });
}

t.test('a new owner fences a stale writer with uploads in flight; nothing acknowledged is lost', async (t) => {
  for (let seed = 1; seed <= 40; seed++) {
    const r = new Random(seed);
    const store = freshStore();
    const { log: stale } = await openLog(jittered(store, r.fork()), 'i', 1, 0, 0);
    const acked = new Set<number>();
    let fenced = 0;
    const writes: Array<Promise<void>> = [];
    let seq = 0;
    const takeoverAfter = 20 + r.int(200);
    for (let i = 0; i < 400; i++) {
      const s = ++seq;
      writes.push(
        stale.append(s, [op(`k${s}`, 'v')]).then(
          () => void acked.add(s),
          (e: { code?: string }) => {
            if (e.code === 'FENCED') fenced++;
            else throw e;
          },
        ),
      );
      if (i === takeoverAfter) {
        const owner = openLog(store, 'i', 2, 0, 0);
        writes.push(
          owner.then(({ replay }) => {
            const replayed = new Set(replay.map((x) => x.firstSeq));
            // Checked once the stale writer settles (below): acknowledged ⊆ replayed.
            ownerSaw.set(seed, replayed);
          }),
        );
      }
      if (r.int(8) === 0) await new Promise((res) => setTimeout(res, r.int(3)));
    }
    await Promise.allSettled(writes);
    const replayed = ownerSaw.get(seed)!;
    const lost = [...acked].filter((s) => !replayed.has(s));
    if (lost.length > 0 || fenced === 0) {
      t.fail(`seed ${seed}: ${acked.size} acknowledged, ${fenced} fenced, lost ${lost.slice(0, 5).join(',')}`);
      return;
    }
  }
  t.pass('40 seeds: every record the stale writer acknowledged was replayed by the new owner, and it was fenced');
});
const ownerSaw = new Map<number, Set<number>>();

t.test('a stale writer that truncated its log under manifests of random floors is fenced; nothing acknowledged is lost', async (t) => {
  // As above, but the stale writer also "writes manifests" at random moments (a durable sequence at or below
  // its acknowledged prefix, with the walSeq and walFloor it would record) and truncates after each, so
  // segments go behind its young plugs; the new owner opens from the latest such manifest.
  for (let seed = 1; seed <= 40; seed++) {
    const r = new Random(1000 + seed);
    const store = freshStore();
    const { log: stale } = await openLog(jittered(store, r.fork()), 'i', 1, 0, 0);
    const acked = new Set<number>();
    let ackedPrefix = 0;
    let manifest: { walSeq: number; walFloor: number; afterSequence: number } = { walSeq: 0, walFloor: 0, afterSequence: 0 };
    const writes: Array<Promise<void>> = [];
    let replayed: Set<number> | undefined;
    let fenced = 0;
    const takeoverAfter = 50 + r.int(300);
    for (let s = 1; s <= 400; s++) {
      writes.push(
        stale.append(s, [op(`k${s}`, 'v')]).then(
          () => {
            acked.add(s);
            while (acked.has(ackedPrefix + 1)) ackedPrefix++;
          },
          (e: { code?: string }) => {
            if (e.code === 'FENCED') fenced++;
            else throw e;
          },
        ),
      );
      if (replayed === undefined && r.int(10) === 0 && ackedPrefix > manifest.afterSequence) {
        const durable = manifest.afterSequence + 1 + r.int(ackedPrefix - manifest.afterSequence);
        manifest = { walSeq: stale.nextSequence, walFloor: stale.floorFor(durable), afterSequence: durable };
        void stale.truncate({ lastSequence: durable, walFloor: manifest.walFloor });
      }
      if (s === takeoverAfter) {
        owner.set(store.uri, 2);
        writes.push(
          WalLog.open(store, 'i', 2, manifest, systemClock, async () => undefined).then(({ replay }) => {
            replayed = new Set(replay.map((x) => x.firstSeq));
          }),
        );
      }
      if (r.int(8) === 0) await new Promise((res) => setTimeout(res, r.int(3)));
    }
    await Promise.allSettled(writes);
    const after = manifest.afterSequence;
    const lost = [...acked].filter((s) => s > after && !replayed!.has(s));
    if (lost.length > 0 || fenced === 0) {
      t.fail(`seed ${seed}: ${acked.size} acknowledged, ${fenced} fenced, manifest ${JSON.stringify(manifest)}, lost ${lost.slice(0, 5).join(',')}`);
      return;
    }
  }
  t.pass('40 seeds: every record acknowledged above the manifest was replayed by the new owner, and the stale writer was fenced');
});

t.test('an upload failure fails the record and every later one', async (t) => {
  const store = freshStore();
  let failNext = false;
  const flaky = overrideStore(store, { put: (...a) => (failNext && a[0].startsWith('wal/') ? Promise.reject(new Error('injected')) : store.put(...a)) });
  const { log } = await openLog(flaky, 'i', 1, 0, 0);
  await log.append(1, [op('a', '1')]);
  failNext = true;
  await t.rejects(log.append(2, [op('b', '2')]), /injected/);
  failNext = false;
  await t.rejects(log.append(3, [op('c', '3')]), /injected/, 'later appends fail too: the log stops at the first failure');
  t.ok((await store.head(walPath('i', log.nextSequence - 2))) !== undefined, 'the segment acknowledged before the failure is there');
  t.equal(await store.head(walPath('i', log.nextSequence - 1)), undefined, 'the failed upload left nothing');
});

t.test('the lease: past it, a stale writer acknowledges nothing without a fencing check; plugs outlive every lease', async (t) => {
  const store = freshStore();
  const clock = new ManualClock(Date.now());
  const { log: stale } = await openLog(store, 'i', 1, 0, 0, clock);
  await stale.append(1, [op('a', '1')]);
  clock.advance(WAL_LEASE_MS + 1);
  const { log: owner2, replay } = await openLog(store, 'i', 2, 0, 0, clock);
  t.same(replay.map((r) => r.firstSeq), [1], 'the new owner replays what was acknowledged');
  // The new owner flushes everything and truncates: its plugs stay until FENCE_RETENTION_MS has passed.
  await owner2.append(2, [op('b', '2')]);
  await owner2.truncate({ lastSequence: 2 });
  const plugsLeft = (await listSegments(store, 'i')).length;
  t.ok(plugsLeft >= WAL_MAX_IN_FLIGHT, `fence plugs are kept after truncation (${plugsLeft} segments left)`);
  // The stale writer's next append lands beyond the plugs? It cannot: its next number is a plug.
  await t.rejects(stale.append(3, [op('c', '3')]), { code: 'FENCED' }, 'the stale writer is fenced (by a plug, or by its lease check)');
  clock.advance(FENCE_RETENTION_MS + 1);
  await owner2.truncate({ lastSequence: 2 });
  t.ok((await listSegments(store, 'i')).length < plugsLeft, 'plugs go once no stale lease can be valid');
});

t.test('a torn-looking short read of the last segment is read again, never cut', async (t) => {
  const store = freshStore();
  const { log } = await openLog(store, 'i', 1, 0, 0);
  for (let i = 1; i <= 5; i++) await log.append(i, [op(`k${i}`, 'v'.repeat(100))]);
  let shortReads = 3;
  const flaky = overrideStore(store, {
    get: async (...a) => {
      const bytes = await store.get(...a);
      return a[0].startsWith('wal/') && shortReads-- > 0 ? bytes.subarray(0, bytes.length - 7) : bytes;
    },
  });
  const { replay, tornTail } = await openLog(flaky, 'i', 2, 0, 0);
  t.equal(replay.length, 5, 'every acknowledged record is replayed');
  t.equal(tornTail, undefined, 'nothing was cut');
});

t.test('TTL metadata and range deletes are logged, and replayed by a new owner', async (t) => {
  const ttlOp: WalOp = { kind: EntryKind.Merge, key: Buffer.from('m'), value: Buffer.from('abc'), ttl: [1, 0, 0, 2, 5000, 1000] };
  const rangeOp: WalOp = { kind: WAL_RANGE_DELETE, key: Buffer.from('a'), value: Buffer.from('k') };
  const back = decodeSegment(encodeSegment(1, [{ firstSeq: 1, ops: [ttlOp, rangeOp, op('p', 'q')] }]), 'seg', false);
  t.same(
    back.records[0]!.ops.map((o) => [o.kind, text(o.key), text(o.value), o.ttl]),
    [
      [EntryKind.Merge, 'm', 'abc', [1, 0, 0, 2, 5000, 1000]],
      [WAL_RANGE_DELETE, 'a', 'k', undefined],
      [EntryKind.Put, 'p', 'q', undefined],
    ],
    'round trip',
  );
  const bad = Buffer.from(encodeSegment(1, [{ firstSeq: 1, ops: [{ ...ttlOp, ttl: [1, 0, 0, 3, 5000, 1000] }] }]));
  // Reseal the record so only the TTL metadata (covering 4 bytes of a 3-byte value) is wrong.
  bad.writeUInt32BE(crc32c(bad.subarray(24)), 20);
  t.throws(() => decodeSegment(bad, 'seg', false), { code: 'CORRUPTION' }, 'TTL metadata that does not cover the value is CORRUPTION');

  const clock = new TtlClock();
  const options = { primary: `mem://wal-ttl-${process.pid}`, durability: 'wal' as const, compactionWorkers: 0, maxKeyGroups: 4 };
  const first = await openLsmStore(options, { clock });
  await first.put('short', 'x', { keyGroup: 0, ttlMs: 1000 });
  await first.put('long', 'y', { keyGroup: 0, ttlMs: 5000 });
  await first.put('gone', 'z', { keyGroup: 1 });
  await first.deleteRange({ keyGroup: 1 });
  await first.put('kept', 'w', { keyGroup: 2 });
  const second = await openLsmStore(options, { clock }); // takes over: replays the never-flushed log
  clock.advance(2000);
  const got = (await second.multiGet(['short', 'long'], { keyGroup: 0 })).map((v) => v && text(v));
  t.same(got, [undefined, 'y'], 'replayed writes keep their expiry times');
  t.equal(await second.get('gone', { keyGroup: 1 }), undefined, 'the replayed range delete hides the older write');
  t.equal(text((await second.get('kept', { keyGroup: 2 }))!), 'w');
  await first.close().catch(() => undefined);
  await second.close();
});

t.test('opening a log of thousands of segments reads them with bounded concurrency', async (t) => {
  // A kill -9 loop left ~20,000 segments; replay opened every one at once and failed with EMFILE, so the
  // daemon could not restart. Reads (and plugs) must be bounded.
  const store = freshStore();
  const { log } = await openLog(store, 'i', 1, 0, 0);
  for (let i = 0; i < 2000; i++) await log.append(i + 1, [op(`k${i}`, `v${i}`)]); // one segment each
  await log.drain();
  let inFlight = 0;
  let most = 0;
  const counted = overrideStore(store, {
    get: async (...a) => {
      most = Math.max(most, ++inFlight);
      try {
        return await store.get(...a);
      } finally {
        inFlight--;
      }
    },
  });
  const { replay } = await openLog(counted, 'i', 2, 0, 0);
  t.equal(replay.length, 2000, 'every record is replayed');
  t.ok(most <= 64, `at most 64 segment reads at once (saw ${most})`);
});

t.test('a fence plug ages from when it was written, not from each later open', async (t) => {
  // Every open used to date the plugs it found to its own start, so in a crash loop (lives shorter than
  // FENCE_RETENTION_MS) no plug ever aged, truncation stopped at the oldest one, and segments piled up.
  const store = freshStore();
  const clock = new ManualClock(Date.now());
  const { log: first } = await openLog(store, 'i', 1, 0, 0, clock);
  await first.append(1, [op('a', '1')]);
  const firstPlugs = WAL_MAX_IN_FLIGHT; // the first open plugs 1..32; its segment is 33
  clock.advance(FENCE_RETENTION_MS + 1);
  const { log: second, replay } = await openLog(store, 'i', 2, first.nextSequence, 0, clock);
  t.same(replay.map((r) => r.firstSeq), [1]);
  await second.append(2, [op('b', '2')]);
  await second.truncate({ lastSequence: 2 });
  const left = await listSegments(store, 'i');
  t.ok(left.every((seq) => seq > firstPlugs + 1), `the first writer's old plugs and its segment are deleted (left: ${left[0]}..${left[left.length - 1]})`);
  t.ok(left.length >= WAL_MAX_IN_FLIGHT, `the second writer's young plugs stay (${left.length} segments left)`);
});

for (const recorded of ['walSeq only (an older manifest)', 'walSeq and walFloor'] as const) {
t.test(`a stale writer cannot acknowledge uploads in flight below the walSeq its manifest recorded: ${recorded}`, async (t) => {
  // A manifest records the writer's NEXT segment number; uploads below it may still be in flight. If the
  // log was truncated up to the writer's durable prefix and a later upload landed first, a new owner that
  // plugged only from the lowest listed segment left the in-flight numbers open: the stale writer's uploads
  // landed there after the new owner's listing, and it acknowledged writes the new owner never replayed.
  const store = freshStore();
  const clock = new ManualClock(Date.now());
  const held = new Map<number, () => void>();
  let hold = false;
  const gated = overrideStore(store, {
    put: async (path, body, o) => {
      const seq = parseWalPath(path)?.seq;
      if (hold && seq !== undefined) await new Promise<void>((res) => held.set(seq, res));
      return store.put(path, body, o);
    },
  });
  const { log: stale } = await openLog(gated, 'i', 1, 0, 0, clock);
  await stale.append(1, [op('a', '1')]);
  clock.advance(FENCE_RETENTION_MS + 1); // its own plugs may go; the next acknowledgement renews its lease
  hold = true;
  const acked: number[] = [];
  const refused: string[] = [];
  const appends = [2, 3, 4].map((s) =>
    stale.append(s, [op(`k${s}`, 'v')]).then(
      () => void acked.push(s),
      (e: { code?: string }) => void refused.push(String(e.code)),
    ),
  );
  while (held.size < 3) await new Promise((res) => setImmediate(res));
  const [first, second, third] = [...held.keys()].sort((a, b) => a - b) as [number, number, number];
  // What a manifest written now records; it made segment 1's record durable, and the log is cut up to it.
  const manifest = { walSeq: stale.nextSequence, ...(recorded === 'walSeq and walFloor' ? { walFloor: stale.floorFor(1) } : {}) };
  await stale.truncate({ lastSequence: 1, ...manifest });
  held.get(third)!(); // the last upload lands first
  while ((await listSegments(store, 'i')).length === 0) await new Promise((res) => setImmediate(res));
  owner.set(store.uri, 2);
  const { replay } = await WalLog.open(store, 'i', 2, { afterSequence: 1, ...manifest }, clock, async () => undefined);
  held.get(first)!();
  held.get(second)!();
  await Promise.all(appends);
  const replayed = new Set(replay.map((r) => r.firstSeq));
  const lost = acked.filter((s) => !replayed.has(s));
  t.same(lost, [], `every write the stale writer acknowledged is replayed by the new owner (acknowledged: ${acked.join(',') || 'none'})`);
  t.same(refused, ['FENCED', 'FENCED', 'FENCED'], 'the stale writer is fenced instead');
});
}
