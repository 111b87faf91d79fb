/**
 * The systems a key-value benchmark compares, behind one small interface (`BenchKv`): Floe embedded
 * (lib/index.ts openStore), RocksDB (@nxtedition/rocksdb, RocksDB 9.x) and LevelDB (classic-level).
 *
 * Each adapter uses its system's ordinary public API the way an application would, with default options
 * except the in-memory block cache, which every system gets at the same size. `settings()` reports what was
 * set and the defaults that matter for reading the numbers (docs/benchmarks.md repeats them).
 *
 * `settle()` brings a system to a comparable resting state before reads: memtables flushed to files, the
 * store closed and reopened (so every block cache starts cold), and background compaction idle.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { ClassicLevel } from 'classic-level';
import { openStore } from '../lib/index.js';
import type { Store, StoreOptions } from '../lib/api.js';
import { defaultKeyGroup } from '../lib/keys.js';
import { LsmStore } from '../lib/lsm/lsm-store.js';

export type PutOp = { type: 'put'; key: Buffer; value: Buffer };

export interface BenchKv {
  readonly name: string;
  /**
   * 'global': a scan from a key returns the next keys in byte order of the whole store.
   * 'keyGroup': keys are ordered within their key group (Floe's physical layout); a scan stays in one group.
   */
  readonly scanOrder: 'global' | 'keyGroup';
  put(key: Buffer, value: Buffer): Promise<void>;
  get(key: Buffer): Promise<Uint8Array | undefined>;
  write(ops: PutOp[]): Promise<void>;
  /** Reads up to `limit` entries from `start` (inclusive); returns how many it read. */
  scan(start: Buffer, limit: number): Promise<number>;
  /** Flush, close, reopen, wait for compaction to go idle. Returns a one-line description of the result. */
  settle(): Promise<string>;
  /** Extra facts after a workload phase (cache hit ratios, ...), or undefined. */
  observe(): string | undefined;
  settings(): Record<string, unknown>;
  close(): Promise<void>;
}

export type SystemName = 'floe' | 'rocksdb' | 'leveldb';
export const SYSTEMS: readonly SystemName[] = ['floe', 'rocksdb', 'leveldb'];

export interface OpenArgs {
  /** Empty folder the system owns. */
  dir: string;
  /** In-memory block cache size, the same for every system. */
  cacheBytes: number;
  /** Extra Floe options for experiments (e.g. { blockBytes: 4096 }); applied after the defaults above. */
  floeOverrides?: Partial<StoreOptions>;
}

export async function openSystem(name: SystemName, args: OpenArgs): Promise<BenchKv> {
  switch (name) {
    case 'floe':
      return FloeKv.open(args);
    case 'rocksdb':
      return RocksKv.open(args);
    case 'leveldb':
      return LevelKv.open(args);
  }
}

// ------------------------------------------------------------------------------------------------ Floe

class FloeKv implements BenchKv {
  readonly name = 'floe';
  readonly scanOrder = 'keyGroup' as const;

  private constructor(
    private store: LsmStore,
    private readonly options: StoreOptions,
  ) {}

  static async open(args: OpenArgs): Promise<FloeKv> {
    const options: StoreOptions = {
      primary: pathToFileURL(join(args.dir, 'primary')).href,
      localDir: join(args.dir, 'local'),
      blockCacheBytes: args.cacheBytes,
      ...args.floeOverrides,
    };
    return new FloeKv(await openLsm(options), options);
  }

  put(key: Buffer, value: Buffer): Promise<void> {
    return this.store.put(key, value);
  }

  get(key: Buffer): Promise<Uint8Array | undefined> {
    return this.store.get(key);
  }

  write(ops: PutOp[]): Promise<void> {
    return this.store.write(ops);
  }

  async scan(start: Buffer, limit: number): Promise<number> {
    // A scan with a lower bound but no key group visits every key group in turn; Flink-style callers scan
    // within the key group of the key they start from, which is the comparable operation.
    let n = 0;
    for await (const _ of this.store.scan({ keyGroup: defaultKeyGroup(start, this.store.options.maxKeyGroups), gte: start, limit })) n++;
    return n;
  }

  async settle(): Promise<string> {
    await this.store.flush();
    await this.store.close();
    this.store = await openLsm(this.options);
    await this.store.compactUntilIdle();
    const levels = this.store.stats().lsm.levels;
    return `levels (files/MiB): ${levels
      .map((l, i) => (l.files > 0 ? `L${i} ${l.files}/${(l.bytes / 2 ** 20).toFixed(1)}` : ''))
      .filter(Boolean)
      .join(', ')}`;
  }

  observe(): string | undefined {
    const s = this.store.stats();
    const bc = s.blockCache;
    const total = bc.hits + bc.misses;
    return `block cache ${(bc.bytes / 2 ** 20).toFixed(1)}/${(bc.capacity / 2 ** 20).toFixed(0)} MiB, hit ratio ${
      total ? ((100 * bc.hits) / total).toFixed(1) : '–'
    }% (${bc.hits} hits, ${bc.misses} misses); write stalls ${s.lsm.stalls}; remote gets ${s.remote.gets}`;
  }

  settings(): Record<string, unknown> {
    const { s3: _s3, hdfs: _hdfs, ...resolved } = this.store.options;
    return {
      package: 'floe (this repository), embedded openStore()',
      set: { ...this.options, primary: 'file:// temp folder', localDir: 'temp folder' },
      resolvedOptions: resolved,
      durability:
        'no write-ahead log: a put is durable once a flush/checkpoint/close made it part of an SST + manifest; ' +
        'SST and manifest files are fsynced (file:// store, durable: true)',
      keyLayout: 'physical key = 2-byte key group (murmur3 % maxKeyGroups) + user key',
    };
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

async function openLsm(options: StoreOptions): Promise<LsmStore> {
  const store: Store = await openStore(options);
  if (!(store instanceof LsmStore)) throw new Error('openStore without shards was expected to return the embedded LsmStore');
  return store;
}

// ------------------------------------------------------------------------------------------------ peers

/** What RocksDB's and LevelDB's abstract-level bindings have in common here. */
interface LevelLike {
  batch(ops: PutOp[]): Promise<void>;
  iterator(options: { gte: Buffer; limit: number }): { all(): Promise<unknown[]> };
}

async function levelScan(db: LevelLike, start: Buffer, limit: number): Promise<number> {
  return (await db.iterator({ gte: start, limit }).all()).length;
}

/**
 * "L<n> files/size" for every non-empty level of a RocksDB `levelstats` or LevelDB `stats` table (rows that
 * start with a level number, then file count and size).
 */
function levelSummary(table: string): string {
  return table
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((p) => p.length >= 3 && /^\d+$/.test(p[0]!) && p[1] !== '0')
    .map((p) => `L${p[0]} ${p[1]}/${Number(p[2]).toFixed(1)}`)
    .join(', ');
}

// ------------------------------------------------------------------------------------------------ RocksDB

/** The part of @nxtedition/rocksdb's (untyped, abstract-level 1) API used here. */
interface RocksIterator {
  all(): Promise<Array<[Buffer, Buffer]>>;
}
interface RocksDb {
  open(options: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
  put(key: Buffer, value: Buffer): Promise<void>;
  getMany(keys: Buffer[]): Promise<Array<Buffer | undefined>>;
  batch(ops: PutOp[]): Promise<void>;
  iterator(options: { gte: Buffer; limit: number }): RocksIterator;
  getProperty(name: string): string;
}
type RocksCtor = new (location: string, options: { keyEncoding: 'buffer'; valueEncoding: 'buffer' }) => RocksDb;

const requireCjs = createRequire(import.meta.url);

class RocksKv implements BenchKv {
  readonly name = 'rocksdb';
  readonly scanOrder = 'global' as const;

  private constructor(
    private db: RocksDb,
    private readonly location: string,
    private readonly openOptions: Record<string, unknown>,
  ) {}

  static async open(args: OpenArgs): Promise<RocksKv> {
    const openOptions = { createIfMissing: true, cacheSize: args.cacheBytes };
    const location = join(args.dir, 'rocksdb');
    const db = await RocksKv.openDb(location, openOptions);
    return new RocksKv(db, location, openOptions);
  }

  private static async openDb(location: string, options: Record<string, unknown>): Promise<RocksDb> {
    const { RocksLevel } = requireCjs('@nxtedition/rocksdb') as { RocksLevel: RocksCtor };
    const db = new RocksLevel(location, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open(options);
    return db;
  }

  put(key: Buffer, value: Buffer): Promise<void> {
    return this.db.put(key, value);
  }

  async get(key: Buffer): Promise<Uint8Array | undefined> {
    // This binding's get() rejects with a LEVEL_NOT_FOUND error on a miss (building an Error and its stack);
    // getMany([key]) is the same native call and returns undefined instead, so misses are not penalised.
    return (await this.db.getMany([key]))[0];
  }

  write(ops: PutOp[]): Promise<void> {
    return this.db.batch(ops);
  }

  scan(start: Buffer, limit: number): Promise<number> {
    return levelScan(this.db, start, limit);
  }

  async settle(): Promise<string> {
    // The binding exposes neither flush nor compactRange. Closing and reopening makes RocksDB replay its
    // WAL and flush the recovered memtable to L0 during open; then we wait until no flush or compaction is
    // pending or running (RocksDB's automatic compaction, the same "settled" state Floe's
    // compactUntilIdle reaches).
    await this.db.close();
    this.db = await RocksKv.openDb(this.location, this.openOptions);
    let quiet = 0;
    while (quiet < 3) {
      await sleep(300);
      const busy =
        Number(this.db.getProperty('rocksdb.compaction-pending')) +
        Number(this.db.getProperty('rocksdb.num-running-compactions')) +
        Number(this.db.getProperty('rocksdb.num-running-flushes')) +
        Number(this.db.getProperty('rocksdb.mem-table-flush-pending'));
      quiet = busy === 0 ? quiet + 1 : 0;
    }
    const mem = this.db.getProperty('rocksdb.num-entries-active-mem-table');
    return `levels (files/MB): ${levelSummary(this.db.getProperty('rocksdb.levelstats'))}; memtable entries after reopen: ${mem}`;
  }

  observe(): string | undefined {
    try {
      const usage = Number(this.db.getProperty('rocksdb.block-cache-usage'));
      return `block cache usage ${(usage / 2 ** 20).toFixed(1)} MiB`;
    } catch {
      return undefined;
    }
  }

  settings(): Record<string, unknown> {
    return {
      package: '@nxtedition/rocksdb 12.2.12 (RocksDB 9.x, abstract-level API)',
      set: this.openOptions,
      bindingDefaults:
        'HyperClockCache block cache of cacheSize; ZSTD compression with 16 KiB dictionaries; 10-bit bloom filter; ' +
        '4 KiB blocks; write_buffer_size 64 MiB (RocksDB default); level compaction; parallelism max(1, nproc/2) ' +
        'background threads; WAL on (ZSTD-compressed), writes with sync: false',
      durability: 'WAL written per write but not fsynced (sync: false): survives a process crash, not power loss',
      reads: 'get = getMany([key]) (same native call as get(), no Error object on a miss); scan = iterator({ gte, limit }).all()',
    };
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

// ------------------------------------------------------------------------------------------------ LevelDB

class LevelKv implements BenchKv {
  readonly name = 'leveldb';
  readonly scanOrder = 'global' as const;

  private constructor(
    private db: ClassicLevel<Buffer, Buffer>,
    private readonly location: string,
    private readonly cacheBytes: number,
  ) {}

  static async open(args: OpenArgs): Promise<LevelKv> {
    const location = join(args.dir, 'leveldb');
    return new LevelKv(await LevelKv.openDb(location, args.cacheBytes), location, args.cacheBytes);
  }

  private static async openDb(location: string, cacheBytes: number): Promise<ClassicLevel<Buffer, Buffer>> {
    const db = new ClassicLevel<Buffer, Buffer>(location, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open({ createIfMissing: true, cacheSize: cacheBytes });
    return db;
  }

  put(key: Buffer, value: Buffer): Promise<void> {
    return this.db.put(key, value);
  }

  get(key: Buffer): Promise<Uint8Array | undefined> {
    return this.db.get(key);
  }

  write(ops: PutOp[]): Promise<void> {
    return this.db.batch(ops);
  }

  scan(start: Buffer, limit: number): Promise<number> {
    return levelScan(this.db, start, limit);
  }

  async settle(): Promise<string> {
    // Reopening converts the log (LevelDB's memtable contents) into a level-0 table; LevelDB then compacts
    // in the background and exposes no "compaction pending" flag, so we wait until its per-level
    // statistics stop changing for 1.5 s.
    await this.db.close();
    this.db = await LevelKv.openDb(this.location, this.cacheBytes);
    let last = '';
    let quiet = 0;
    while (quiet < 5) {
      await sleep(300);
      const now = this.db.getProperty('leveldb.stats');
      quiet = now === last ? quiet + 1 : 0;
      last = now;
    }
    return `levels (files/MB): ${levelSummary(last)}`;
  }

  observe(): string | undefined {
    return undefined;
  }

  settings(): Record<string, unknown> {
    return {
      package: 'classic-level 3.0.0 (LevelDB 1.x)',
      set: { createIfMissing: true, cacheSize: this.cacheBytes },
      bindingDefaults: 'LRU block cache of cacheSize; Snappy compression; 4 KiB blocks; writeBufferSize 4 MiB; maxOpenFiles 1000; 10-bit bloom filter',
      durability: 'log written per write but not fsynced (sync: false): survives a process crash, not power loss',
      reads: 'get = get(key) (undefined on a miss); scan = iterator({ gte, limit }).all()',
    };
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
