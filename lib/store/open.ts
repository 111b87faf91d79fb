/**
 * `openObjectStore(uri, options)`: the one place that turns a primary-storage URI into an object-store stack,
 *
 *   backend (local | mem | s3 | webhdfs) → [inject, tests only] → retry → metrics
 *
 * and returns the top of the stack plus the metrics wrapper (for `stats().remote`).
 *
 * Remote backends (s3, hdfs) are probed before the store is returned: the endpoint must enforce
 * create-if-absent, or writer fencing and checkpoint-record uniqueness silently fail
 * (lib/store/conditional-probe.ts; refused with CONFIG unless `s3|hdfs.unsafeAllowUnconditionalWrites`).
 * The probe runs through the retry layer, below metrics, so it is retried like any request and not counted.
 * The local and mem backends enforce create-if-absent in this process's own code and are not probed.
 *
 * Accepted URIs: `file:///absolute/path`, `mem://name`, `s3://bucket[/prefix]`, `hdfs://host:port/path`.
 * Anything else is a CONFIG error that names the URI, says what is wrong and lists the accepted forms.
 * The S3 and WebHDFS backends live in `./s3.js` and `./webhdfs.js` and are loaded on first use, so a process
 * that never opens them never loads the AWS SDK; they validate the details of their own URIs.
 */
import { fileURLToPath } from 'node:url';
import { isAbsolute, resolve } from 'node:path';
import type { HdfsOptions, S3Options } from '../api.js';
import { FloeError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { probeConditionalWrites, type ConditionalWrites, type ProbeTarget } from './conditional-probe.js';
import { LocalObjectStore, type LocalObjectStoreOptions } from './local.js';
import { checkMemStoreName, openMemStore } from './mem.js';
import { MetricsObjectStore } from './metrics.js';
import type { ObjectStore } from './object-store.js';
import { RetryingObjectStore, type RetryOptions } from './retry.js';

export const ACCEPTED_SCHEMES = 'file:///absolute/path, mem://name, s3://bucket/prefix, hdfs://host:port/path';

export interface OpenObjectStoreOptions {
  s3?: S3Options;
  hdfs?: HdfsOptions;
  /** Options of the local backend (durability, stale temp age). */
  local?: LocalObjectStoreOptions;
  clock?: Clock;
  random?: Random;
  /** Retry policy, or false for no retry layer. */
  retry?: RetryOptions | false;
  /**
   * Tests and benchmarks: wraps the backend before the retry layer, e.g. in a FaultInjectingObjectStore,
   * so injected faults are retried the way real ones are.
   */
  inject?: (backend: ObjectStore) => ObjectStore;
  /**
   * Skip the conditional-write probe (default: probe remote backends). Only for callers that never write
   * fencing-relevant objects: read-only tools, and short-lived stores whose owner opens a probed store too.
   */
  skipProbe?: boolean;
}

export interface OpenedObjectStore {
  /** The top of the stack: use this for all I/O. */
  store: ObjectStore;
  /** The metrics wrapper at the top (the same object as `store`), for `snapshot()`. */
  metrics: MetricsObjectStore;
  /** What the conditional-write probe found ('not-probed' for file:// and mem://). */
  conditionalWrites: ConditionalWrites;
}

/** The parsed form of a primary-storage URI. */
export type ParsedStoreUri =
  | { scheme: 'file'; root: string }
  | { scheme: 'mem'; name: string }
  | { scheme: 's3'; uri: string }
  | { scheme: 'hdfs'; uri: string };

/** What the S3 and WebHDFS modules must export (typed here so this module builds without them). */
interface S3Module {
  createS3Store(
    uri: string,
    options: S3Options & { clock?: Clock; random?: Random },
  ): Promise<ObjectStore & { readonly endpoint: string; readonly bucket: string }>;
}
interface WebHdfsModule {
  createWebHdfsStore(uri: string, options: HdfsOptions & { clock?: Clock; random?: Random }): Promise<ObjectStore & { readonly namenode: string }>;
}

/** A backend, and how to probe it (undefined: not probed). */
interface OpenedBackend {
  backend: ObjectStore;
  probe?: ProbeTarget;
}

function bad(uri: string, what: string): FloeError {
  return new FloeError('CONFIG', `primary storage URI ${JSON.stringify(uri)} is not valid: ${what}. Accepted: ${ACCEPTED_SCHEMES}.`, {
    path: typeof uri === 'string' ? uri : undefined,
  });
}

/** Parses and validates a primary-storage URI. Throws CONFIG naming the URI and the fix. */
export function parseStoreUri(uri: string): ParsedStoreUri {
  if (typeof uri !== 'string' || uri.trim() === '') throw bad(String(uri), 'it is empty');
  if (uri !== uri.trim()) throw bad(uri, 'it has leading or trailing whitespace');
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(uri)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    if (isAbsolute(uri)) throw bad(uri, `a bare path has no scheme; write file://${uri}`);
    throw bad(uri, `relative paths are not accepted; write an absolute file URI such as file://${resolve(uri)}`);
  }
  switch (scheme) {
    case 'file':
      return { scheme: 'file', root: parseFileUri(uri) };
    case 'mem': {
      const m = /^mem:\/\/([^/?#]*)\/?$/i.exec(uri);
      if (!m || m[1] === '') throw bad(uri, 'a mem store needs a name, as in mem://my-store');
      try {
        return { scheme: 'mem', name: checkMemStoreName(m[1]!) };
      } catch (error) {
        throw bad(uri, (error as Error).message);
      }
    }
    case 's3': {
      if (!/^s3:\/\/[^/?#]+/i.test(uri)) throw bad(uri, 'an S3 URI needs a bucket, as in s3://my-bucket/floe');
      return { scheme: 's3', uri };
    }
    case 'hdfs': {
      if (!/^hdfs:\/\/[^/?#]+/i.test(uri)) throw bad(uri, 'an HDFS URI needs the namenode host, as in hdfs://namenode:9870/floe');
      return { scheme: 'hdfs', uri };
    }
    default:
      throw bad(uri, `the scheme ${scheme}: is not supported`);
  }
}

function parseFileUri(uri: string): string {
  if (!uri.toLowerCase().startsWith('file://')) {
    throw bad(uri, `a file URI needs three slashes and an absolute path, as in file:///var/lib/floe`);
  }
  let url: URL;
  try {
    url = new URL(uri);
  } catch (error) {
    throw bad(uri, `it does not parse as a URL (${(error as Error).message})`);
  }
  if (url.host !== '' && url.host !== 'localhost') {
    throw bad(
      uri,
      `"${url.host}" reads as a host name, so the path is relative or remote; use three slashes and an absolute path, ` +
        `as in file:///${url.host}${url.pathname}`,
    );
  }
  if (url.search !== '' || url.hash !== '') throw bad(uri, 'a file URI takes no query or fragment');
  let root: string;
  try {
    root = fileURLToPath(url);
  } catch (error) {
    throw bad(uri, (error as Error).message);
  }
  if (root === '/' || root === '') throw bad(uri, 'the filesystem root cannot be the store folder; use a folder of its own');
  return root;
}

/**
 * Opens the backend for `uri`, wraps it: [inject] → retry → metrics, and probes a remote one.
 * PROMISES: a store ready for use, or the error that stopped it (the backend is closed then).
 */
export async function openObjectStore(uri: string, options: OpenObjectStoreOptions = {}): Promise<OpenedObjectStore> {
  const parsed = parseStoreUri(uri);
  const opened = await openBackend(uri, parsed, options);
  let backend = opened.backend;
  if (options.inject) backend = options.inject(backend);
  const retried =
    options.retry === false
      ? backend
      : new RetryingObjectStore(backend, {
          ...(options.clock ? { clock: options.clock } : {}),
          ...(options.random ? { random: options.random } : {}),
          ...options.retry,
        });
  let conditionalWrites: ConditionalWrites = 'not-probed';
  if (opened.probe !== undefined && options.skipProbe !== true) {
    try {
      conditionalWrites = await probeConditionalWrites(retried, opened.probe);
    } catch (error) {
      await retried.close().catch(() => undefined);
      throw error;
    }
  }
  const metrics = new MetricsObjectStore(retried, options.clock ? { clock: options.clock } : {});
  return { store: metrics, metrics, conditionalWrites };
}

async function openBackend(uri: string, parsed: ParsedStoreUri, options: OpenObjectStoreOptions): Promise<OpenedBackend> {
  const shared = { ...(options.clock ? { clock: options.clock } : {}), ...(options.random ? { random: options.random } : {}) };
  switch (parsed.scheme) {
    case 'file':
      return { backend: await LocalObjectStore.open(parsed.root, { ...(options.clock ? { clock: options.clock } : {}), ...options.local }) };
    case 'mem':
      return { backend: openMemStore(parsed.name, options.clock ? { clock: options.clock } : {}) };
    case 's3': {
      const allowUnsafe = unsafeFlag('s3', options.s3?.unsafeAllowUnconditionalWrites);
      const mod = await loadBackend<S3Module>('./s3.js', 'createS3Store', uri);
      const backend = await mod.createS3Store(parsed.uri, { ...options.s3, ...shared });
      const probe: ProbeTarget = {
        endpoint: `S3 endpoint ${backend.endpoint} (bucket ${backend.bucket})`,
        mechanism: 'PUT with If-None-Match: *',
        refusal: 'HTTP 412 PreconditionFailed',
        unsafeOption: 's3.unsafeAllowUnconditionalWrites',
        docs: 'docs/s3.md',
        allowUnsafe,
      };
      return { backend, probe };
    }
    case 'hdfs': {
      const allowUnsafe = unsafeFlag('hdfs', options.hdfs?.unsafeAllowUnconditionalWrites);
      const mod = await loadBackend<WebHdfsModule>('./webhdfs.js', 'createWebHdfsStore', uri);
      const backend = await mod.createWebHdfsStore(parsed.uri, { ...options.hdfs, ...shared });
      const probe: ProbeTarget = {
        endpoint: `WebHDFS namenode ${backend.namenode}`,
        mechanism: 'RENAME with renameoptions=NONE',
        refusal: 'FileAlreadyExistsException',
        unsafeOption: 'hdfs.unsafeAllowUnconditionalWrites',
        docs: 'docs/hdfs.md',
        allowUnsafe,
      };
      return { backend, probe };
    }
  }
}

/** `<backend>.unsafeAllowUnconditionalWrites`: a boolean or absent; anything else is CONFIG (never read as false). */
function unsafeFlag(backend: 's3' | 'hdfs', value: unknown): boolean {
  if (value === undefined || typeof value === 'boolean') return value === true;
  throw new FloeError('CONFIG', `${backend}.unsafeAllowUnconditionalWrites must be true or false, got ${JSON.stringify(value)}`);
}

/**
 * Loads a backend module on first use. The specifier is a variable so this module compiles (and the other
 * schemes work) whether or not that backend is part of the build.
 */
async function loadBackend<M>(specifier: string, factory: string, uri: string): Promise<M> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(specifier)) as Record<string, unknown>;
  } catch (error) {
    throw new FloeError('CONFIG', `cannot open ${uri}: the backend module ${specifier} failed to load (${(error as Error).message}); rebuild Floe`, {
      cause: error,
      path: uri,
    });
  }
  if (typeof mod[factory] !== 'function') {
    throw new FloeError('CONFIG', `cannot open ${uri}: the backend module ${specifier} does not export ${factory}(); rebuild Floe`, { path: uri });
  }
  return mod as M;
}
