/**
 * Pins the socket protocol's bytes (docs/protocol.md): example frames are fixed byte arrays in
 * test/golden/protocol/*.hex, shared with the Java client's GoldenFramesTest (flink/), so a change of the wire
 * format breaks both and has to be made deliberately (with a version bump). Also checks the decoders against
 * the same bytes, the frame parser on arbitrary chunk boundaries, and the version check.
 */
import t from 'tap';
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { FloeError } from '../lib/errors.js';
import {
  decodeError,
  encodeKeyOnly,
  encodeKeyValue,
  encodeMultiGet,
  encodeWrite,
  ERROR_OP,
  negotiateHello,
  Op,
  opVersion,
  parseGetOk,
  parseHelloOk,
  parseMultiGetOk,
  parsePage,
  writeErrorFrame,
  writeHello,
  writeHelloOk,
  writeScanPayload,
} from '../lib/protocol/protocol.js';
import {
  checkOpenStore,
  encodeCloseStore,
  encodeOpenStore,
  parseCloseStore,
  parseOpenStore,
  parseOpenStoreOk,
  writeOpenStoreOk,
} from '../lib/protocol/named-store.js';
import { FrameParser, Reader, Writer } from '../lib/protocol/wire.js';
import {
  encodeDeleteKeyGroups,
  encodeDeleteRange,
  encodeGetAt,
  encodeIdFrame,
  encodeIterator,
  encodeIteratorNext,
  encodeKeyValueTtl,
  encodeMultiGetAt,
  parseIteratorPage,
  readDeleteRange,
  readIteratorNext,
  readIteratorOptions,
} from '../lib/protocol/protocol-v2.js';
import { flinkRanges, ShardMap } from '../lib/daemon/shard-map.js';
import { Random, seedFromEnv } from '../lib/util/random.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
/** The bytes of test/golden/protocol/NAME.hex (hex digits; whitespace and `#` comments ignored). */
const golden = (name: string): Buffer => {
  const text = readFileSync(`test/golden/protocol/${name}.hex`, 'utf8').replace(/#[^\n]*/g, '');
  if (!/^[\s0-9a-fA-F]*$/.test(text)) throw new Error(`test/golden/protocol/${name}.hex has characters other than hex digits, whitespace and # comments`);
  return hex(text);
};
const frame = (fill: (w: Writer) => void): string => {
  const w = new Writer(64);
  fill(w);
  return w.take().toString('hex');
};

t.test('golden frames from docs/protocol.md', async (t) => {
  t.equal(frame((w) => writeHello(w, 1, 1, 1)), golden('hello').toString('hex'), 'HELLO id 1, versions 1..1');
  t.equal(
    frame((w) => encodeKeyValue(w, Op.PUT, 2, 'k', 'v', { keyGroup: 7 })),
    golden('put').toString('hex'),
    'PUT kg 7 "k" = "v" id 2',
  );
  t.equal(frame((w) => encodeKeyOnly(w, Op.GET, 3, 'k', undefined)), golden('get').toString('hex'), 'GET default kg "k" id 3');
  t.equal(
    frame((w) => writeErrorFrame(w, 9, new FloeError('BUSY', 'slow down', { retryable: true }))),
    golden('error-busy').toString('hex'),
    'ERROR BUSY retryable "slow down" id 9',
  );
  // GET ok found "v", id 3: decode the payload.
  const getOk = golden('get-ok');
  t.equal(getOk[4], Op.GET | 0x80);
  t.same(Buffer.from(parseGetOk(getOk.subarray(9))!), Buffer.from('v'));
  t.equal(parseGetOk(Uint8Array.of(0)), undefined, 'not found');
  t.equal(frame((w) => encodeKeyOnly(w, Op.DELETE, 4, 'k', { keyGroup: 7 })), golden('delete').toString('hex'), 'DELETE kg 7 "k" id 4');
  t.equal(frame((w) => encodeKeyValue(w, Op.MERGE, 8, 'k', '+', undefined)), golden('merge').toString('hex'), 'MERGE default kg "k" "+" id 8');
  t.equal(
    frame((w) => {
      const s = w.beginFrame(Op.SCAN_NEXT, 10);
      w.u32(5);
      w.endFrame(s);
    }),
    golden('scan-next').toString('hex'),
    'SCAN_NEXT cursor 5 id 10',
  );
  t.equal(frame((w) => w.endFrame(w.beginFrame(Op.FLUSH, 11))), golden('flush').toString('hex'), 'FLUSH id 11');
  t.equal(
    frame((w) => writeErrorFrame(w, 1, new FloeError('CORRUPTION', 'bad block', { path: 'sst/x.sst' }))),
    golden('error-corruption').toString('hex'),
    'ERROR CORRUPTION with a path, id 1',
  );
});

t.test('more pinned payloads: WRITE, MULTI_GET, SCAN, HELLO ok, page', async (t) => {
  t.equal(
    frame((w) =>
      encodeWrite(w, 5, [
        { type: 'put', key: 'a', value: 'b', keyGroup: 1 },
        { type: 'delete', key: 'c' },
        { type: 'merge', key: Uint8Array.of(0xff), value: Uint8Array.of() },
      ]),
    ),
    golden('write').toString('hex'),
  );
  t.equal(
    frame((w) => encodeMultiGet(w, 6, ['x', 'yz'], { keyGroup: 2 })),
    golden('multi-get').toString('hex'),
  );
  t.equal(
    frame((w) => {
      const s = w.beginFrame(Op.SCAN, 7);
      writeScanPayload(w, { keyGroup: 3, limit: 10, prefix: 'p' }, 0);
      w.endFrame(s);
    }),
    golden('scan').toString('hex'),
    'flags = keyGroup|limit|prefix',
  );
  const helloOk = frame((w) => writeHelloOk(w, 1, { version: 1, shards: 2, maxKeyGroups: 128, maxFrameBytes: 1024, maxInFlight: 16, server: 'f' }));
  t.equal(helloOk, golden('hello-ok').toString('hex'));
  t.same(parseHelloOk(Buffer.from(helloOk, 'hex').subarray(9)), { version: 1, shards: 2, maxKeyGroups: 128, maxFrameBytes: 1024, maxInFlight: 16, server: 'f' });
  const page = parsePage(golden('page.payload'));
  t.same(page.cursor, 5);
  t.same(page.done, false);
  t.same(page.entries.map((e) => [e.keyGroup, Buffer.from(e.key).toString(), Buffer.from(e.value).toString()]), [[4, 'k', 'vv']]);
  t.same(
    parseMultiGetOk(golden('multi-get-ok.payload'), 2).map((v) => (v ? Buffer.from(v).toString() : v)),
    [undefined, 'A'],
  );
});

t.test('protocol version 2 frames (TTL writes, range deletes, snapshots, iterators)', async (t) => {
  const g = (name: string): string => golden(name).toString('hex');
  t.equal(frame((w) => writeHello(w, 1, 1, 2)), g('hello-v2'), 'HELLO versions 1..2');
  t.equal(frame((w) => writeHello(w, 1)), g('hello-v2'), 'the bundled client asks for 1..2');
  t.equal(frame((w) => encodeKeyValueTtl(w, Op.PUT_TTL, 14, 'k', 'v', { keyGroup: 7, ttlMs: 60000 })), g('put-ttl'), 'PUT_TTL');
  t.equal(frame((w) => encodeKeyValueTtl(w, Op.MERGE_TTL, 15, 'k', '+', { ttlMs: 1 })), g('merge-ttl'), 'MERGE_TTL');
  t.equal(
    frame((w) =>
      encodeWrite(w, 16, [
        { type: 'put', key: 'a', value: 'b', keyGroup: 1, ttlMs: 1000 },
        { type: 'merge', key: 'c', value: 'd', ttlMs: 0 },
      ]),
    ),
    g('write-ttl'),
    'WRITE with op types 4 and 5',
  );
  t.equal(frame((w) => encodeDeleteRange(w, 17, { keyGroup: 3, gte: 'a', lt: 'm' })), g('delete-range'), 'DELETE_RANGE');
  t.same(readDeleteRange(golden('delete-range').subarray(9)), { keyGroup: 3, gte: Buffer.from('a'), lt: Buffer.from('m') }, 'DELETE_RANGE decodes');
  t.equal(frame((w) => encodeDeleteKeyGroups(w, 18, [2, 5])), g('delete-key-groups'), 'DELETE_KEY_GROUPS');
  t.equal(frame((w) => encodeIdFrame(w, Op.SNAPSHOT, 19, 1)), g('snapshot'), 'SNAPSHOT');
  t.equal(frame((w) => encodeIdFrame(w, Op.RELEASE_SNAPSHOT, 20, 1)), g('release-snapshot'), 'RELEASE_SNAPSHOT');
  t.equal(frame((w) => encodeGetAt(w, 21, 1, 'k', { keyGroup: 7 })), g('get-at'), 'GET_AT');
  t.equal(frame((w) => encodeMultiGetAt(w, 22, 1, ['x', 'yz'], undefined)), g('multi-get-at'), 'MULTI_GET_AT');
  const itOptions = { keyGroup: 3, gte: 'a', lt: 'm', reverse: true, limit: 10, values: false };
  t.equal(frame((w) => encodeIterator(w, 23, 2, 1, itOptions)), g('iterator'), 'ITERATOR');
  const it = golden('iterator');
  const parsed = readIteratorOptions(new Reader(it, 9 + 8, it.length, 'ITERATOR options'));
  t.same(
    { ...parsed, gte: Buffer.from(parsed.gte!).toString(), lt: Buffer.from(parsed.lt!).toString() },
    { keyGroup: 3, limit: 10, gt: undefined, gte: 'a', lt: 'm', lte: undefined, reverse: true, keys: true, values: false },
    'ITERATOR options decode',
  );
  t.equal(frame((w) => encodeIteratorNext(w, 24, 2, 100, { keyGroup: 3, key: 'c' })), g('iterator-next'), 'ITERATOR_NEXT with a seek');
  t.same(readIteratorNext(golden('iterator-next').subarray(9)), { iterator: 2, maxEntries: 100, seek: { keyGroup: 3, key: Buffer.from('c') } });
  t.equal(frame((w) => encodeIdFrame(w, Op.ITERATOR_CLOSE, 25, 2)), g('iterator-close'), 'ITERATOR_CLOSE');
  const page = parseIteratorPage(golden('iterator-page.payload'), true, true);
  t.same(
    { done: page.done, entries: page.entries.map((e) => [e.keyGroup, Buffer.from(e.key!).toString(), Buffer.from(e.value!).toString()]) },
    { done: true, entries: [[3, 'c', 'v'], [3, 'a', 'w']] },
    'an iterator page decodes',
  );
  t.equal(opVersion(Op.PUT), 1, 'v1 opcodes need version 1');
  for (const op of [Op.PUT_TTL, Op.MERGE_TTL, Op.DELETE_RANGE, Op.DELETE_KEY_GROUPS, Op.GET_AT, Op.MULTI_GET_AT, Op.SNAPSHOT, Op.RELEASE_SNAPSHOT, Op.ITERATOR, Op.ITERATOR_NEXT, Op.ITERATOR_CLOSE]) {
    t.equal(opVersion(op), 2, `opcode 0x${op.toString(16)} needs version 2`);
  }
});

t.test('named stores: OPEN_STORE and CLOSE_STORE frames', async (t) => {
  const request = { name: 'job-3f2a/op-7/sub-0', maxKeyGroups: 128, keyGroups: [0, 63] as [number, number], ephemeral: true };
  t.equal(frame((w) => encodeOpenStore(w, 12, request)), golden('open-store').toString('hex'), 'OPEN_STORE id 12');
  t.equal(golden('open-store')[4], Op.OPEN_STORE);
  t.same(parseOpenStore(golden('open-store').subarray(9)), request, 'the daemon reads it back');
  // Key order and whitespace are free on the wire; the encoder writes the canonical order.
  t.same(parseOpenStore(Buffer.from(' { "ephemeral": true, "keyGroups": [0, 63], "maxKeyGroups": 128, "name": "job-3f2a/op-7/sub-0" } ')), request);
  t.equal(frame((w) => encodeCloseStore(w, 13, { drop: true })), golden('close-store').toString('hex'), 'CLOSE_STORE drop id 13');
  t.same(parseCloseStore(golden('close-store').subarray(9)), { drop: true });
  t.same(parseCloseStore(Uint8Array.of(0)), { drop: false });
  t.throws(() => parseCloseStore(Uint8Array.of(2)), { code: 'INVALID_ARGUMENT' }, 'unknown flag bits');
  t.throws(() => parseCloseStore(Uint8Array.of()), { code: 'PROTOCOL' }, 'no flags byte');
  const ok = { name: 'job-3f2a/op-7/sub-0', shard: 1, maxKeyGroups: 128, keyGroups: [0, 63] as [number, number], restored: false, created: true };
  t.equal(frame((w) => writeOpenStoreOk(w, ok)), golden('open-store-ok.payload').toString('hex'), 'OPEN_STORE answer payload');
  t.same(parseOpenStoreOk(golden('open-store-ok.payload')), ok);
});

t.test('named stores: request validation says what is wrong', async (t) => {
  const base = { name: 'a/b', maxKeyGroups: 128, keyGroups: [0, 127] };
  t.same(checkOpenStore(base), base);
  const bad: Array<[string, unknown, RegExp]> = [
    ['empty name', { ...base, name: '' }, /name must be a string of 1\.\.200/],
    ['long name', { ...base, name: 'x'.repeat(201) }, /1\.\.200/],
    ['dot dot', { ...base, name: 'a/../b' }, /no "\.\."/],
    ['leading slash', { ...base, name: '/a' }, /no leading/],
    ['bad char', { ...base, name: 'a b' }, /not valid/],
    ['max 0', { ...base, maxKeyGroups: 0 }, /maxKeyGroups must be an integer in \[1, 32768\]/],
    ['max too big', { ...base, maxKeyGroups: 32769 }, /maxKeyGroups/],
    ['range past max', { ...base, keyGroups: [0, 128] }, /keyGroups must be/],
    ['range reversed', { ...base, keyGroups: [5, 4] }, /keyGroups must be/],
    ['range not pair', { ...base, keyGroups: [1] }, /keyGroups must be/],
    ['restore not array', { ...base, restore: {} }, /restore must be an array/],
    ['restore not handle', { ...base, restore: [1] }, /restore\[0\]/],
    ['ephemeral not bool', { ...base, ephemeral: 'yes' }, /ephemeral must be/],
    ['unknown field', { ...base, shards: 2 }, /unknown field/],
    ['not object', [1], /takes an object/],
  ];
  for (const [what, input, message] of bad) t.throws(() => checkOpenStore(input), { code: 'INVALID_ARGUMENT', message }, what);
  t.throws(() => parseOpenStore(Buffer.from('{"name":')), { code: 'INVALID_ARGUMENT', message: /not valid JSON/ });
  const w = new Writer(64);
  t.throws(() => encodeOpenStore(w, 1, { ...base, name: '..' }), { code: 'INVALID_ARGUMENT' });
  t.equal(w.length, 0, 'an invalid request writes nothing');
});

t.test('errors survive the encoding with code, retryable and path', async (t) => {
  const w = new Writer(64);
  writeErrorFrame(w, 1, new FloeError('CORRUPTION', 'bad block', { path: 'sst/x.sst' }));
  const bytes = w.take();
  t.equal(bytes[4], ERROR_OP);
  const e = decodeError(bytes.subarray(9));
  t.equal(e.code, 'CORRUPTION');
  t.equal(e.message, 'bad block');
  t.equal(e.path, 'sst/x.sst');
  t.equal(e.retryable, false);
  t.equal(decodeError(golden('error-unknown-code.payload')).code, 'PROTOCOL', 'unknown code → PROTOCOL');
});

t.test('version negotiation', async (t) => {
  const payload = (min: number, max: number, magic = 'FLOE'): Uint8Array => {
    const w = new Writer(16);
    w.raw(Buffer.from(magic));
    w.u16(min);
    w.u16(max);
    return w.take();
  };
  t.equal(negotiateHello(payload(1, 1)), 1);
  t.equal(negotiateHello(payload(1, 9)), 2, 'picks the highest common version (this daemon speaks 1..2)');
  t.equal(negotiateHello(payload(2, 2)), 2, 'a client that needs version 2');
  t.throws(() => negotiateHello(payload(3, 9)), { code: 'VERSION' }, 'a client that needs a newer version');
  t.throws(() => negotiateHello(payload(0, 0)), { code: 'VERSION' });
  t.throws(() => negotiateHello(payload(1, 1, 'HTTP')), { code: 'PROTOCOL' });
  t.throws(() => negotiateHello(Uint8Array.of(0x46, 0x4c)), { code: 'PROTOCOL' }, 'truncated');
});

t.test('frame parser: any chunking yields the same frames; bad lengths fail at once', async (t) => {
  const seed = seedFromEnv();
  const r = new Random(seed);
  const w = new Writer(64);
  const frames: string[] = [];
  for (let i = 0; i < 200; i++) {
    const start = w.length;
    encodeKeyValue(w, Op.PUT, i, r.bytes(r.range(1, 40)), r.bytes(r.int(3000)), r.bool() ? { keyGroup: r.int(128) } : undefined);
    frames.push(w.view().subarray(start).toString('hex'));
  }
  const stream = Buffer.from(w.take());
  for (let round = 0; round < 5; round++) {
    const p = new FrameParser(1 << 20);
    const got: string[] = [];
    for (let at = 0; at < stream.length; ) {
      const n = round === 0 ? 1 : r.range(1, 5000);
      p.push(stream.subarray(at, at + n));
      at += n;
      for (let f = p.next(); f !== undefined; f = p.next()) got.push(Buffer.from(f).toString('hex'));
    }
    t.same(got, frames, `seed ${seed} round ${round}: frames intact`);
    t.equal(p.buffered, 0);
  }
  const p = new FrameParser(1000);
  p.push(hex('00 00 10 00 10'));
  t.throws(() => p.next(), { code: 'PROTOCOL' }, 'over max, before the body arrives');
  const q = new FrameParser(1000);
  q.push(hex('00 00 00 04 10'));
  t.throws(() => q.next(), { code: 'PROTOCOL' }, 'below the minimum');
});

t.test('shard map is Flink KeyGroupRangeAssignment', async (t) => {
  t.same(flinkRanges(128, 3), [
    [0, 42],
    [43, 85],
    [86, 127],
  ]);
  t.same(flinkRanges(10, 4), [
    [0, 2],
    [3, 4],
    [5, 7],
    [8, 9],
  ]);
  for (const max of [1, 2, 7, 128, 1000, 32768]) {
    for (const n of [1, 2, 3, 5, 8, 13, 64, 256]) {
      if (n > max) continue;
      const m = ShardMap.flink(max, n);
      // Flink's inverse: computeOperatorIndexForKeyGroup = keyGroup * parallelism / maxParallelism.
      let ok = true;
      for (let kg = 0; kg < max; kg += Math.max(1, Math.floor(max / 500))) if (m.shardOf(kg) !== Math.floor((kg * n) / max)) ok = false;
      if (!ok) t.fail(`max ${max} n ${n}: shardOf disagrees with Flink`);
    }
  }
  t.throws(() => ShardMap.flink(4, 5), { code: 'CONFIG' });
  t.throws(() => new ShardMap(8, [[0, 3], [5, 7]]), { code: 'CONFIG' }, 'gap');
});
