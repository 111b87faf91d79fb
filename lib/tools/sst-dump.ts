/**
 * `floe sst dump FILE|URI`: what one SST holds: footer and properties, the block index, the key range, and
 * sample entries. FILE is a local path (or file:// URI); an s3:// or hdfs:// URI names the object (its
 * folder is opened read-only, without the write probe). Everything read is verified (checksums, structure):
 * a damaged file is a CORRUPTION error naming the block, never a wrong dump.
 */
import { open as openFile, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ByteSource } from '../cache/byte-source.js';
import { FloeError } from '../errors.js';
import { RemoteFileSource } from '../lsm/table-cache.js';
import { EntryKind, type Entry } from '../sst/entry.js';
import { FOOTER_BYTES, decodeFooter } from '../sst/format.js';
import { SstReader } from '../sst/reader.js';
import { decodeMeta, type TableMeta } from '../sst/table-meta.js';
import { openObjectStore } from '../store/open.js';
import { Semaphore } from '../util/semaphore.js';
import { type CommandSpec, type FlagValues, intFlag, usage } from './command.js';
import { formatBytes, formatPhysicalKey as physical } from './cli-bytes.js';
import { loadConfig } from '../daemon/config.js';

const DEFAULT_SAMPLE = 10;
const DEFAULT_INDEX = 20;

export const sstDumpCommand: CommandSpec = {
  name: 'sst dump',
  args: 'FILE|URI',
  summary: 'Print an SST\'s footer, properties, block index, key range and sample entries (verified as read).',
  notes: [
    'Keys print as KEYGROUP:KEY (UTF-8, or hex with --hex). FILE may be a local path or file:// URI; s3:// and',
    'hdfs:// URIs name the object itself (e.g. s3://bucket/prefix/sst/ID.sst). Read-only.',
  ],
  flags: [
    { name: 'config', type: 'string', short: 'c', arg: 'FILE', help: 'daemon config, for s3/hdfs options (endpoint, credentials, user)' },
    { name: 'sample', type: 'string', short: 'n', arg: 'N', help: `sample entries to print from the start (default ${DEFAULT_SAMPLE}; 0 = none)` },
    { name: 'index', type: 'string', arg: 'N', help: `index entries to print (default ${DEFAULT_INDEX}; 0 = all)` },
    { name: 'hex', type: 'boolean', short: 'x', help: 'keys and values in hex; default UTF-8' },
    { name: 'json', type: 'boolean', help: 'one JSON document instead of text' },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(values, [target], io) {
    const sample = intFlag(sstDumpCommand, values, 'sample') ?? DEFAULT_SAMPLE;
    const indexLimit = intFlag(sstDumpCommand, values, 'index') ?? DEFAULT_INDEX;
    const file = await openSource(target!, values);
    try {
      const dump = await dumpSst(file.source, file.path, file.size, sample);
      const hex = values.hex === true;
      io.out(values.json === true ? `${JSON.stringify(dumpJson(dump, hex), null, 2)}\n` : formatDump(dump, hex, indexLimit));
      return 0;
    } finally {
      await file.close();
    }
  },
};

interface OpenedSource {
  source: ByteSource;
  path: string;
  size: number;
  close(): Promise<void>;
}

/** A local file (path or file:// URI) read with one handle, or an object of a remote store. */
async function openSource(target: string, values: FlagValues): Promise<OpenedSource> {
  if (!target.includes('://') || target.startsWith('file://')) {
    const path = target.startsWith('file://') ? fileURLToPath(target) : target;
    let fh: FileHandle;
    try {
      fh = await openFile(path, 'r');
    } catch (e) {
      throw new FloeError('INVALID_ARGUMENT', `cannot open SST file ${path}: ${(e as Error).message}`);
    }
    const size = (await fh.stat()).size;
    const source: ByteSource = {
      async read(offset, length) {
        const buf = Buffer.alloc(length);
        const { bytesRead } = await fh.read(buf, 0, length, offset);
        return buf.subarray(0, bytesRead);
      },
    };
    return { source, path, size, close: () => fh.close() };
  }
  const cut = target.lastIndexOf('/');
  const root = target.slice(0, cut);
  const name = target.slice(cut + 1);
  if (name === '' || root.endsWith(':/')) throw usage(sstDumpCommand, `${target} does not name an object; give the SST's full URI, e.g. s3://bucket/prefix/sst/ID.sst`);
  const config = typeof values.config === 'string' ? loadConfig(values.config).store : undefined;
  const { store } = await openObjectStore(root, { s3: config?.s3 ?? {}, hdfs: config?.hdfs ?? {}, skipProbe: true });
  try {
    const info = await store.head(name);
    if (info === undefined) throw new FloeError('NOT_FOUND', `there is no object ${name} under ${root}; floe manifest show URI lists the live SSTs`);
    return { source: new RemoteFileSource(store, name, new Semaphore(4)), path: target, size: info.size, close: () => store.close() };
  } catch (e) {
    await store.close();
    throw e;
  }
}

export interface SstDump {
  path: string;
  size: number;
  meta: TableMeta;
  entries: Entry[];
}

/** Reads and verifies the meta section, then the first `sample` entries (block by block). */
export async function dumpSst(source: ByteSource, path: string, size: number, sample: number): Promise<SstDump> {
  if (size < FOOTER_BYTES) throw new FloeError('CORRUPTION', `${path} is ${size} bytes, shorter than an SST footer (${FOOTER_BYTES} bytes): not an SST, or truncated`);
  const footer = decodeFooter(await source.read(size - FOOTER_BYTES, FOOTER_BYTES), size, path);
  const meta = decodeMeta(path, footer, await source.read(footer.metaOffset, size - FOOTER_BYTES - footer.metaOffset));
  const entries: Entry[] = [];
  if (sample > 0) {
    const reader = await SstReader.open({ path, fileId: basename(path), size, metaOffset: footer.metaOffset, source });
    for await (const block of reader.blocks({ prefetch: 0, fillCache: false })) {
      for (const e of block) {
        if (entries.length >= sample) break;
        entries.push(e);
      }
      if (entries.length >= sample) break;
    }
  }
  return { path, size, meta, entries };
}

const KINDS: Record<number, string> = { [EntryKind.Put]: 'put', [EntryKind.Delete]: 'delete', [EntryKind.Merge]: 'merge' };


function dumpJson(d: SstDump, hex: boolean): unknown {
  const p = d.meta.properties;
  const idx = d.meta.index;
  return {
    path: d.path,
    size: d.size,
    formatVersion: d.meta.footer.version,
    metaOffset: d.meta.footer.metaOffset,
    properties: { ...p, smallestKey: physical(p.smallestKey, hex), largestKey: physical(p.largestKey, hex) },
    index: Array.from({ length: idx.count }, (_, i) => ({ lastKey: physical(idx.separator(i), hex), offset: idx.offsets[i], size: idx.sizes[i] })),
    entries: d.entries.map((e) => ({ key: physical(e.key, hex), kind: KINDS[e.kind], seq: e.seq, value: formatBytes(e.value, hex) })),
  };
}

function formatDump(d: SstDump, hex: boolean, indexLimit: number): string {
  const p = d.meta.properties;
  const f = d.meta.footer;
  const lines = [
    `sst ${d.path}`,
    `  size ${d.size} bytes, format version ${f.version}, meta section at ${f.metaOffset} (index ${f.index.size} B, filter ${f.filter.size} B, properties ${f.properties.size} B)`,
    `  entries ${p.entries} (${p.deletes} delete(s), ${p.merges} merge(s)), raw key bytes ${p.rawKeyBytes}, raw value bytes ${p.rawValueBytes}`,
    `  key groups [${p.minKeyGroup}, ${p.maxKeyGroup}], sequences [${p.minSeq}, ${p.maxSeq}]`,
    `  smallest key ${physical(p.smallestKey, hex)}`,
    `  largest key  ${physical(p.largestKey, hex)}`,
    `  ${p.dataBlocks} data block(s), compression ${p.compression}` +
      (p.blockBytes !== undefined ? `, block bytes ${p.blockBytes}` : '') +
      (p.restartInterval !== undefined ? `, restart interval ${p.restartInterval}` : '') +
      (p.bloomBitsPerKey !== undefined ? `, bloom ${p.bloomBitsPerKey} bits/key` : ''),
  ];
  if (p.createdAtMs) lines.push(`  created ${new Date(p.createdAtMs).toISOString()}${p.creator ? ` by ${p.creator}` : ''}`);
  const idx = d.meta.index;
  const shown = indexLimit === 0 ? idx.count : Math.min(indexLimit, idx.count);
  lines.push(`index (${idx.count} block(s)${shown < idx.count ? `, first ${shown}; --index 0 for all` : ''}): block  offset  size  last key`);
  for (let i = 0; i < shown; i++) lines.push(`  #${i}  ${idx.offsets[i]}  ${idx.sizes[i]}  ${physical(idx.separator(i), hex)}`);
  lines.push(`entries (first ${d.entries.length}): key  kind  seq  value`);
  for (const e of d.entries) lines.push(`  ${physical(e.key, hex)}  ${KINDS[e.kind]}  ${e.seq}  ${formatBytes(e.value, hex)}`);
  return `${lines.join('\n')}\n`;
}
