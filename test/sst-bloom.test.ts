/**
 * The SST bloom filter: no false negatives, and the false-positive rate at 10 bits/key measured on 100k
 * absent keys (allowed: < 2%; theory says about 0.8% with 7 probes).
 */
import t from 'tap';
import { physicalKey } from '../lib/keys.js';
import { BloomBuilder, BloomFilter } from '../lib/sst/bloom.js';
import { SstBuilder } from '../lib/sst/builder.js';
import { SstReader, filterHash } from '../lib/sst/reader.js';
import { ByteWriter } from '../lib/sst/coding.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import { MemSource } from './support/sst-helpers.js';

const seed = seedFromEnv();
t.comment(`seed ${seed} (replay with FLOE_SEED=${seed})`);

/** Realistic physical keys: key group + "user-<n>" with a per-run random salt. */
function keyFor(salt: number, n: number): Uint8Array {
  return physicalKey(n % 128, Buffer.from(`user-${salt}-${n}`));
}

t.test('false-positive rate at 10 bits/key on 100k absent keys', async (t) => {
  const rng = new Random(seed);
  const salt = rng.nextU32();
  const present = 20000;
  const b = new SstBuilder({ compression: 'none', bloomBitsPerKey: 10 });
  const keys = Array.from({ length: present }, (_, i) => keyFor(salt, i)).sort(Buffer.compare);
  for (const [i, key] of keys.entries()) b.add({ key, kind: 0, seq: i, value: new Uint8Array(0) });
  const { bytes, info } = b.finish();
  const reader = await SstReader.open({ path: 'p', fileId: 'f', size: bytes.length, metaOffset: info.metaOffset, source: new MemSource(bytes) });
  let falseNegatives = 0;
  for (const k of keys) if (!reader.mayContain(k) || !reader.mayContainHash(filterHash(k))) falseNegatives++;
  t.equal(falseNegatives, 0, 'no false negatives');
  const absent = 100000;
  let fp = 0;
  let disagree = 0;
  for (let i = 0; i < absent; i++) {
    const k = keyFor(salt, present + i);
    const maybe = reader.mayContain(k);
    if (maybe) fp++;
    if (maybe !== reader.mayContainHash(filterHash(k))) disagree++;
  }
  t.equal(disagree, 0, 'mayContainHash(filterHash(k)) agrees with mayContain(k)');
  const rate = fp / absent;
  t.comment(`false positives: ${fp} of ${absent} absent keys = ${(rate * 100).toFixed(3)}% (seed ${seed})`);
  t.ok(rate < 0.02, `FPR ${(rate * 100).toFixed(3)}% < 2%`);
});

t.test('bits per key trades size for accuracy; 0 disables the filter', async (t) => {
  const rng = new Random(seed + 1);
  const salt = rng.nextU32();
  const rates: number[] = [];
  for (const bits of [4, 10, 16]) {
    const bb = new BloomBuilder(bits);
    for (let i = 0; i < 5000; i++) bb.add(keyFor(salt, i));
    const w = new ByteWriter();
    bb.encode(w);
    t.equal(w.length, BloomBuilder.encodedBytes(bits, 5000), `encodedBytes predicts the size (${bits} bits/key)`);
    const f = BloomFilter.decode(Uint8Array.from(w.bytes()));
    let fp = 0;
    for (let i = 0; i < 20000; i++) if (f.mayContain(keyFor(salt, 10000 + i))) fp++;
    rates.push(fp / 20000);
    for (let i = 0; i < 5000; i++) if (!f.mayContain(keyFor(salt, i))) t.fail(`false negative at ${bits} bits/key`);
  }
  t.comment(`FPR at 4/10/16 bits per key: ${rates.map((r) => (r * 100).toFixed(2) + '%').join(' / ')}`);
  t.ok(rates[0]! > rates[1]! && rates[1]! > rates[2]!, 'more bits, fewer false positives');

  const none = new BloomBuilder(0);
  none.add(Uint8Array.of(1));
  const w = new ByteWriter();
  none.encode(w);
  t.equal(w.length, 5, 'empty filter block');
  const f = BloomFilter.decode(Uint8Array.from(w.bytes()));
  t.ok(f.mayContain(Uint8Array.of(9, 9, 9)), 'no filter: every key may be present');
});
