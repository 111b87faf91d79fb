/**
 * Two writers and outages: a second process takes an instance over while the first (a "zombie") keeps
 * writing, reading, flushing and closing; and one process's store failing every call for a while.
 */
import type { WriteOp } from '../../lib/api.js';
import { isFloeError } from '../../lib/errors.js';
import { openLsmStore } from '../../lib/embedded.js';
import type { LsmStore } from '../../lib/lsm/lsm-store.js';
import { hex } from '../support/model.js';
import type { Inst, Lifecycle, Zombie } from './lifecycle.js';
import { describeDiff, modelFingerprint, type Apply } from './tracked.js';
import { Violation } from './violation.js';
import { Stuck } from './world.js';

/** A second process opens `inst`; the first becomes a zombie that must be fenced. */
export async function fence(life: Lifecycle, inst: Inst): Promise<void> {
  const proc = life.newProc(inst.instanceId);
  let store: LsmStore;
  const localDir = life.base.localDir!.replace(/machine-0$/, `machine-${++life.machines}`);
  try {
    // On another machine: a disk cache folder belongs to one process at a time.
    store = life.owned(proc, await life.drive(openLsmStore({ ...life.base, localDir, instanceId: inst.instanceId }, life.internals(proc)), `second writer of ${inst.instanceId}`));
  } catch (e) {
    life.expectable(e, undefined, 'background');
    // The failed open may still have claimed the instance: the first writer may be fenced. Treat it as a
    // zombie and hand the instance to a third process.
    const zombie: Zombie = { zombie: true, instanceId: inst.instanceId, proc: inst.proc, store: inst.store, model: inst.t.model.clone(), unsafe: 0 };
    const acked = inst.t.since.length;
    zombie.unsafe = acked - (await life.reopen(inst, 'after a takeover attempt failed'));
    life.zombies.push(zombie);
    return;
  }
  const observed = await life.dump(store, `second writer of ${inst.instanceId}`);
  const j = inst.t.matchPrefix(observed);
  if (j === undefined) {
    throw new Violation('lost-durable', `the second writer of ${inst.instanceId} does not see every durable write: ${describeDiff(observed, modelFingerprint(inst.t.durable))}`);
  }
  life.zombies.push({ zombie: true, instanceId: inst.instanceId, proc: inst.proc, store: inst.store, model: inst.t.model.clone(), unsafe: inst.t.since.length - j });
  inst.t.adoptPrefix(j);
  inst.proc = proc;
  inst.store = store;
  inst.broken = false;
  inst.localDir = localDir;
  if (life.zombies.length > 3) killZombie(life, life.zombies[0]!);
}

function deletedManifests(life: Lifecycle, instanceId: string): string {
  const seqs = [...life.sched.deletions.keys()].filter((p) => p.startsWith(`instances/${instanceId}/`)).map((p) => Number(p.split('/').pop()));
  return seqs.length === 0 ? 'none' : seqs.sort((a, b) => a - b).join(', ');
}

function killZombie(life: Lifecycle, z: Zombie): void {
  z.proc.crashed = true;
  life.sched.crash(z.proc, life.random);
  z.proc.forgetMemory();
  life.zombies = life.zombies.filter((x) => x !== z);
}

/** An operation of a fenced writer: reads stay correct; nothing it acknowledged since may be called durable. */
export async function zombieAct(
life: Lifecycle,
z: Zombie,
action: 'write' | 'get' | 'flush' | 'close',
prepared: { ops: WriteOp[]; applies: Array<{ kg: number; apply: Apply }> },
reads: string[],
): Promise<void> {
  const accept = (e: unknown): void => {
    if (e instanceof Violation || e instanceof Stuck) throw e;
    if (!isFloeError(e)) throw new Violation('engine-error', `zombie ${action} failed with a non-Floe error: ${(e as Error).stack ?? String(e)}`);
  };
  const op = prepared.ops[0]!;
  const kg = prepared.applies[0]!.kg;
  const inRange = z.store.keyGroups[0] <= kg && kg <= z.store.keyGroups[1];
  try {
    if (action === 'write' && inRange) {
      await life.drive(z.store.write([{ ...op, keyGroup: kg }]), 'zombie write');
      prepared.applies[0]!.apply(z.model);
      z.unsafe++;
      if (life.wal) {
        throw new Violation('stale-writer-durable', `a write of the fenced writer of ${z.instanceId} resolved with durability 'wal' (a durable acknowledgement) after the new owner opened`);
      }
    } else if (action === 'get' || action === 'write') {
      const got = await life.drive(z.store.get(op.key, { keyGroup: kg }), 'zombie get');
      const want = z.model.get(kg, op.key as Uint8Array);
      if (hex(got) !== hex(want)) throw new Violation('wrong-read', `fenced writer of ${z.instanceId}: get kg ${kg} = ${hex(got)}, its model ${hex(want)}`);
      reads.push('zombie-get');
    } else {
      const hadError = (z.store as unknown as { backgroundError?: unknown }).backgroundError !== undefined;
      await life.drive(action === 'flush' ? z.store.flush() : z.store.close(), `zombie ${action}`);
      if (z.unsafe > 0) {
        throw new Violation(
          // close() after a sticky background error resolving is its own defect (it skips the flush).
          action === 'close' && hadError ? 'close-after-error-resolved' : 'stale-writer-durable',
          `${action}() of the fenced writer of ${z.instanceId} resolved although ${z.unsafe} write(s) it acknowledged are not in the instance (the new owner never sees them)` +
            `${hadError ? ' (it had a sticky background error, so close() skipped the flush)' : ''}; manifests of ${z.instanceId} deleted by GC so far: ${deletedManifests(life, z.instanceId)}`,
        );
      }
    }
  } catch (e) {
    accept(e);
  }
  if (action === 'close') life.zombies = life.zombies.filter((x) => x !== z);
}

/** The instance's store fails every call for `steps` scheduler steps while an operation runs. */
export async function outage(life: Lifecycle, inst: Inst, during: 'flush' | 'write' | 'compact', steps: number): Promise<void> {
  const kg = inst.range[0];
  const key = new TextEncoder().encode('k1/outage');
  const value = new TextEncoder().encode(`o${life.sched.steps}`);
  const before = inst.t.since.length;
  inst.proc.setDown(true);
  let p: Promise<unknown>;
  try {
    p = during === 'flush' ? inst.store.flush() : during === 'write' ? inst.store.put(key, value, { keyGroup: kg }) : inst.store.compactUntilIdle();
  } catch (e) {
    p = Promise.reject(e);
  }
  p.catch(() => undefined);
  await life.sched.run(steps);
  inst.proc.setDown(false);
  try {
    await life.drive(p, `${during} during an outage`);
  } catch (e) {
    life.expectable(e, inst, during === 'write' ? 'write' : 'durable');
    if (during === 'write') inst.t.maybe((m) => m.put(kg, key, value));
    return;
  }
  if (during === 'write') inst.t.ack((m) => m.put(kg, key, value));
  if (during === 'flush' && before === inst.t.since.length) inst.t.markDurable();
}
