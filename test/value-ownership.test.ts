/**
 * Values handed to and returned by the store are owned by their holder: a caller that changes the bytes it
 * wrote, or the bytes a get, scan or iterator returned, never changes what the store holds. Covers values
 * still in the memtable (where the store keeps its own copy, carved from shared slabs) and values in SSTs.
 */
import t from 'tap';
import { openLsmStore } from '../lib/embedded.js';

let stores = 0;
const open = () => openLsmStore({ primary: `mem://value-ownership-${process.pid}-${stores++}`, maxKeyGroups: 4, compactionWorkers: 0 });

for (const where of ['memtable', 'sst'] as const) {
  t.test(`returned and written values are copies (${where})`, async (t) => {
    const s = await open();
    const written = Buffer.from('value-0');
    await s.put('k0', written);
    await s.write([{ type: 'put', key: 'k1', value: Buffer.from('value-1') }]);
    written.fill(0x58); // the caller reuses its buffer
    if (where === 'sst') await s.flush();

    const got = await s.get('k0');
    got!.fill(0x59);
    for await (const e of s.scan({})) e.value.fill(0x5a);
    const it = s.iterator({});
    for (let e = await it.next(); e !== undefined; e = await it.next()) e.value!.fill(0x5b);
    await it.close();

    t.equal(Buffer.from((await s.get('k0'))!).toString(), 'value-0', 'k0 unchanged');
    t.equal(Buffer.from((await s.get('k1'))!).toString(), 'value-1', 'k1 unchanged');
    const scanned = [];
    for await (const e of s.scan({})) scanned.push(Buffer.from(e.value).toString());
    t.same(scanned.sort(), ['value-0', 'value-1'], 'a later scan sees the written values');
    await s.close();
  });
}
