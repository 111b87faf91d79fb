/**
 * The in-memory object store (`mem://name`): objects live in a Map in this process. Used by tests, by
 * benchmarks (wrapped in fault injection to model a remote store), and by users who want a throwaway store.
 *
 * Guarantees: bytes are copied in on put and out on get, so no caller can change a stored object through a
 * buffer it holds; every operation takes effect atomically at one point (no await between the check and the
 * write of a create-if-absent put); mtimes come from the injected Clock.
 *
 * A process-wide registry maps names to object maps so that `mem://name` opened twice in one process sees
 * the same objects (a reopened store finds its data, as with a real backend). This registry is the one
 * deliberate piece of module state in the store layer; `dropMemStore(name)` forgets a name (tests).
 */
import { FloeError } from '../errors.js';
import { systemClock, type Clock } from '../util/clock.js';
import type { GetOptions, GetRange, ObjectInfo, ObjectStore, PutOptions } from './object-store.js';
import { alreadyExists, checkListPrefix, checkObjectPath, checkRange, clipRange, closedStore, notFound, throwIfAborted, checkBytes } from './validate.js';

interface MemObject {
  readonly bytes: Uint8Array;
  readonly mtimeMs: number;
}

/** The objects of one named store; shared by every MemObjectStore opened on that name. */
type MemObjects = Map<string, MemObject>;

export interface MemObjectStoreOptions {
  /** Source of mtimes (default systemClock). */
  clock?: Clock;
}

const NAME_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

const registry = new Map<string, MemObjects>();

/** Throws CONFIG unless `name` is a valid mem store name. */
export function checkMemStoreName(name: string): string {
  if (!NAME_PATTERN.test(name)) {
    throw new FloeError(
      'CONFIG',
      `mem store name ${JSON.stringify(name)} is not valid: use 1-128 characters of [A-Za-z0-9._-], as in mem://my-test-store`,
    );
  }
  return name;
}

/**
 * Opens `mem://name`, creating it empty if this process has not opened it before.
 * PROMISES: every store opened on the same name (until `dropMemStore`) sees the same objects.
 */
export function openMemStore(name: string, options: MemObjectStoreOptions = {}): MemObjectStore {
  checkMemStoreName(name);
  let objects = registry.get(name);
  if (objects === undefined) {
    objects = new Map();
    registry.set(name, objects);
  }
  return new MemObjectStore(name, objects, options);
}

/**
 * Forgets `mem://name` and frees its objects. Stores still open on the name see an empty store afterwards;
 * the next `openMemStore(name)` starts empty. Returns whether the name was known.
 */
export function dropMemStore(name: string): boolean {
  const objects = registry.get(name);
  if (objects === undefined) return false;
  objects.clear();
  registry.delete(name);
  return true;
}

export class MemObjectStore implements ObjectStore {
  readonly uri: string;
  private readonly objects: MemObjects;
  private readonly clock: Clock;
  private closed = false;

  /** Prefer `openMemStore(name)`; this constructor with no map makes a private, unregistered store. */
  constructor(name: string, objects: MemObjects = new Map(), options: MemObjectStoreOptions = {}) {
    this.uri = `mem://${checkMemStoreName(name)}`;
    this.objects = objects;
    this.clock = options.clock ?? systemClock;
  }

  async get(path: string, range?: GetRange, options?: GetOptions): Promise<Uint8Array> {
    this.checkOpen();
    checkObjectPath(path, this.uri);
    if (range !== undefined) checkRange(range, this.uri, path);
    throwIfAborted(options?.signal);
    const object = this.objects.get(path);
    if (object === undefined) throw notFound(this.uri, path);
    const { start, end } = clipRange(range, object.bytes.length, this.uri, path);
    // The one copy: callers may keep or mutate what they get.
    return object.bytes.slice(start, end);
  }

  async put(path: string, bytes: Uint8Array, options?: PutOptions): Promise<void> {
    this.checkOpen();
    checkObjectPath(path, this.uri);
    checkBytes(bytes, path, this.uri);
    throwIfAborted(options?.signal);
    // `new Uint8Array(view)` copies into a plain Uint8Array (never a Buffer, whose slice() would be a view).
    this.commit(path, new Uint8Array(bytes), options?.ifNoneMatch === true);
  }

  async putStream(path: string, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options?: PutOptions): Promise<void> {
    this.checkOpen();
    checkObjectPath(path, this.uri);
    const ifNoneMatch = options?.ifNoneMatch === true;
    // Fail fast without consuming the caller's stream; the check is repeated at commit, which is what counts.
    if (ifNoneMatch && this.objects.has(path)) throw alreadyExists(this.uri, path);
    const parts: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of chunks) {
      throwIfAborted(options?.signal);
      checkBytes(chunk, path, this.uri);
      // Copy now: the producer may reuse its buffer for the next chunk.
      parts.push(new Uint8Array(chunk));
      total += chunk.length;
    }
    throwIfAborted(options?.signal);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const part of parts) {
      bytes.set(part, at);
      at += part.length;
    }
    this.checkOpen();
    this.commit(path, bytes, ifNoneMatch);
  }

  async head(path: string): Promise<ObjectInfo | undefined> {
    this.checkOpen();
    checkObjectPath(path, this.uri);
    const object = this.objects.get(path);
    return object === undefined ? undefined : { path, size: object.bytes.length, mtimeMs: object.mtimeMs };
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    this.checkOpen();
    checkListPrefix(prefix, this.uri);
    const out: ObjectInfo[] = [];
    for (const [path, object] of this.objects) {
      if (path.startsWith(prefix)) out.push({ path, size: object.bytes.length, mtimeMs: object.mtimeMs });
    }
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async delete(path: string): Promise<void> {
    this.checkOpen();
    checkObjectPath(path, this.uri);
    this.objects.delete(path);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** REQUIRES: `bytes` is owned by the store. Synchronous, so create-if-absent is atomic. */
  private commit(path: string, bytes: Uint8Array, ifNoneMatch: boolean): void {
    if (ifNoneMatch && this.objects.has(path)) throw alreadyExists(this.uri, path);
    this.objects.set(path, { bytes, mtimeMs: this.clock.now() });
  }

  private checkOpen(): void {
    if (this.closed) throw closedStore(this.uri);
  }
}

