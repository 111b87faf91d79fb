/**
 * `floe verify`, one live SST: read whole, in bounded ranges (never the whole file in memory), verifying the
 * footer, the meta section (index, filter and properties blocks: checksums and structure), every data
 * block's checksum, key order across the whole file, the entry count, and that what the manifests and
 * checkpoint records recorded about the file (size, metaOffset, entries, smallest/largest key) is what the
 * file holds.
 */
import { FloeError, corruption, isFloeError } from '../errors.js';
import type { FileMeta } from '../lsm/file-meta.js';
import type { ObjectStore } from '../store/object-store.js';
import { sstPath } from '../store/paths.js';
import type { Entry } from '../sst/entry.js';
import { FOOTER_BYTES, decodeFooter } from '../sst/format.js';
import type { BlockIndex } from '../sst/index-block.js';
import { DataBlockChecker } from '../sst/read-all.js';
import { decodeMeta } from '../sst/table-meta.js';
import type { Findings } from './verify-report.js';

/** One reference to a file: who holds it (for the report) and what it recorded. */
export interface SstReference {
  /** E.g. `instance shard-0 (manifest 12)` or `checkpoint 5f3a…`. */
  from: string;
  meta: FileMeta;
}

export interface SstCheck {
  store: ObjectStore;
  fileId: string;
  /** Size from the listing of `sst/`. */
  size: number;
  refs: SstReference[];
  /** Data is read in ranges of consecutive blocks of at most this many bytes (one block if larger). */
  windowBytes: number;
  /** What to do if this file is broken (depends on who references it). */
  action: string;
  findings: Findings;
}

/**
 * Verifies one file, recording problems in `findings` (never throws for damage). Holds the meta section
 * and at most two data windows of `windowBytes` (one being checked, one being read).
 * REQUIRES `refs` non-empty. PROMISES: counts bytes, blocks and entries read.
 */
export async function verifySst(c: SstCheck): Promise<void> {
  const path = sstPath(c.fileId);
  const full = `${c.store.uri}/${path}`;
  const wrongSize = c.refs.filter((r) => r.meta.size !== c.size);
  if (wrongSize.length > 0) {
    const said = wrongSize.map((r) => `${r.from} records ${r.meta.size}`).join('; ');
    c.findings.error(path, `the file is ${c.size} bytes but ${said} (truncated, or replaced by other bytes)`, c.action);
    return;
  }
  try {
    await readWhole(c, full);
    c.findings.counts.ssts++;
  } catch (e) {
    if (isFloeError(e, 'NOT_FOUND')) {
      c.findings.error(path, `the file vanished while it was being verified; ${refList(c.refs)} still reference it`, c.action);
    } else if (e instanceof FloeError && (e.code === 'CORRUPTION' || e.code === 'VERSION')) {
      c.findings.error(path, e.message, c.action);
    } else {
      const why = e instanceof Error ? e.message : String(e);
      c.findings.error(path, `could not be read to the end: ${why}`, 'Check that the storage is reachable and run floe verify again.');
    }
  }
}

export function refList(refs: SstReference[]): string {
  return [...new Set(refs.map((r) => r.from))].sort().join(', ');
}

/** Reads `length` bytes at `offset`, exactly (a short read means the object changed under us). */
async function readRange(c: SstCheck, full: string, offset: number, length: number): Promise<Uint8Array> {
  const bytes = await c.store.get(sstPath(c.fileId), { offset, length });
  if (bytes.length !== length) throw corruption(full, `read ${bytes.length} bytes at offset ${offset}, expected ${length} (the file is shorter than listed)`);
  c.findings.counts.sstBytes += bytes.length;
  return bytes;
}

async function readWhole(c: SstCheck, full: string): Promise<void> {
  if (c.size < FOOTER_BYTES) throw corruption(full, `file is ${c.size} bytes, shorter than the ${FOOTER_BYTES}-byte footer (truncated?)`);
  const footer = decodeFooter(await readRange(c, full, c.size - FOOTER_BYTES, FOOTER_BYTES), c.size, full);
  const meta = await readRange(c, full, footer.metaOffset, c.size - FOOTER_BYTES - footer.metaOffset);
  const { index, properties } = decodeMeta(full, footer, meta);
  for (const r of c.refs) {
    const m = r.meta;
    const mismatch: string[] = [];
    if (m.metaOffset !== footer.metaOffset) mismatch.push(`metaOffset ${m.metaOffset} (footer: ${footer.metaOffset})`);
    if (m.entries !== properties.entries) mismatch.push(`${m.entries} entries (properties: ${properties.entries})`);
    if (Buffer.compare(m.smallestKey, properties.smallestKey) !== 0) mismatch.push('a different smallest key than the properties');
    if (Buffer.compare(m.largestKey, properties.largestKey) !== 0) mismatch.push('a different largest key than the properties');
    if (mismatch.length > 0) throw corruption(full, `${r.from} records ${mismatch.join(', ')}`);
  }
  const checker = new DataBlockChecker(full, index, properties);
  const order = new KeyOrder(full, c.refs);
  // One window read ahead while the current one is checked (hides a remote store's latency): at most two
  // windows of this file are held at once.
  const fetch = (first: number): { first: number; last: number; start: number; bytes: Promise<Uint8Array> } | undefined => {
    if (first >= index.count) return undefined;
    const last = windowEnd(index, first, c.windowBytes);
    const start = index.offsets[first]!;
    const bytes = readRange(c, full, start, index.offsets[last]! + index.sizes[last]! - start);
    bytes.catch(() => undefined); // awaited in order below; a read abandoned after an error must not be "unhandled"
    return { first, last, start, bytes };
  };
  for (let w = fetch(0); w !== undefined; ) {
    const bytes = await w.bytes;
    const next = fetch(w.last + 1);
    for (let i = w.first; i <= w.last; i++) {
      const at = index.offsets[i]! - w.start;
      order.feed(checker.entries(i, bytes.subarray(at, at + index.sizes[i]!)));
      c.findings.counts.dataBlocks++;
    }
    w = next;
  }
  checker.finish();
  order.finish(properties.smallestKey, properties.largestKey);
  c.findings.counts.entries += properties.entries;
}

/** The last block of the window starting at block `first`: consecutive blocks within `windowBytes`. */
function windowEnd(index: BlockIndex, first: number, windowBytes: number): number {
  const start = index.offsets[first]!;
  let last = first;
  while (last + 1 < index.count && index.offsets[last + 1]! + index.sizes[last + 1]! - start <= windowBytes) last++;
  return last;
}

/** Every key strictly above the previous one, and inside every reference's recorded [smallest, largest]. */
class KeyOrder {
  private prev: Buffer | undefined;
  private first: Buffer | undefined;

  constructor(
    private readonly full: string,
    private readonly refs: SstReference[],
  ) {}

  feed(entries: Entry[]): void {
    for (const e of entries) {
      if (this.prev !== undefined && Buffer.compare(this.prev, e.key) >= 0) {
        throw corruption(this.full, `key ${hex(e.key)} does not sort after the previous key ${hex(this.prev)}`);
      }
      this.first ??= Buffer.from(e.key);
      this.prev = e.key as Buffer;
    }
    // Keys may be views of a block buffer: keep a copy of the last one across blocks.
    if (this.prev !== undefined) this.prev = Buffer.from(this.prev);
  }

  finish(smallest: Uint8Array, largest: Uint8Array): void {
    if (this.first === undefined || this.prev === undefined) return; // an empty file: the count check covers it
    if (Buffer.compare(this.first, smallest) !== 0 || Buffer.compare(this.prev, largest) !== 0) {
      throw corruption(this.full, `its keys run from ${hex(this.first)} to ${hex(this.prev)}, the properties say ${hex(smallest)} to ${hex(largest)}`);
    }
    for (const r of this.refs) {
      if (Buffer.compare(this.first, r.meta.smallestKey) < 0 || Buffer.compare(this.prev, r.meta.largestKey) > 0) {
        throw corruption(this.full, `its keys run from ${hex(this.first)} to ${hex(this.prev)}, outside the range ${r.from} records`);
      }
    }
  }
}

function hex(key: Uint8Array): string {
  const h = Buffer.from(key).toString('hex');
  return h.length > 64 ? `${h.slice(0, 64)}…` : h;
}
