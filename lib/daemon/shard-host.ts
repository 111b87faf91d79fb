/**
 * Everything one shard thread serves: the shard's own LSM instance (slot 0, its part of the default store)
 * and the named stores the router placed on it (slots 1.., lib/daemon/named-stores.ts), each an LSM
 * instance with its own ShardService (ordering per store, see shard-service.ts).
 *
 * Batches from the router are sections: (u32 slot, u32 bytes, that many bytes of frames). Frames of slot
 * HOST_SLOT are for the host itself: SHARD_STORE_OPEN (JSON { slot, init: ShardInit }) opens an instance
 * in a new slot and answers JSON { instanceId, keyGroups }. A store's slot goes away when its service
 * closes (SHARD_CLOSE sent to that slot). Frames for a slot that is not open are answered with CLOSED.
 *
 * Closing slot 0 (the shard) first closes every named store still open here, then reports the shard
 * closed (the worker thread exits).
 */
import type { LsmStore } from '../lsm/lsm-store.js';
import { FloeError } from '../errors.js';
import { asFloeError, InternalOp, opName, parseJson, RESPONSE_BIT, writeErrorFrame, writeJson } from '../protocol/protocol.js';
import { Coalescer, FRAME_HEADER_BYTES, protocolError, readU32, Writer } from '../protocol/wire.js';
import { HOST_SLOT } from './shard-bus.js';
import { ShardService, type ShardInit } from './shard-service.js';

export class ShardHost {
  private readonly services = new Map<number, ShardService>();
  private readonly stores = new Map<number, LsmStore>();
  private readonly out = new Writer(4 * 1024);
  private readonly flusher = new Coalescer(() => this.flush(), process.nextTick);

  constructor(
    main: LsmStore,
    /** Opens one more instance in this thread (with this thread's block cache and rewrite runner). */
    private readonly open: (init: ShardInit) => Promise<LsmStore>,
    private readonly post: (batch: ArrayBuffer) => void,
    /** Called once the shard's own instance is closed (after every named store here). */
    onClosed: () => void,
    /** Runs when the shard is asked to close, before its instance closes (its own socket drains). */
    beforeClose?: () => Promise<void>,
  ) {
    this.services.set(0, new ShardService(main, post, () => void this.closeNamed().then(onClosed), beforeClose));
    this.stores.set(0, main);
  }

  /** Executes one batch of sections. */
  handleBatch(batch: Uint8Array): void {
    let at = 0;
    while (at + 8 <= batch.length) {
      const slot = readU32(batch, at);
      const end = at + 8 + readU32(batch, at + 4);
      const frames = batch.subarray(at + 8, Math.min(end, batch.length));
      if (slot === HOST_SLOT) this.hostFrames(frames);
      else {
        const service = this.services.get(slot);
        if (service !== undefined) service.handleBatch(frames);
        else this.refuse(frames, new FloeError('CLOSED', `the store in slot ${slot} of this shard is closed; open it again`));
      }
      at = end;
    }
  }

  private hostFrames(frames: Uint8Array): void {
    forEachFrame(frames, (op, id, payload) => {
      if (op !== InternalOp.SHARD_STORE_OPEN) throw protocolError(`shard host received unknown opcode ${opName(op)}`);
      const { slot, init } = parseJson<{ slot: number; init: ShardInit }>(payload, 'SHARD_STORE_OPEN payload');
      this.openSlot(slot, init).then(
        (lsm) => this.answer(op, id, (w) => writeJson(w, { instanceId: lsm.instanceId, keyGroups: lsm.keyGroups })),
        (e: unknown) => this.answerError(id, asFloeError(e)),
      );
    }, (id, e) => this.answerError(id, e));
  }

  private async openSlot(slot: number, init: ShardInit): Promise<LsmStore> {
    if (this.services.has(slot)) throw new FloeError('INVALID_ARGUMENT', `slot ${slot} of this shard is in use`);
    const lsm = await this.open(init);
    this.stores.set(slot, lsm);
    this.services.set(
      slot,
      new ShardService(lsm, this.post, () => {
        this.services.delete(slot);
        this.stores.delete(slot);
      }),
    );
    return lsm;
  }

  /** Closes the named stores still open (the shard is closing). */
  private async closeNamed(): Promise<void> {
    const named = [...this.stores.entries()].filter(([slot]) => slot !== 0);
    for (const [slot] of named) this.services.delete(slot);
    await Promise.all(named.map(([, lsm]) => lsm.close().catch(() => undefined)));
  }

  private refuse(frames: Uint8Array, e: FloeError): void {
    forEachFrame(frames, (_op, id) => this.answerError(id, e), (id, err) => this.answerError(id, err));
  }

  private answer(op: number, id: number, fill: (w: Writer) => void): void {
    const start = this.out.beginFrame(op | RESPONSE_BIT, id);
    fill(this.out);
    this.out.endFrame(start);
    this.flusher.schedule();
  }

  private answerError(id: number, e: FloeError): void {
    writeErrorFrame(this.out, id, e);
    this.flusher.schedule();
  }

  private flush(): void {
    if (this.out.length > 0) this.post(this.out.takeArrayBuffer());
  }
}

/** Calls `fn` for each frame of `frames`; a throw (or a bad length) is reported through `fail`. */
function forEachFrame(frames: Uint8Array, fn: (op: number, id: number, payload: Uint8Array) => void, fail: (id: number, e: FloeError) => void): void {
  let at = 0;
  while (at + FRAME_HEADER_BYTES <= frames.length) {
    const len = readU32(frames, at);
    const end = at + 4 + len;
    const id = readU32(frames, at + 5);
    if (len < 5 || end > frames.length) return fail(0, protocolError(`shard batch has a bad frame length ${len} at offset ${at}`));
    try {
      fn(frames[at + 4]!, id, frames.subarray(at + FRAME_HEADER_BYTES, end));
    } catch (e) {
      fail(id, asFloeError(e));
    }
    at = end;
  }
}
