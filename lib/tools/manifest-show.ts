/**
 * `floe manifest show URI`: the current manifest of each instance of a store (epoch, sequence numbers,
 * key groups, levels and their files) and the checkpoints retained on the same primary. Read-only: opens
 * the store without the write probe and claims nothing, like `floe verify`.
 */
import type { StoreOptions } from '../api.js';
import { listCheckpointRecords } from '../checkpoint/checkpoint-record.js';
import { loadConfig } from '../daemon/config.js';
import { readLatestLayout } from '../daemon/layout.js';
import { FloeError, isFloeError } from '../errors.js';
import { effectiveLargest, effectiveSmallest, type FileMeta } from '../lsm/file-meta.js';
import { listManifestSeqs, readLatestManifest, type ManifestState } from '../lsm/manifest.js';
import { DEFAULT_INSTANCE_ID } from '../options.js';
import type { ObjectStore } from '../store/object-store.js';
import { openObjectStore, parseStoreUri } from '../store/open.js';
import { INSTANCES_PREFIX, parseManifestPath } from '../store/paths.js';
import { type CommandSpec, stringFlag, usage } from './command.js';
import { formatPhysicalKey as physical } from './cli-bytes.js';

export const manifestShowCommand: CommandSpec = {
  name: 'manifest show',
  args: '[URI]',
  summary: 'Print the current manifest of each instance of a store (levels, files) and its retained checkpoints.',
  notes: [
    'URI defaults to the config\'s primary. Without --store or --all: the store the config names (its',
    'instanceId, default main): its shard layout\'s instances, else the instance of that name. Read-only.',
  ],
  flags: [
    { name: 'config', type: 'string', short: 'c', arg: 'FILE', help: 'daemon config: the primary (when URI is omitted), s3/hdfs options, store name' },
    { name: 'store', type: 'string', arg: 'NAME', help: 'the store (shard layout or instance) name (default: the config\'s instanceId, else main)' },
    { name: 'all', type: 'boolean', short: 'a', help: 'every instance on the primary (live and retired), not one store\'s' },
    { name: 'files', type: 'boolean', short: 'f', help: 'list every file of every level (default: per-level totals only)' },
    { name: 'hex', type: 'boolean', short: 'x', help: 'keys in hex; default UTF-8' },
    { name: 'json', type: 'boolean', help: 'one JSON document instead of text' },
  ],
  minArgs: 0,
  maxArgs: 1,
  async run(values, [uriArg], io) {
    const configPath = stringFlag(values, 'config');
    const config: StoreOptions | undefined = configPath === undefined ? undefined : loadConfig(configPath).store;
    const uri = uriArg ?? config?.primary;
    if (uri === undefined) throw usage(manifestShowCommand, 'floe manifest show needs the URI of a primary store or --config FILE');
    try {
      parseStoreUri(uri);
    } catch (e) {
      if (isFloeError(e, 'CONFIG')) throw usage(manifestShowCommand, e.message);
      throw e;
    }
    if (values.all === true && stringFlag(values, 'store') !== undefined) throw usage(manifestShowCommand, 'give --store NAME or --all, not both');
    const { store } = await openObjectStore(uri, { s3: config?.s3 ?? {}, hdfs: config?.hdfs ?? {}, skipProbe: true });
    try {
      const name = stringFlag(values, 'store') ?? config?.instanceId ?? DEFAULT_INSTANCE_ID;
      const shown = await collect(store, values.all === true ? undefined : name);
      const hex = values.hex === true;
      io.out(values.json === true ? `${JSON.stringify(toJson(shown, hex), null, 2)}\n` : format(shown, hex, values.files === true));
      return 0;
    } finally {
      await store.close();
    }
  },
};

interface Shown {
  uri: string;
  layout?: { name: string; seq: number; shards: number };
  instances: Array<{ state: ManifestState; manifests: number[] }>;
  checkpoints: Array<{ id: string; createdAt: string; files: number; instances: string[] }>;
}

/** The manifests of store `name` (layout, else instance), or of every instance when `name` is undefined. */
async function collect(store: ObjectStore, name: string | undefined): Promise<Shown> {
  let ids: string[];
  let layout: Shown['layout'];
  if (name === undefined) {
    const all = new Set<string>();
    for (const o of await store.list(INSTANCES_PREFIX)) {
      const m = parseManifestPath(o.path);
      if (m) all.add(m.instanceId);
    }
    ids = [...all].sort();
  } else {
    const l = await readLatestLayout(store, name);
    if (l) layout = { name: l.name, seq: l.seq, shards: l.shards.length };
    ids = l ? l.shards.map((s) => s.instanceId) : [name];
  }
  const instances: Shown['instances'] = [];
  for (const id of ids) {
    const state = await readLatestManifest(store, id);
    if (state === undefined) {
      if (name !== undefined && layout === undefined) {
        throw new FloeError('CONFIG', `there is no store named ${name} on ${store.uri} (no shard layout, no instance); use --all, or --store NAME (floe instances list shows the instances)`);
      }
      continue; // collected while we listed
    }
    instances.push({ state, manifests: await listManifestSeqs(store, id) });
  }
  const checkpoints: Shown['checkpoints'] = [];
  for (const { id, record: r } of await listCheckpointRecords(store)) {
    checkpoints.push({ id, createdAt: r.handle.createdAt, files: r.files.length, instances: r.handle.instances.map((i) => `${i.instanceId}@${i.manifestSeq}`) });
  }
  return { uri: store.uri, ...(layout ? { layout } : {}), instances, checkpoints };
}


function fileJson(f: FileMeta, hex: boolean): Record<string, unknown> {
  return {
    fileId: f.fileId,
    size: f.size,
    entries: f.entries,
    smallest: physical(effectiveSmallest(f), hex),
    largest: physical(effectiveLargest(f), hex),
    seqs: [f.minSeq, f.maxSeq],
    ...(f.clip ? { clip: f.clip } : {}),
  };
}

function toJson(s: Shown, hex: boolean): unknown {
  return {
    uri: s.uri,
    ...(s.layout ? { layout: s.layout } : {}),
    instances: s.instances.map(({ state: m, manifests }) => ({
      instanceId: m.instanceId,
      seq: m.seq,
      manifests,
      epoch: m.epoch,
      writer: m.writer,
      keyGroups: m.keyGroups,
      maxKeyGroups: m.maxKeyGroups,
      lastSequence: m.lastSequence,
      nextFileNumber: m.nextFileNumber,
      ...(m.walSeq !== undefined ? { walSeq: m.walSeq } : {}),
      ...(m.retired !== undefined ? { retired: m.retired } : {}),
      levels: m.version.levels.map((files, level) => ({ level, files: files.map((f) => fileJson(f, hex)) })),
    })),
    checkpoints: s.checkpoints,
  };
}

function format(s: Shown, hex: boolean, files: boolean): string {
  const lines = [`primary ${s.uri}`];
  if (s.layout) lines.push(`shard layout ${s.layout.name} #${s.layout.seq}: ${s.layout.shards} shard(s)`);
  if (s.instances.length === 0) lines.push('no instances');
  for (const { state: m, manifests } of s.instances) {
    const state = m.retired !== undefined ? `retired ${m.retired}` : `epoch ${m.epoch} (writer ${m.writer})`;
    lines.push(
      `instance ${m.instanceId}: manifest #${m.seq} (${manifests.length} kept), ${state}`,
      `  key groups [${m.keyGroups[0]}, ${m.keyGroups[1]}] of ${m.maxKeyGroups}, last sequence ${m.lastSequence}, next file number ${m.nextFileNumber}` +
        (m.walSeq !== undefined ? `, next WAL segment ${m.walSeq}` : ''),
    );
    m.version.levels.forEach((level, i) => {
      if (level.length === 0) return;
      const bytes = level.reduce((n, f) => n + f.size, 0);
      const entries = level.reduce((n, f) => n + f.entries, 0);
      lines.push(`  L${i}: ${level.length} file(s), ${bytes} bytes, ${entries} entries`);
      if (!files) return;
      for (const f of level) {
        const clip = f.clip ? ` clip [${f.clip[0]}, ${f.clip[1]}]` : '';
        lines.push(`    ${f.fileId}  ${f.size} B  ${f.entries} entries  ${physical(effectiveSmallest(f), hex)} .. ${physical(effectiveLargest(f), hex)}  seq ${f.minSeq}-${f.maxSeq}${clip}`);
      }
    });
  }
  lines.push(s.checkpoints.length === 0 ? 'no retained checkpoints' : `retained checkpoints (${s.checkpoints.length}):`);
  for (const c of s.checkpoints) lines.push(`  ${c.id}  ${c.createdAt}  ${c.files} file(s)  ${c.instances.join(' ')}`);
  return `${lines.join('\n')}\n`;
}
