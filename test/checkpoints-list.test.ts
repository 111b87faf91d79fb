/**
 * `floe checkpoints list` (lib/tools/checkpoints-list.ts) while checkpoints are being released: a record
 * listed and then released before it is read (Flink releases subsumed checkpoints while an operator lists
 * them) is left out, not a NOT_FOUND failure of the whole listing.
 */
import t from 'tap';
import type { CheckpointHandle } from '../lib/api.js';
import { writeCheckpointRecord } from '../lib/checkpoint/checkpoint-record.js';
import { openObjectStore } from '../lib/store/open.js';
import { checkpointPath } from '../lib/store/paths.js';
import { checkpointListLines } from '../lib/tools/checkpoints-list.js';
import { overrideStore } from './support/override-store.js';

function handle(checkpointId: string, instanceId: string): CheckpointHandle {
  return {
    format: 'floe-checkpoint',
    version: 1,
    checkpointId,
    primary: 'mem://list',
    maxKeyGroups: 8,
    createdAt: '2026-11-30T09:00:00.000Z',
    instances: [{ instanceId, manifestSeq: 1, keyGroups: [0, 7], lastSequence: 5 }],
  };
}

t.test('a checkpoint released between the listing and its read is left out', async (t) => {
  const { store } = await openObjectStore(`mem://checkpoints-list-${process.pid}`, { skipProbe: true });
  t.teardown(() => store.close());
  for (const [id, inst] of [['cp-a', 'i-a'], ['cp-b', 'i-b'], ['cp-c', 'i-c']] as const) {
    await writeCheckpointRecord(store, { handle: handle(id, inst), instances: [{ instanceId: inst, keyGroups: [0, 7], lastSequence: 5, levels: [] }], files: [`f-${id}`] });
  }
  const before = await checkpointListLines(store);
  t.equal(before.length, 3, 'all three listed while nothing is released');
  // The listing sees cp-b; it is released right after (before the listing reads it).
  const racing = overrideStore(store, {
    list: async (prefix) => {
      const listed = await store.list(prefix);
      await store.delete(checkpointPath('cp-b'));
      return listed;
    },
  });
  const lines = await checkpointListLines(racing);
  t.same(
    lines.map((l) => l.split(' ')[0]),
    ['cp-a', 'cp-c'],
    'the released one is left out, the others listed',
  );
  t.match(lines[0], /i-a\[0-7\]/, 'a line names its instances and key groups');
});
