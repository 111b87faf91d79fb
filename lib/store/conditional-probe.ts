/**
 * The conditional-write probe: at open of a remote store, checks that the endpoint really enforces
 * create-if-absent (`put` with `ifNoneMatch`), because writer fencing (numbered manifests), checkpoint-record
 * uniqueness and shard layouts all depend on it, and an endpoint that ignores it (an S3-compatible server
 * without `If-None-Match` support drops the header and overwrites) makes them fail silently: two writers
 * both "win" and overwrite each other's state.
 *
 * The probe writes one fresh object (`paths.probePath`) twice with create-if-absent:
 *   1. bytes A must succeed;
 *   2. bytes B must fail with ALREADY_EXISTS, and the object must still hold A;
 * then deletes it (best effort: a leftover probe object is harmless and nothing reads `_floe/probe/`).
 *
 * A and B differ by construction and are unique to this probe (a 128-bit nonce from the OS, not the
 * injected seed: two processes opening at once with one FLOE_SEED must not pick the same name). That matters
 * because the probe runs through the retry layer, which resolves an ALREADY_EXISTS after an ambiguous
 * attempt by reading the object back and comparing bytes (lib/store/retry.ts): were B equal to A, a second
 * write whose first attempt failed retryably would be taken for our own landed write, and the probe would
 * report "not enforced" on a correct endpoint.
 *
 * Errors of the probe's requests (endpoint down, access refused) propagate unchanged: they are the usual IO or
 * CONFIG errors of the backend, naming the endpoint. Only an endpoint that accepted the second write (or
 * refused it but overwrote anyway) gives the conditional-write CONFIG error.
 */
import { randomBytes } from 'node:crypto';
import { FloeError, isFloeError } from '../errors.js';
import type { ObjectStore } from './object-store.js';
import { probePath } from './paths.js';

/** What the probe found. `not-probed`: the backend enforces create-if-absent itself (local, mem). */
export type ConditionalWrites = 'enforced' | 'not-enforced' | 'not-probed';

export interface ProbeTarget {
  /** Who answers, for messages, e.g. 'S3 endpoint http://127.0.0.1:9000 (bucket b)'. */
  endpoint: string;
  /** How this backend asks for create-if-absent, e.g. 'PUT with If-None-Match: *'. */
  mechanism: string;
  /** How a conforming endpoint refuses the second write, e.g. 'HTTP 412 PreconditionFailed'. */
  refusal: string;
  /** The option that accepts the risk, e.g. 's3.unsafeAllowUnconditionalWrites'. */
  unsafeOption: string;
  /** Where the option and its consequences are documented, e.g. 'docs/s3.md'. */
  docs: string;
  /** The option is set: open anyway (with a warning) instead of refusing. */
  allowUnsafe: boolean;
}

/** The `code` of the process warning emitted when the unsafe option lets a store open. */
export const UNSAFE_WARNING_CODE = 'FLOE_UNSAFE_UNCONDITIONAL_WRITES';

/**
 * Stores already warned about, so a process that opens the same store many times (shards, reopen) warns
 * once. Bounded by the distinct stores a process opens.
 */
const warned = new Set<string>();

/**
 * Probes `store` (REQUIRES: the stack the caller will use, below metrics so the probe is not counted; not
 * yet used). PROMISES: 'enforced'; or, when the endpoint does not enforce create-if-absent, CONFIG naming
 * the endpoint and the unsafe option, unless `target.allowUnsafe`, which returns 'not-enforced' after a
 * once-per-store process warning.
 */
export async function probeConditionalWrites(store: ObjectStore, target: ProbeTarget): Promise<ConditionalWrites> {
  const nonce = randomBytes(16).toString('hex');
  const path = probePath(nonce);
  const first = probeBytes('first', nonce);
  const second = probeBytes('second', nonce);
  let problem: string | undefined;
  try {
    await firstWrite(store, path, first, target);
    problem = await secondWrite(store, path, first, second, target);
  } finally {
    await store.delete(path).catch(() => undefined);
  }
  if (problem === undefined) return 'enforced';
  const what =
    `${store.uri}: the ${target.endpoint} does not enforce conditional writes (${target.mechanism}): ${problem}. ` +
    `Writer fencing, manifest and checkpoint-record uniqueness depend on them; without them two writers of one ` +
    `instance silently overwrite each other's state`;
  if (!target.allowUnsafe) {
    throw new FloeError(
      'CONFIG',
      `${what}. Use an endpoint that enforces them, or, only if you guarantee a single writer per instance ` +
        `and unique checkpoint ids yourself, set ${target.unsafeOption}: true (see ${target.docs}).`,
      { path: store.uri },
    );
  }
  const key = `${target.endpoint} ${store.uri}`;
  if (!warned.has(key)) {
    warned.add(key);
    process.emitWarning(`${what}. Opened anyway because ${target.unsafeOption} is set.`, { code: UNSAFE_WARNING_CODE });
  }
  return 'not-enforced';
}

/**
 * The first create-if-absent write, of an object nobody else can name. An ALREADY_EXISTS here means the
 * endpoint refuses every create-if-absent write, which no option can work around (no manifest could be
 * written): CONFIG, whatever `allowUnsafe` says.
 */
async function firstWrite(store: ObjectStore, path: string, first: Uint8Array, target: ProbeTarget): Promise<void> {
  try {
    await store.put(path, first, { ifNoneMatch: true });
  } catch (error) {
    if (!isFloeError(error, 'ALREADY_EXISTS')) throw error;
    throw new FloeError(
      'CONFIG',
      `${store.uri}: the ${target.endpoint} refused a create-if-absent write (${target.mechanism}) of the new probe object ${path} ` +
        `as if it existed, so Floe could write no manifest there; use an endpoint that supports conditional writes.`,
      { cause: error, path: store.uri },
    );
  }
}

/** The second create-if-absent write. PROMISES: undefined if refused with the first bytes kept, else what went wrong. */
async function secondWrite(store: ObjectStore, path: string, first: Uint8Array, second: Uint8Array, target: ProbeTarget): Promise<string | undefined> {
  try {
    await store.put(path, second, { ifNoneMatch: true });
  } catch (error) {
    if (!isFloeError(error, 'ALREADY_EXISTS')) throw error;
    const stored = await store.get(path);
    if (Buffer.from(stored).equals(first)) return undefined;
    return `a second create-if-absent write of probe object ${path} was refused, yet the object no longer holds the first write's bytes`;
  }
  return `a second create-if-absent write of probe object ${path} succeeded and replaced the first, instead of failing with ${target.refusal}`;
}

/** Text, so a leftover probe object explains itself; `which` makes the two writes differ by construction. */
function probeBytes(which: 'first' | 'second', nonce: string): Uint8Array {
  return new TextEncoder().encode(`floe conditional-write probe ${nonce}: ${which} write\n`);
}
