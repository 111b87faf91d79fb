/**
 * Memtable version chains against a model: random puts, deletes and merges with snapshots opened and
 * released at random. Every open snapshot keeps reading exactly what it saw when it was opened, and once
 * no snapshot is open no key holds more than one version (the chains were trimmed on release).
 */
import t from 'tap';
import { Memtable } from '../lib/lsm/memtable.js';
import { EntryKind } from '../lib/sst/entry.js';
import { Random, seedFromEnv } from '../lib/util/random.js';

function contents(m: Memtable, snapshot: number): string[] {
  return m.range(undefined, undefined, snapshot, Number.MAX_SAFE_INTEGER).map((e) => `${Buffer.from(e.key).toString()}:${e.kind}:${Buffer.from(e.value).toString()}`);
}

t.test('open snapshots read what they saw; released ones leave single versions', async (t) => {
  const seed = seedFromEnv();
  const rnd = new Random(seed);
  for (let round = 0; round < 20; round++) {
    const m = new Memtable();
    let seq = 0;
    const open: Array<{ seq: number; want: string[]; release: () => void }> = [];
    for (let op = 0; op < 400; op++) {
      const r = rnd.int(100);
      if (r < 8) {
        open.push({ seq, want: contents(m, seq), release: m.pinSnapshot(seq) });
      } else if (r < 14 && open.length > 0) {
        const [s] = open.splice(rnd.int(open.length), 1);
        s!.release();
        s!.release(); // idempotent
      } else {
        const key = Buffer.from(`k${rnd.int(12)}`);
        const kind = [EntryKind.Put, EntryKind.Delete, EntryKind.Merge][rnd.int(3)]!;
        m.apply(key, kind, Buffer.from(`v${op}`), ++seq);
      }
      if (op % 20 === 0) {
        for (const s of open) {
          const got = contents(m, s.seq);
          if (JSON.stringify(got) !== JSON.stringify(s.want)) {
            t.same(got, s.want, `seed ${seed} round ${round} op ${op}: snapshot ${s.seq} changed`);
            return;
          }
        }
      }
    }
    const latest = contents(m, seq);
    for (const s of open) s.release();
    t.equal(m.olderVersions, 0, `seed ${seed} round ${round}: no older versions once every snapshot is released`);
    t.same(contents(m, seq), latest, `seed ${seed} round ${round}: trimming kept the latest values`);
  }
});
