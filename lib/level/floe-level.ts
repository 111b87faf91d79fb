/**
 * `floe/level`: an `abstract-level` 3 database on an embedded Floe store or a Floe daemon (`{ socket }`:
 * protocol version 2, docs/protocol.md), so code written for `classic-level`
 * (or any `level` database) runs on Floe: global key order, sublevels, get/getMany/has/hasMany, batches
 * (array and chained), clear, iterators with seek, implicit and explicit snapshots, and every encoding
 * abstract-level offers (the adapter stores bytes: the 'view' format; abstract-level transcodes the rest).
 *
 * Keys live in one Floe key group with a tag byte in front (lib/level/keyspace.ts, docs/level.md).
 * What `open()` does: opens (or creates) the store under `location` with `openStore`, or connects to the
 * daemon at `socket` (its default store); `close()` closes the store (flushing memtables to primary storage),
 * or flushes the daemon and disconnects. The `createIfMissing` and `errorIfExists` open options are not
 * supported (Floe always creates a missing store; docs/level.md says how to check first).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AbstractLevel, AbstractSnapshot, type AbstractDatabaseOptions } from 'abstract-level';
import type { ExtendedStore, Snapshot, StoreOptions, WriteOp } from '../api.js';
import { connect, type ConnectOptions } from '../client/client.js';
import { FloeError } from '../errors.js';
import { openLsmStore } from '../embedded.js';
import { checkKeyGroup, MAX_KEY_GROUPS } from '../keys.js';
import { floeBounds, plainView, toFloeKey, type LevelRange } from './keyspace.js';
import { FloeLevelIterator, type LevelIteratorOptions } from './level-iterator.js';

export interface FloeLevelOptions<K, V> extends AbstractDatabaseOptions<K, V> {
  /** Options of the embedded store (see StoreOptions); `primary` comes from `location`. */
  store?: Omit<StoreOptions, 'primary' | 'shards'>;
  /** The key group holding the adapter's keys (default 0); must be below the store's maxKeyGroups. */
  keyGroup?: number;
}

/** `new FloeLevel({ socket })`: the database lives in a Floe daemon (its default store). */
export interface FloeLevelSocketOptions<K, V> extends AbstractDatabaseOptions<K, V> {
  /** Path of the daemon's Unix socket (`floe daemon`); the daemon must speak protocol version 2. */
  socket: string;
  /** Options of the connection (`connect()`). */
  connection?: ConnectOptions;
  /** The key group holding the adapter's keys (default 0); below the daemon's maxKeyGroups. */
  keyGroup?: number;
}

/** What abstract-level passes to `_get`, `_has` and friends (encoded already). */
interface ReadOptions {
  snapshot?: unknown;
}

/** Deletes per write batch of `clear()`. */
const CLEAR_BATCH = 1000;

export class FloeLevel<KDefault = string, VDefault = string> extends AbstractLevel<Uint8Array, KDefault, VDefault> {
  readonly location: string;
  /** The primary URI the store opens (undefined with a daemon socket). */
  readonly primary: string | undefined;
  /** The daemon socket (undefined for an embedded store). */
  readonly socket: string | undefined;
  readonly keyGroup: number;
  private readonly storeOptions: Omit<StoreOptions, 'primary' | 'shards'>;
  private readonly connection: ConnectOptions;
  private opened: ExtendedStore | undefined;

  /**
   * `location`: a primary URI (file://, mem://, s3://, hdfs://) or a local folder path (becomes file://);
   * or `{ socket, ...options }` for a daemon.
   */
  constructor(location: string, options?: FloeLevelOptions<KDefault, VDefault>);
  constructor(options: FloeLevelSocketOptions<KDefault, VDefault>);
  constructor(locationOrSocket: string | FloeLevelSocketOptions<KDefault, VDefault>, options: FloeLevelOptions<KDefault, VDefault> = {}) {
    const daemon = typeof locationOrSocket === 'object' && locationOrSocket !== null ? locationOrSocket : undefined;
    const location = daemon === undefined ? locationOrSocket : daemon.socket;
    // Floe's own options stay here: abstract-level forwards the rest to open() and its postopen hooks.
    const { store, keyGroup, ...levelOptions } = daemon === undefined ? options : { ...daemon, store: undefined };
    delete (levelOptions as { socket?: unknown }).socket;
    delete (levelOptions as { connection?: unknown }).connection;
    super(
      {
        encodings: { view: true },
        implicitSnapshots: true,
        explicitSnapshots: true,
        has: true,
        seek: true,
        createIfMissing: false,
        errorIfExists: false,
        permanence: typeof location === 'string' && !location.startsWith('mem://'),
        additionalMethods: {},
      },
      levelOptions,
    );
    if (typeof location !== 'string' || location === '') {
      throw new FloeError(
        'INVALID_ARGUMENT',
        daemon === undefined
          ? 'FloeLevel needs a location: a primary URI such as file:///var/lib/app/db, or a folder path'
          : 'FloeLevel({ socket }) needs the path of the daemon socket, e.g. /run/floe/floe.sock',
      );
    }
    this.location = location;
    this.socket = daemon === undefined ? undefined : location;
    this.primary = daemon !== undefined ? undefined : /^[a-z][a-z0-9+.-]*:\/\//i.test(location) ? location : pathToFileURL(resolve(location)).href;
    this.storeOptions = store ?? {};
    this.connection = daemon?.connection ?? {};
    // The daemon checks the key group against its own maxKeyGroups.
    this.keyGroup = checkKeyGroup(keyGroup ?? 0, this.storeOptions.maxKeyGroups ?? MAX_KEY_GROUPS);
  }

  /**
   * The store while the database is open (for Floe-only operations such as checkpoint()): an embedded
   * store, or the daemon client.
   */
  get store(): ExtendedStore {
    if (this.opened === undefined) throw new FloeError('CLOSED', 'the FloeLevel database is not open; await db.open() first');
    return this.opened;
  }

  async _open(): Promise<void> {
    if (this.socket !== undefined) {
      const client = await connect(this.socket, this.connection);
      if (client.server.version < 2) {
        await client.close();
        throw new FloeError('VERSION', `the floe daemon at ${this.socket} speaks protocol version ${client.server.version}; floe/level needs version 2 (iterators, snapshots); upgrade the daemon`);
      }
      this.opened = client;
      return;
    }
    this.opened = await openLsmStore({ ...this.storeOptions, primary: this.primary! });
  }

  async _close(): Promise<void> {
    const s = this.opened;
    this.opened = undefined;
    await s?.close();
  }

  async _get(key: Uint8Array, options: ReadOptions): Promise<Uint8Array | undefined> {
    const v = await this.store.get(toFloeKey(key), this.readOptions(options));
    return v === undefined ? undefined : plainView(v);
  }

  async _getMany(keys: Uint8Array[], options: ReadOptions): Promise<Array<Uint8Array | undefined>> {
    const vs = await this.store.multiGet(keys.map(toFloeKey), this.readOptions(options));
    return vs.map((v) => (v === undefined ? undefined : plainView(v)));
  }

  async _has(key: Uint8Array, options: ReadOptions): Promise<boolean> {
    return (await this.store.get(toFloeKey(key), this.readOptions(options))) !== undefined;
  }

  async _hasMany(keys: Uint8Array[], options: ReadOptions): Promise<boolean[]> {
    return (await this.store.multiGet(keys.map(toFloeKey), this.readOptions(options))).map((v) => v !== undefined);
  }

  async _put(key: Uint8Array, value: Uint8Array): Promise<void> {
    await this.store.put(toFloeKey(key), value, { keyGroup: this.keyGroup });
  }

  async _del(key: Uint8Array): Promise<void> {
    await this.store.delete(toFloeKey(key), { keyGroup: this.keyGroup });
  }

  /** One atomic Floe write for the whole batch. */
  async _batch(operations: Array<{ type: 'put' | 'del'; key: Uint8Array; value?: Uint8Array }>): Promise<void> {
    const ops: WriteOp[] = operations.map((op) =>
      op.type === 'put'
        ? { type: 'put', key: toFloeKey(op.key), value: op.value!, keyGroup: this.keyGroup }
        : { type: 'delete', key: toFloeKey(op.key), keyGroup: this.keyGroup },
    );
    await this.store.write(ops);
  }

  /**
   * Deletes the range as seen by a snapshot (the given one, or one taken now), so writes made after
   * clear() started are not deleted. Not atomic: deletes are written in batches of CLEAR_BATCH.
   */
  async _clear(options: LevelRange & ReadOptions & { limit: number; reverse: boolean }): Promise<void> {
    const it = this.store.iterator({
      keyGroup: this.keyGroup,
      ...floeBounds(options),
      reverse: options.reverse,
      values: false,
      ...(options.limit >= 0 ? { limit: options.limit } : {}),
      ...this.snapshotOption(options.snapshot),
    });
    try {
      for (;;) {
        const batch = await it.nextv(CLEAR_BATCH);
        if (batch.length === 0) break;
        await this.store.write(batch.map((e) => ({ type: 'delete', key: e.key!, keyGroup: this.keyGroup })));
      }
    } finally {
      await it.close();
    }
  }

  _iterator(options: LevelIteratorOptions): FloeLevelIterator<KDefault, VDefault> {
    // With a closed snapshot the iterator fails on use, as abstract-level specifies (LEVEL_SNAPSHOT_NOT_OPEN).
    if (options.snapshot instanceof FloeLevelSnapshot && options.snapshot.floe.released) return new FloeLevelIterator(this, options, undefined);
    return new FloeLevelIterator(this, options, this.store.iterator({
      keyGroup: this.keyGroup,
      ...floeBounds(options),
      reverse: options.reverse,
      keys: options.keys,
      values: options.values,
      ...(options.limit >= 0 ? { limit: options.limit } : {}),
      ...this.snapshotOption(options.snapshot),
    }));
  }

  _snapshot(options: { owner: object }): FloeLevelSnapshot {
    return new FloeLevelSnapshot(options, this.store.snapshot());
  }

  private readOptions(options: ReadOptions): { keyGroup: number; snapshot?: Snapshot } {
    return { keyGroup: this.keyGroup, ...this.snapshotOption(options.snapshot) };
  }

  private snapshotOption(snapshot: unknown): { snapshot?: Snapshot } {
    if (snapshot === undefined || snapshot === null) return {};
    if (!(snapshot instanceof FloeLevelSnapshot)) {
      throw new FloeError('INVALID_ARGUMENT', 'options.snapshot must be a snapshot of this database (db.snapshot())');
    }
    return { snapshot: snapshot.floe };
  }
}

/** An explicit level snapshot: a Floe snapshot released when the level snapshot closes. */
export class FloeLevelSnapshot extends AbstractSnapshot {
  constructor(
    options: { owner: object },
    readonly floe: Snapshot,
  ) {
    // @ts-expect-error abstract-level's .d.ts omits the constructor's options argument (abstract-snapshot.js takes { owner }).
    super(options);
  }

  async _close(): Promise<void> {
    this.floe.release();
  }
}
