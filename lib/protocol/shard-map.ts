/**
 * SHARD_MAP (0x32): which shard owns which key groups of the daemon's default store, and the socket each
 * shard serves keyed requests on directly (shard-aware clients, docs/protocol.md "Shard sockets").
 *
 * Request: empty payload. Response payload:
 *   u16 shardCount, then per shard in shard order: u32 firstKeyGroup, u32 lastKeyGroup (inclusive),
 *   bytes32 socketPath (UTF-8; empty when the shard has no socket of its own: a single inline shard, a
 *   socket that could not be bound, or shard sockets turned off).
 */
import { Reader, type Writer } from './wire.js';

export interface ShardMapEntry {
  keyGroups: [number, number];
  /** Absolute path of the shard's own socket, or undefined when it has none. */
  socket: string | undefined;
}

export function writeShardMap(w: Writer, entries: readonly ShardMapEntry[]): void {
  w.u16(entries.length);
  for (const e of entries) {
    w.u32(e.keyGroups[0]);
    w.u32(e.keyGroups[1]);
    w.bytes32(Buffer.from(e.socket ?? '', 'utf8'));
  }
}

export function parseShardMap(payload: Uint8Array): ShardMapEntry[] {
  const r = new Reader(payload, 0, payload.length, 'SHARD_MAP response');
  const n = r.u16();
  const out: ShardMapEntry[] = [];
  for (let i = 0; i < n; i++) {
    const lo = r.u32();
    const hi = r.u32();
    const path = Buffer.from(r.bytes32()).toString('utf8');
    out.push({ keyGroups: [lo, hi], socket: path.length > 0 ? path : undefined });
  }
  r.done();
  return out;
}
