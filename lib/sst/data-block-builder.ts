/**
 * Builds one decoded data block (docs/format.md, "Data block"): prefix-compressed entries with a restart
 * entry every `restartInterval` entries, then the restart array and its count. The table builder owns key
 * order; this class only lays out bytes.
 */
import type { EntryKind } from './entry.js';
import { ByteWriter } from './coding.js';

export class DataBlockBuilder {
  private readonly out = new ByteWriter(4096);
  private restarts: number[] = [];
  private sinceRestart = 0;
  private count = 0;

  /** REQUIRES restartInterval >= 1. */
  constructor(private readonly restartInterval: number) {}

  get entryCount(): number {
    return this.count;
  }

  /** Decoded size of the block if it were finished now. */
  get estimatedSize(): number {
    return this.out.length + 4 * this.restarts.length + 4;
  }

  /**
   * Appends an entry. REQUIRES: `key` sorts after the previous key added since `reset`, and `sharedWithPrev`
   * is the length of a common prefix of `key` and that previous key (ignored at restart entries).
   */
  add(key: Uint8Array, sharedWithPrev: number, kind: EntryKind, seq: number, value: Uint8Array): void {
    let shared = sharedWithPrev;
    if (this.count === 0 || this.sinceRestart === this.restartInterval) {
      this.restarts.push(this.out.length);
      this.sinceRestart = 0;
      shared = 0;
    }
    const out = this.out;
    out.varint(shared);
    out.varint(key.length - shared);
    out.varint(value.length);
    out.bytesFrom(key, shared, key.length);
    out.u8(kind);
    out.varint(seq);
    out.bytesFrom(value);
    this.sinceRestart++;
    this.count++;
  }

  /** Appends the restart array and returns the decoded block: a view valid until the next `reset`. */
  finish(): Buffer {
    for (const r of this.restarts) this.out.u32(r);
    this.out.u32(this.restarts.length);
    return this.out.bytes();
  }

  reset(): void {
    this.out.reset();
    this.restarts = [];
    this.sinceRestart = 0;
    this.count = 0;
  }
}
