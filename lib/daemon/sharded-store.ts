/**
 * The in-process sharded store: what `openStore({ shards: N })` returns. A `Store` over the router
 * (lib/daemon/router.ts) and its N shard worker threads, without a socket; it shares the protocol codecs
 * with the socket client, so both behave the same.
 *
 * Shard layout: the store is named by `options.instanceId` (default `main`) and its layout (which instances
 * own which key groups) lives on primary storage (lib/daemon/layout.ts), so reopening with the same options
 * finds the same shards. A sharded store and an embedded store (no `shards`) on one primary are different
 * stores; move data between them (and between shard counts) by checkpoint and restore.
 *
 * Atomicity of `write()`: see lib/daemon/router.ts and docs/protocol.md — atomic per shard, validated as a
 * whole; visible atomically to any single request; not all-or-nothing if a shard fails mid-batch.
 * `stats()` returns a Promise (the numbers live in the shard threads).
 */
import type { CheckpointHandle, RestoreOptions, StoreOptions } from '../api.js';
import { FloeError } from '../errors.js';
import { defaults } from '../options.js';
import { FrameStore, type FrameReply, type FrameTransport } from '../client/frame-store.js';
import type { ShardLayout } from './layout.js';
import { Router, type RouterOptions, type RouterSession } from './router.js';
import { Writer } from '../protocol/wire.js';
import { PROTOCOL_VERSION } from '../protocol/protocol.js';

class SessionTransport implements FrameTransport {
  private readonly w = new Writer(16 * 1024);
  /** The router serves the newest protocol version to in-process sessions. */
  readonly version = PROTOCOL_VERSION;

  constructor(private readonly session: RouterSession) {}

  request(encode: (w: Writer, id: number) => void, reply: FrameReply): void {
    const w = this.w;
    w.length = 0;
    encode(w, 0);
    // The router copies what it needs before returning, so the writer is reused for the next call.
    this.session.dispatch(w.view(), reply);
  }
}

export class ShardedStore extends FrameStore {
  private closing: Promise<void> | undefined;

  constructor(
    private readonly router: Router,
    private readonly session: RouterSession,
  ) {
    super(new SessionTransport(session));
  }

  /** The shard layout in use (instances and their key-group ranges). */
  get layout(): ShardLayout {
    return this.router.layout;
  }

  get shards(): number {
    return this.router.shardCount;
  }

  /** Runs compactions on every shard until none is needed (tests and tools). */
  compactUntilIdle(): Promise<void> {
    return this.router.compactUntilIdle();
  }

  /** The router, for tests and tools (e.g. crash injection). Not part of the public API. */
  routerForTesting(): Router {
    return this.router;
  }

  /** Flushes and closes every shard. Idempotent. */
  close(): Promise<void> {
    this.storeClosed = true;
    this.closing ??= (async () => {
      this.session.close();
      await this.router.close();
    })();
    return this.closing;
  }
}

function routerOptions(options: StoreOptions): RouterOptions {
  if (options === null || typeof options !== 'object') {
    throw new FloeError('CONFIG', 'openStore needs an options object such as { primary: "file:///var/lib/floe", shards: 4 }');
  }
  return { options, shardsExplicit: options.shards !== undefined };
}

/** Opens (or creates) the sharded store of `options` (`options.shards` shard threads). */
export async function openShardedStore(options: StoreOptions): Promise<ShardedStore> {
  const router = await Router.open(routerOptions(options));
  return new ShardedStore(router, router.openSession());
}

/**
 * Restores checkpoints (of any shard count, or of embedded stores) into a NEW layout of `options.shards`
 * shards (default: the current layout's count, else 1), referencing their files. The layout replaces the
 * store's current one for later opens. A sharded store covers all key groups: `restore.keyGroups`, if
 * given, must be the full range.
 */
export async function restoreShardedStore(options: StoreOptions, handles: CheckpointHandle[], restore: RestoreOptions = {}): Promise<ShardedStore> {
  const o = routerOptions(options);
  const max = options.maxKeyGroups ?? defaults.maxKeyGroups;
  const kg = restore.keyGroups;
  if (kg !== undefined && !(Array.isArray(kg) && kg[0] === 0 && kg[1] === max - 1)) {
    throw new FloeError(
      'INVALID_ARGUMENT',
      `a sharded store covers every key group, so restore keyGroups must be omitted or [0, ${max - 1}], got ${JSON.stringify(kg)}; restore a sub-range into an embedded store (no shards option)`,
    );
  }
  const mode = restore.mode ?? 'no-claim';
  if (mode !== 'claim' && mode !== 'no-claim') throw new FloeError('INVALID_ARGUMENT', `mode must be 'claim' or 'no-claim', got ${JSON.stringify(mode)}`);
  const router = await Router.open({ ...o, restore: { handles, mode } });
  return new ShardedStore(router, router.openSession());
}
