/**
 * The one rule for combining versions of a key (lib/lsm/merge-values.ts), checked for every pair of kinds,
 * and the three users that fold versions (point resolution, compaction's combine, the memtable) against it.
 */
import t from 'tap';
import { EntryKind } from '../lib/sst/entry.js';
import { combine, combineVersions, PointResolver } from '../lib/lsm/merge-values.js';
import { Memtable } from '../lib/lsm/memtable.js';
import { Random } from '../lib/util/random.js';

const b = (s: string): Uint8Array => Buffer.from(s);
const str = (parts: Uint8Array[]): string => Buffer.concat(parts).toString();

t.test('combineVersions: every pair of kinds', async (t) => {
  const Put = EntryKind.Put;
  const Delete = EntryKind.Delete;
  const Merge = EntryKind.Merge;
  const name = (k: EntryKind): string => (k === Put ? 'Put' : k === Delete ? 'Delete' : 'Merge');
  const cases: Array<[EntryKind, EntryKind, EntryKind, string]> = [
    [Put, Put, Put, 'new'],
    [Put, Delete, Put, 'new'],
    [Put, Merge, Put, 'new'],
    [Delete, Put, Delete, ''],
    [Delete, Merge, Delete, ''],
    [Merge, Put, Put, 'oldnew'],
    [Merge, Delete, Put, 'new'],
    [Merge, Merge, Merge, 'oldnew'],
  ];
  for (const [newer, older, kind, value] of cases) {
    const c = combineVersions(newer, newer === Delete ? [] : [b('new')], older, older === Delete ? [] : [b('old')]);
    t.same({ kind: c.kind, value: str(c.parts) }, { kind, value }, `${name(newer)} over ${name(older)}`);
  }
  const owned = [b('a')];
  combineVersions(Merge, [b('b')], Put, owned);
  t.equal(owned.length, 1, 'the older parts are not modified unless asked');
});

t.test('point resolution, combine and the memtable agree with a model on random histories', async (t) => {
  const r = new Random(9);
  for (let round = 0; round < 300; round++) {
    const history: Array<{ kind: EntryKind; value: string }> = [];
    for (let i = 0, n = 1 + r.int(6); i < n; i++) {
      const kind = r.pick([EntryKind.Put, EntryKind.Delete, EntryKind.Merge, EntryKind.Merge]);
      history.push({ kind, value: kind === EntryKind.Delete ? '' : `v${round}.${i};` });
    }
    // The model: replay oldest first.
    let model: string | undefined;
    for (const h of history) model = h.kind === EntryKind.Put ? h.value : h.kind === EntryKind.Delete ? undefined : (model ?? '') + h.value;
    const resolver = new PointResolver();
    for (const h of [...history].reverse()) if (resolver.push(h.kind, b(h.value))) break;
    const fromResolver = resolver.value();
    t.equal(fromResolver === undefined ? undefined : Buffer.from(fromResolver).toString(), model, `round ${round}: point resolution`);
    let folded = { key: b('k'), kind: history[0]!.kind, seq: 1, value: b(history[0]!.value) };
    for (const [i, h] of history.slice(1).entries()) folded = combine({ key: b('k'), kind: h.kind, seq: i + 2, value: b(h.value) }, folded);
    const bottom = folded.kind === EntryKind.Delete ? undefined : Buffer.from(folded.value).toString();
    t.equal(bottom, model, `round ${round}: compaction's combine at the bottom`);
    const mem = new Memtable();
    const release = r.int(2) === 0 ? mem.pinSnapshot(1) : () => undefined; // with a snapshot, versions stack
    history.forEach((h, i) => {
      mem.apply(b('k'), h.kind, b(h.value), i + 1);
    });
    const v = mem.lookup(b('k'))!;
    const fromMem = v.kind === EntryKind.Delete ? undefined : Buffer.concat(v.parts).toString();
    t.equal(fromMem, model, `round ${round}: memtable`);
    release();
  }
});
