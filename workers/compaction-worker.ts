/**
 * piscina worker: runs flush and compaction rewrites (lib/lsm/compaction-rewrite.ts) off the event loop.
 * Input buffers arrive by transfer; output SST bytes are transferred back.
 */
import { Piscina } from 'piscina';
import { rewrite, type RewriteTask, type RewriteResult } from '../lib/lsm/compaction-rewrite.js';

export default function run(task: RewriteTask): unknown {
  const result = rewrite(task);
  const transfer: ArrayBuffer[] = [];
  for (const f of result.files) {
    const buf = f.bytes.buffer;
    if (buf instanceof ArrayBuffer && f.bytes.byteOffset === 0 && f.bytes.byteLength === buf.byteLength) transfer.push(buf);
  }
  // piscina transfers what [transferableSymbol] lists and delivers [valueSymbol] as the result.
  return Piscina.move({
    [Piscina.transferableSymbol]: transfer,
    [Piscina.valueSymbol]: result satisfies RewriteResult,
  } as unknown as ArrayBuffer);
}
