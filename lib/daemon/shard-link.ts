/**
 * How the router reaches one shard: a worker thread (workers/shard-worker.ts) — the normal case, so shards
 * run in parallel — or, for a store of a single shard, the router's own thread (a thread of its own would
 * only add a hop per request batch and buy no parallelism). Both carry the same batches of frames and run
 * the same ShardService; the router cannot tell them apart except for speed.
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import type { BlockCache } from '../cache/block-cache.js';
import type { SharedBlockCacheDescriptor } from '../cache/shared-block-cache.js';
import { FloeError, type FloeErrorCode } from '../errors.js';
import { ShardHost } from './shard-host.js';
import { openShardStore, type ShardInit } from './shard-service.js';
import type { Clock } from '../util/clock.js';
import type { DirectSocketInit } from './direct-server.js';
import { serveRewriteRelay } from '../lsm/rewrite-relay.js';

/** What a link tells the router. */
export interface ShardHooks {
  /** A batch of response frames. */
  onBatch(batch: Uint8Array): void;
  /** The shard failed without being asked to stop (an uncaught error in its thread). */
  onError(reason: string): void;
  /** The shard is gone (after a close, a failure or terminate); `code` 0 means a clean exit. */
  onExit(code: number): void;
}

export interface ShardLink {
  /** Sends a batch of request frames (the buffer is transferred or consumed: do not reuse it). */
  post(batch: ArrayBuffer): void;
  /** Stops the shard abruptly, as a crash would. */
  terminate(): Promise<void>;
  /** Connects the router. PROMISES: events that happened before are delivered now, in order. */
  attach(hooks: ShardHooks): void;
  /** The shard's own socket (direct-server.ts), when it serves one. */
  directSocket?: string;
  /** Why the shard's own socket could not be bound, when it was asked to serve one. */
  directError?: string;
}

const workerUrl = new URL('../../workers/shard-worker.js', import.meta.url);

/** Buffers events until the router attaches. */
class HookRelay implements ShardHooks {
  private hooks: ShardHooks | undefined;
  private early: Array<(h: ShardHooks) => void> = [];

  attach(hooks: ShardHooks): void {
    this.hooks = hooks;
    for (const e of this.early.splice(0)) e(hooks);
  }

  private emit(e: (h: ShardHooks) => void): void {
    if (this.hooks) e(this.hooks);
    else this.early.push(e);
  }

  onBatch(batch: Uint8Array): void {
    this.emit((h) => h.onBatch(batch));
  }

  onError(reason: string): void {
    this.emit((h) => h.onError(reason));
  }

  onExit(code: number): void {
    this.emit((h) => h.onExit(code));
  }
}

/**
 * Starts a worker thread for the shard and waits until its instance is open.
 * PROMISES: rejects (with the shard's FloeError, rebuilt from its JSON) and leaves no thread behind.
 */
export function startWorkerShard(init: ShardInit, cache: SharedBlockCacheDescriptor | undefined, describe: string, direct?: DirectSocketInit): Promise<ShardLink> {
  // The shard's rewrite jobs come back over their own port and run on this process's one pool.
  const rewrites = new MessageChannel();
  serveRewriteRelay(rewrites.port1);
  const worker = new Worker(workerUrl, {
    workerData: { init, rewritePort: rewrites.port2, ...(cache ? { cache } : {}), ...(direct ? { direct } : {}) },
    transferList: [rewrites.port2],
    execArgv: workerExecArgv(),
  });
  const relay = new HookRelay();
  const link: ShardLink = {
    post: (batch) => worker.postMessage(batch, [batch]),
    terminate: async () => {
      await worker.terminate();
    },
    attach: (hooks) => relay.attach(hooks),
  };
  return new Promise((resolve, reject) => {
    let ready = false;
    const fail = (e: FloeError): void => {
      if (ready) return;
      ready = true;
      void worker.terminate().catch(() => 0);
      reject(e);
    };
    worker.on('message', (m: unknown) => {
      if (m instanceof ArrayBuffer) {
        relay.onBatch(new Uint8Array(m));
        return;
      }
      const msg = m as { type?: string; directSocket?: string; directError?: string; error?: { code: FloeErrorCode; message: string; retryable: boolean; path?: string } };
      if (msg?.type === 'ready' && !ready) {
        ready = true;
        if (msg.directSocket !== undefined) link.directSocket = msg.directSocket;
        if (msg.directError !== undefined) link.directError = msg.directError;
        resolve(link);
      } else if (msg?.type === 'failed') {
        const e = msg.error!;
        fail(new FloeError(e.code, `${describe} could not open: ${e.message}`, { retryable: e.retryable, ...(e.path ? { path: e.path } : {}) }));
      }
    });
    worker.on('error', (e: Error) => {
      if (!ready) fail(new FloeError('IO', `${describe} failed to start: ${e.message}`, { cause: e }));
      else relay.onError(`uncaught ${e.name}: ${e.message}`);
    });
    worker.on('exit', (code: number) => {
      if (!ready) fail(new FloeError('IO', `${describe} exited with code ${code} while starting`));
      else relay.onExit(code);
    });
  });
}

/** Opens the shard's instance on this thread. */
export async function startInlineShard(init: ShardInit, cache: BlockCache | undefined, clock?: Clock): Promise<ShardLink> {
  const lsm = await openShardStore(init, cache, undefined, clock);
  const relay = new HookRelay();
  let gone = false;
  const host = new ShardHost(
    lsm,
    (named) => openShardStore(named, cache, undefined, clock),
    (batch) => relay.onBatch(new Uint8Array(batch)),
    () => {
      gone = true;
      relay.onExit(0);
    },
  );
  return {
    post: (batch) => {
      if (!gone) host.handleBatch(new Uint8Array(batch));
    },
    terminate: async () => {
      if (gone) return;
      gone = true;
      relay.onExit(1);
      await lsm.close().catch(() => undefined);
    },
    attach: (hooks) => relay.attach(hooks),
  };
}

/**
 * The parent's node flags minus module hooks (--import, --require, --loader): the shard worker is plain
 * compiled JavaScript, and hooks meant for the application (test runners' TypeScript loaders,
 * instrumentation) would only slow every shard's start-up (seconds under a test runner).
 */
function workerExecArgv(): string[] {
  const out: string[] = [];
  const args = process.execArgv;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const hook = /^--(import|require|loader|experimental-loader)(=|$)/.exec(a) ?? (a === '-r' ? ['-r', '', ''] : null);
    if (hook === null) out.push(a);
    else if (hook[2] !== '=') i++; // the value is the next argument
  }
  return out;
}
