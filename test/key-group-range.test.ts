/**
 * murmur3_32Range / defaultKeyGroupAt (the key group of a key inside a request frame, without a view of
 * it) agree with murmur3_32 / defaultKeyGroup on the key alone: seeded random keys at random offsets,
 * every tail length, plus known MurmurHash3 x86_32 values.
 */
import t from 'tap';
import { defaultKeyGroup, defaultKeyGroupAt, murmur3_32, murmur3_32Range } from '../lib/keys.js';
import { Random, seedFromEnv } from '../lib/util/random.js';

t.test('known values', async (t) => {
  t.equal(murmur3_32(new Uint8Array(0), 0), 0);
  t.equal(murmur3_32(Buffer.from('hello'), 0), 0x248bfa47);
  t.equal(murmur3_32Range(Buffer.from('xxhelloyy'), 2, 7, 0), 0x248bfa47);
});

t.test('a range hashes like the key alone', async (t) => {
  const seed = seedFromEnv();
  const r = new Random(seed);
  const mismatches: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const len = r.int(40);
    const before = r.int(7);
    const buf = new Uint8Array(before + len + r.int(7));
    for (let j = 0; j < buf.length; j++) buf[j] = r.int(256);
    const key = buf.slice(before, before + len);
    const max = 1 + r.int(32768);
    if (murmur3_32Range(buf, before, before + len, 7) !== murmur3_32(key, 7) || defaultKeyGroupAt(buf, before, before + len, max) !== defaultKeyGroup(key, max)) {
      mismatches.push(`len ${len} at ${before}`);
    }
  }
  t.same(mismatches.slice(0, 5), [], `seed ${seed}`);
});
