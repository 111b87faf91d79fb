/**
 * The conditional-write probe (lib/store/conditional-probe.ts) without servers: on the mem store, on wrappers
 * that misbehave the ways real endpoints do (ignore create-if-absent, refuse it but overwrite, refuse it
 * always), and under the retry layer with injected faults, where the probe's two writes must carry different
 * bytes or the retry layer's read-back would take a refused second write for a landed one.
 * The same probe against real endpoints: test/store-s3-probe.test.ts (moto, and moto behind a proxy that
 * strips If-None-Match) and test/store-hdfs-probe.test.ts.
 */
import t, { type Test } from 'tap';
import { FloeError, isFloeError } from '../lib/errors.js';
import { probeConditionalWrites, UNSAFE_WARNING_CODE, type ProbeTarget } from '../lib/store/conditional-probe.js';
import { FaultInjectingObjectStore, type FaultRule } from '../lib/store/faults.js';
import { dropMemStore, openMemStore } from '../lib/store/mem.js';
import type { GetOptions, GetRange, ObjectInfo, ObjectStore, PutOptions } from '../lib/store/object-store.js';
import { PROBE_PREFIX } from '../lib/store/paths.js';
import { RetryingObjectStore } from '../lib/store/retry.js';
import { alreadyExists } from '../lib/store/validate.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import { AutoClock } from './support/manual-clock.js';

const target = (extra: Partial<ProbeTarget> = {}): ProbeTarget => ({
  endpoint: 'test endpoint http://probe.invalid:1',
  mechanism: 'PUT with If-None-Match: *',
  refusal: 'HTTP 412 PreconditionFailed',
  unsafeOption: 'test.unsafeAllowUnconditionalWrites',
  docs: 'docs/s3.md',
  allowUnsafe: false,
  ...extra,
});

/** Forwards everything; subclasses change how create-if-absent behaves. */
class Forwarding implements ObjectStore {
  constructor(protected readonly inner: ObjectStore) {}
  get uri(): string {
    return this.inner.uri;
  }
  get(path: string, range?: GetRange, options?: GetOptions): Promise<Uint8Array> {
    return this.inner.get(path, range, options);
  }
  put(path: string, bytes: Uint8Array, options?: PutOptions): Promise<void> {
    return this.inner.put(path, bytes, options);
  }
  putStream(path: string, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options?: PutOptions): Promise<void> {
    return this.inner.putStream(path, chunks, options);
  }
  head(path: string): Promise<ObjectInfo | undefined> {
    return this.inner.head(path);
  }
  list(prefix: string): Promise<ObjectInfo[]> {
    return this.inner.list(prefix);
  }
  delete(path: string): Promise<void> {
    return this.inner.delete(path);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** An S3-compatible server without conditional writes: the header is ignored, the object overwritten. */
class IgnoresCreateIfAbsent extends Forwarding {
  override put(path: string, bytes: Uint8Array, options?: PutOptions): Promise<void> {
    return this.inner.put(path, bytes, { ...options, ifNoneMatch: false });
  }
}

/** Answers 412 to a second create, but has already stored the new bytes. */
class RefusesButOverwrites extends Forwarding {
  override async put(path: string, bytes: Uint8Array, options?: PutOptions): Promise<void> {
    const existed = (await this.inner.head(path)) !== undefined;
    await this.inner.put(path, bytes, { ...options, ifNoneMatch: false });
    if (options?.ifNoneMatch === true && existed) throw alreadyExists(this.uri, path);
  }
}

/** Refuses every create-if-absent write, even of a new object. */
class RefusesEveryCreate extends Forwarding {
  override async put(path: string, bytes: Uint8Array, options?: PutOptions): Promise<void> {
    if (options?.ifNoneMatch === true) throw alreadyExists(this.uri, path);
    await this.inner.put(path, bytes, options);
  }
}

let stores = 0;
/** A fresh mem store (dropped at the end of the test). */
function mem(t: Test): ObjectStore {
  const name = `probe-${process.pid}-${stores++}`;
  t.teardown(() => {
    dropMemStore(name);
  });
  return openMemStore(name);
}

/** The probe's outcome: the result, or the error. */
async function outcome(p: Promise<unknown>): Promise<{ value?: unknown; error?: Error }> {
  try {
    return { value: await p };
  } catch (error) {
    return { error: error as Error };
  }
}

t.test('a store that enforces create-if-absent passes, and the probe object is deleted', async (t) => {
  const store = mem(t);
  t.equal(await probeConditionalWrites(store, target()), 'enforced');
  t.same(await store.list(''), [], 'nothing remains');
});

t.test('a store that ignores create-if-absent is refused with CONFIG naming endpoint and option', async (t) => {
  const inner = mem(t);
  const { error } = await outcome(probeConditionalWrites(new IgnoresCreateIfAbsent(inner), target()));
  t.ok(isFloeError(error, 'CONFIG') && !error.retryable, `CONFIG, not retryable: ${error?.message}`);
  const message = error?.message ?? '';
  t.match(message, inner.uri, 'names the store');
  t.match(message, 'test endpoint http://probe.invalid:1', 'names the endpoint');
  t.match(message, 'PUT with If-None-Match: *', 'names the mechanism');
  t.match(message, `probe object ${PROBE_PREFIX}`, 'names the probe object');
  t.match(message, 'instead of failing with HTTP 412 PreconditionFailed', 'says what should have happened');
  t.match(message, 'test.unsafeAllowUnconditionalWrites: true', 'names the unsafe option');
  t.match(message, 'docs/s3.md', 'points at the documentation');
  t.same(await inner.list(''), [], 'the probe object was deleted');
});

t.test('the unsafe option opens anyway and warns once per store', async (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error): void => {
    if ((w as { code?: string }).code === UNSAFE_WARNING_CODE) warnings.push(w.message);
  };
  process.on('warning', onWarning);
  t.teardown(() => {
    process.off('warning', onWarning);
  });
  const a = new IgnoresCreateIfAbsent(mem(t));
  const b = new IgnoresCreateIfAbsent(mem(t));
  const unsafe = target({ allowUnsafe: true });
  t.equal(await probeConditionalWrites(a, unsafe), 'not-enforced');
  t.equal(await probeConditionalWrites(a, unsafe), 'not-enforced', 'again');
  t.equal(await probeConditionalWrites(b, unsafe), 'not-enforced', 'another store');
  await new Promise((r) => setImmediate(r));
  t.equal(warnings.length, 2, 'one warning per store, not per open');
  t.match(warnings[0] ?? '', a.uri, 'the first names its store');
  t.match(warnings[1] ?? '', b.uri, 'the second names its store');
  t.match(warnings[0] ?? '', 'Opened anyway because test.unsafeAllowUnconditionalWrites is set', 'and says why it opened');
  t.same(await a.list(''), [], 'nothing remains');
});

t.test('a store that refuses the second write but overwrites is refused', async (t) => {
  const inner = mem(t);
  const { error } = await outcome(probeConditionalWrites(new RefusesButOverwrites(inner), target()));
  t.ok(isFloeError(error, 'CONFIG'), `CONFIG: ${error?.message}`);
  t.match(error?.message ?? '', "no longer holds the first write's bytes");
  t.same(await inner.list(''), [], 'the probe object was deleted');
});

t.test('a store that refuses every create-if-absent write is refused even with the unsafe option', async (t) => {
  const { error } = await outcome(probeConditionalWrites(new RefusesEveryCreate(mem(t)), target({ allowUnsafe: true })));
  t.ok(isFloeError(error, 'CONFIG'), `CONFIG: ${error?.message}`);
  t.match(error?.message ?? '', 'refused a create-if-absent write');
  t.match(error?.message ?? '', 'as if it existed');
});

t.test('errors of the probe requests propagate unchanged (not CONFIG); the probe object is deleted', async (t) => {
  const inner = mem(t);
  const refused = new FloeError('IO', 'PUT failed: endpoint http://probe.invalid:1 refused it', { retryable: false });
  for (const nth of [1, 2]) {
    const faulty = new FaultInjectingObjectStore(inner, { seed: 1, rules: [{ ops: ['put'], nth, error: () => refused }] });
    const { error } = await outcome(probeConditionalWrites(faulty, target()));
    t.equal(error, refused, `put ${nth} failing: the backend's own error`);
  }
  const down = new FaultInjectingObjectStore(inner, { seed: 1 });
  down.setDown(true);
  const clock = new AutoClock();
  const { error } = await outcome(probeConditionalWrites(new RetryingObjectStore(down, { clock, random: new Random(1) }), target()));
  t.ok(isFloeError(error, 'IO') && error.retryable, `an endpoint that stays down: retryable IO after retries (${error?.message})`);
  t.same(await inner.list(''), [], 'nothing remains');
});

t.test('under the retry layer, ambiguous failures never make a correct store look unsafe', async (t) => {
  // Each rule makes one of the probe's puts fail retryably: 'error' before it reaches the store, 'lost-response'
  // after it was applied. The retry layer then meets ALREADY_EXISTS on a later attempt and reads the object
  // back: the first write's must resolve as ours, the second's must stay refused (its bytes differ).
  const cases: Array<[string, FaultRule[]]> = [
    ['first put: response lost', [{ ops: ['put'], nth: 1, effect: 'lost-response' }]],
    ['second put: failed before reaching the store', [{ ops: ['put'], nth: 2, effect: 'error' }]],
    ['second put: failed twice', [{ ops: ['put'], nth: 2, effect: 'error' }, { ops: ['put'], nth: 3, effect: 'error' }]],
    ['both', [{ ops: ['put'], nth: 1, effect: 'lost-response' }, { ops: ['put'], nth: 3, effect: 'error' }]],
  ];
  for (const [what, rules] of cases) {
    const inner = mem(t);
    const faulty = new FaultInjectingObjectStore(inner, { seed: 1, rules });
    const retrying = new RetryingObjectStore(faulty, { clock: new AutoClock(), random: new Random(1) });
    const { value, error } = await outcome(probeConditionalWrites(retrying, target()));
    t.equal(value, 'enforced', `${what}: enforced${error ? ` (got ${error.message})` : ''}`);
    t.ok(faulty.injected().error + faulty.injected()['lost-response'] >= 1, `${what}: the fault happened`);
    t.ok(retrying.retries >= 1, `${what}: and was retried`);
    t.same(await inner.list(''), [], `${what}: nothing remains`);
  }
  // And on a store that ignores create-if-absent, a retried second write still gives the refusal.
  const seed = seedFromEnv();
  const inner = mem(t);
  const faulty = new FaultInjectingObjectStore(new IgnoresCreateIfAbsent(inner), { seed, rules: [{ ops: ['put'], nth: 2, effect: 'lost-response' }] });
  const retrying = new RetryingObjectStore(faulty, { clock: new AutoClock(), random: new Random(seed) });
  const { error } = await outcome(probeConditionalWrites(retrying, target()));
  t.ok(isFloeError(error, 'CONFIG'), `ignoring store, second put's response lost: still CONFIG (${error?.message})`);
});
