/**
 * Streaming inputs of a rewrite: a cursor over one sorted run (SST files fetched block range by block range,
 * or a frozen memtable's image, memtable-image.ts), with bounded read-ahead.
 *
 * An SST input is read as: its meta section (one ranged read of [metaOffset, size), as the manifest
 * records it), then its data blocks in windows of consecutive blocks of at most `windowBytes` (at least
 * one block, so a block larger than the window is read alone). While the merge consumes one window the
 * next is already being fetched, so one input holds at most two windows (plus its decoded index). Every
 * block is verified as in whole-file reading (lib/sst/read-all.ts `DataBlockChecker`).
 */
import type { ByteSource } from '../cache/byte-source.js';
import { corruption } from '../errors.js';
import type { Entry } from '../sst/entry.js';
import { FOOTER_BYTES, decodeFooter } from '../sst/format.js';
import { DataBlockChecker } from '../sst/read-all.js';
import { decodeMeta } from '../sst/table-meta.js';
import { imageEntries, type MemtableImage } from './memtable-image.js';

/** One input of a rewrite task. Plain data: it crosses thread boundaries by structured clone. */
export type RewriteSource =
  | { kind: 'sst'; fileId: string; size: number; metaOffset: number; clip?: [number, number] }
  | { kind: 'memtable'; image: MemtableImage };

/** How a rewrite reaches the bytes of an input file. */
export interface InputAccess {
  /** Exact-length ranged reads of the file (through whatever caches the caller has). */
  source(file: { fileId: string; size: number }): ByteSource;
  /** Full name of the file for error messages. */
  describe(fileId: string): string;
}

/** The next block's entries (empty arrays are skipped by the caller), or undefined at the end. */
type BlockFeed = () => Promise<Entry[] | undefined>;

interface Window {
  first: number;
  last: number;
  start: number;
  bytes: Promise<Uint8Array>;
}

/**
 * Opens one SST for sequential reading. PROMISES a feed yielding each data block's entries in order
 * (clipped to `clip` key groups), verifying as it goes; after the last block it checks the entry count.
 */
async function openSstFeed(src: Extract<RewriteSource, { kind: 'sst' }>, access: InputAccess, windowBytes: number): Promise<BlockFeed> {
  const path = access.describe(src.fileId);
  const source = access.source(src);
  if (src.size < FOOTER_BYTES || src.metaOffset < 0 || src.metaOffset > src.size - FOOTER_BYTES) {
    throw corruption(path, `metaOffset ${src.metaOffset} recorded for this file is impossible for its size ${src.size}`);
  }
  const tail = await source.read(src.metaOffset, src.size - src.metaOffset, { fillCache: false });
  const footer = decodeFooter(tail.subarray(tail.length - FOOTER_BYTES), src.size, path);
  if (footer.metaOffset !== src.metaOffset) {
    throw corruption(path, `footer says the meta section starts at ${footer.metaOffset}, but ${src.metaOffset} was recorded for this file`);
  }
  // Keep only the index: the filter and the rest of the tail are garbage once this returns.
  const { index, properties } = decodeMeta(path, footer, tail.subarray(0, tail.length - FOOTER_BYTES));
  const checker = new DataBlockChecker(path, index, properties);
  const fetchWindow = (first: number): Window | undefined => {
    if (first >= index.count) return undefined;
    const start = index.offsets[first]!;
    let last = first;
    while (last + 1 < index.count && index.offsets[last + 1]! + index.sizes[last + 1]! - start <= windowBytes) last++;
    const end = index.offsets[last]! + index.sizes[last]!;
    const bytes = source.read(start, end - start, { fillCache: false });
    bytes.catch(() => undefined); // awaited in order below; an abandoned read must not be "unhandled"
    return { first, last, start, bytes };
  };
  let current = fetchWindow(0);
  let ahead = current === undefined ? undefined : fetchWindow(current.last + 1);
  let next = 0;
  const clip = src.clip;
  return async () => {
    if (current === undefined) {
      if (next === index.count) {
        checker.finish();
        next++;
      }
      return undefined;
    }
    const w = current;
    const bytes = await w.bytes;
    const i = next++;
    const at = index.offsets[i]! - w.start;
    let entries = checker.entries(i, bytes.subarray(at, at + index.sizes[i]!));
    if (i === w.last) {
      current = ahead;
      ahead = current === undefined ? undefined : fetchWindow(current.last + 1);
    }
    if (clip !== undefined) entries = entries.filter((e) => inKeyGroups(e.key, clip));
    return entries;
  };
}

function inKeyGroups(key: Uint8Array, clip: [number, number]): boolean {
  const kg = (key[0]! << 8) | key[1]!;
  return kg >= clip[0] && kg <= clip[1];
}

/**
 * A cursor over one run: `head` is its current entry (undefined when exhausted). `advance()` moves to the
 * next entry; it returns undefined when that was synchronous (the usual case, within a block) and a
 * promise only at block boundaries, so the merge loop awaits once per block, not once per entry.
 */
export class RunCursor {
  head: Entry | undefined;
  private block: Entry[] = [];
  private pos = 0;
  private feed: BlockFeed | undefined;
  private nextSource = 0;

  private constructor(
    private readonly run: RewriteSource[],
    private readonly access: InputAccess,
    private readonly windowBytes: number,
  ) {}

  /** REQUIRES the run's sources in key order, non-overlapping. */
  static async open(run: RewriteSource[], access: InputAccess, windowBytes: number): Promise<RunCursor> {
    const c = new RunCursor(run, access, windowBytes);
    await c.refill();
    return c;
  }

  advance(): Promise<void> | undefined {
    if (++this.pos < this.block.length) {
      this.head = this.block[this.pos];
      return undefined;
    }
    return this.refill();
  }

  /** Loads the next non-empty block (opening the run's next source when one ends). */
  private async refill(): Promise<void> {
    for (;;) {
      if (this.feed === undefined) {
        const src = this.run[this.nextSource++];
        if (src === undefined) {
          this.block = [];
          this.head = undefined;
          return;
        }
        this.feed = src.kind === 'memtable' ? memtableFeed(src.image) : await openSstFeed(src, this.access, this.windowBytes);
      }
      const entries = await this.feed();
      if (entries === undefined) {
        this.feed = undefined;
        continue;
      }
      if (entries.length === 0) continue;
      this.block = entries;
      this.pos = 0;
      this.head = entries[0];
      return;
    }
  }
}

/** A frozen memtable's entries (in memory already, bounded by memtableBytes), handed out a slice at a time. */
function memtableFeed(image: MemtableImage): BlockFeed {
  const it = imageEntries(image);
  return () => {
    const out: Entry[] = [];
    for (let r = it.next(); !r.done; r = it.next()) {
      out.push(r.value);
      if (out.length === MEMTABLE_SLICE) break;
    }
    return Promise.resolve(out.length === 0 ? undefined : out);
  };
}

const MEMTABLE_SLICE = 1024;
