#!/usr/bin/env node
/**
 * The `floe` command line (docs/operations.md):
 *
 *   floe daemon --config FILE [--restore HANDLE.json] [--shards M]
 *   floe ping [--socket PATH | --config FILE]
 *   floe stats [--socket PATH | --config FILE]
 *   floe checkpoint [--socket PATH | --config FILE] [--out FILE]
 *   floe checkpoints list|show ID|release ID [--config FILE]
 *   floe instances list|retire ID [--config FILE]
 *   floe verify URI [--config FILE] [--json]
 *   floe get|put|del|scan, floe sst dump, floe manifest show, floe load  (lib/tools/, one module each;
 *       `floe COMMAND --help` lists each one's flags)
 *
 * The socket is found from --socket, else the config's `socket` (with FLOE_SOCKET applied), else
 * FLOE_SOCKET, else ./.floe-run/floe.sock if it exists (the `make run` daemon), else /run/floe/floe.sock
 * (lib/tools/data-target.ts). `checkpoints` works on primary storage directly (no daemon needed).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { CheckpointHandle } from '../lib/api.js';
import { connect } from '../lib/client/client.js';
import { readCheckpointRecord } from '../lib/checkpoint/checkpoint-record.js';
import { listInstanceSummaries } from '../lib/checkpoint/instances.js';
import { retireInstance } from '../lib/checkpoint/retire.js';
import { loadConfig, type DaemonConfig } from '../lib/daemon/config.js';
import { runDaemon } from '../lib/daemon/daemon.js';
import { jsonLogger } from '../lib/daemon/log.js';
import { FloeError, isFloeError } from '../lib/errors.js';
import { openObjectStore } from '../lib/store/open.js';
import { type CliIo, type CommandSpec, runCommand } from '../lib/tools/command.js';
import { socketFrom } from '../lib/tools/data-target.js';
import { delCommand } from '../lib/tools/del.js';
import { getCommand } from '../lib/tools/get.js';
import { loadCommand } from '../lib/tools/load.js';
import { manifestShowCommand } from '../lib/tools/manifest-show.js';
import { putCommand } from '../lib/tools/put.js';
import { scanCommand } from '../lib/tools/scan.js';
import { sstDumpCommand } from '../lib/tools/sst-dump.js';
import { verifyCommand } from '../lib/tools/verify-cli.js';
import { checkpointPath } from '../lib/store/paths.js';
import { checkpointListLines } from '../lib/tools/checkpoints-list.js';

const USAGE = `usage:
  floe daemon --config FILE [--restore HANDLE.json] [--shards M]
      run the daemon; --restore starts it from a checkpoint handle (written by \`floe checkpoint\`
      or \`floe checkpoints show ID\`), rescaled to M shards
  floe ping [--socket PATH | --config FILE]          check that the daemon answers
  floe stats [--socket PATH | --config FILE]         print the daemon's stats as JSON
  floe checkpoint [--socket PATH | --config FILE] [--out FILE]
      take a daemon-wide checkpoint; prints (or writes) its handle as JSON
  floe checkpoints list [--config FILE]              list retained checkpoints on primary storage
  floe checkpoints show ID [--config FILE]           print a checkpoint's handle as JSON
  floe checkpoints release ID [--config FILE]        release a checkpoint (its files may be collected)
  floe instances list [--config FILE]                list the LSM instances on primary storage
  floe instances retire ID [--config FILE]           retire an instance for good: fences its writer and
      lets GC reclaim files only it kept (checkpoints taken from it stay restorable)
  floe verify URI [--config FILE] [--json]           check every checksum of every live file, every manifest,
      checkpoint record and WAL segment (read-only); exit 0 clean, 1 broken. URI defaults to the
      config's primary; s3/hdfs options come from --config

data (each lists its flags with --help; targets: --socket PATH | --config FILE | --primary URI):
  floe get KEY [--hex] [--key-group N]               print a key's value (exit 1 if absent); with --primary,
      reads the store's durable state without claiming it (safe while a daemon owns it)
  floe put KEY VALUE [--hex] [--key-group N]         write a key (with --primary also --claim: fences the owner)
  floe del KEY [--hex] [--key-group N]               delete a key (likewise)
  floe scan [--prefix K] [--gte K] [--lt K] [--key-group N] [--limit N] [--json]
                                                     print entries in (key group, key) order
  floe sst dump FILE|URI [--sample N] [--index N] [--json]
                                                     an SST's properties, block index, key range, sample entries
  floe manifest show [URI] [--store NAME | --all] [--files] [--json]
                                                     current manifest per instance: levels, files; checkpoints
  floe load [--duration S] [--connections N] [--inflight N] [--rate OPS] [--mix get:80,put:20]
            [--keys N] [--dist uniform|zipf] [--value-bytes N] [--preload] [--json]
      drive a daemon: live progress on stderr, HDR latency percentiles at the end
  floe --version | --help`;

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function usageError(message: string): never {
  throw new FloeError('INVALID_ARGUMENT', `${message}\n${USAGE}`);
}

function requireConfig(values: { config?: string }, command: string): DaemonConfig {
  if (!values.config && !process.env.FLOE_PRIMARY) usageError(`${command} needs --config FILE (or FLOE_PRIMARY)`);
  return loadConfig(values.config);
}

/** Commands with their own flags and `--help` (lib/tools/command.ts), by their words after `floe`. */
const COMMANDS: Record<string, CommandSpec> = {
  get: getCommand,
  put: putCommand,
  del: delCommand,
  scan: scanCommand,
  load: loadCommand,
  'sst dump': sstDumpCommand,
  'manifest show': manifestShowCommand,
};

const io: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  errIsTTY: process.stderr.isTTY === true,
};

async function main(argv: string[]): Promise<number> {
  const [first, second] = argv;
  if (first === 'sst' || first === 'manifest') {
    const spec = COMMANDS[`${first} ${second}`];
    if (spec === undefined) return usageError(`floe ${first} needs ${first === 'sst' ? 'dump FILE|URI' : 'show [URI]'}, got ${JSON.stringify(second ?? '')}`);
    return runCommand(spec, argv.slice(2), io);
  }
  if (first !== undefined && COMMANDS[first] !== undefined) return runCommand(COMMANDS[first], argv.slice(1), io);
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        socket: { type: 'string', short: 's' },
        restore: { type: 'string' },
        shards: { type: 'string' },
        out: { type: 'string', short: 'o' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (e) {
    return usageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`floe ${version()}\n`);
    return 0;
  }
  const [command, sub, arg] = positionals;
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(USAGE + '\n');
    return command === undefined && !values.help ? 2 : 0;
  }
  switch (command) {
    case 'daemon': {
      const code = await daemon(values);
      // Exit explicitly: a daemon that lingers after a clean shutdown would be killed by its supervisor.
      return process.exit(code);
    }
    case 'ping':
      return ping(socketFrom(values));
    case 'stats':
      return withClient(socketFrom(values), async (c) => {
        process.stdout.write(JSON.stringify(await c.stats(), null, 2) + '\n');
      });
    case 'checkpoint':
      return withClient(socketFrom(values), async (c) => {
        const json = JSON.stringify(await c.checkpoint(), null, 2) + '\n';
        if (values.out) {
          writeFileSync(values.out, json);
          process.stderr.write(`checkpoint handle written to ${values.out}\n`);
        } else process.stdout.write(json);
      });
    case 'checkpoints':
      return checkpoints(requireConfig(values, 'floe checkpoints'), sub, arg);
    case 'instances':
      return instances(requireConfig(values, 'floe instances'), sub, arg);
    case 'verify':
      if (arg !== undefined) usageError(`floe verify takes one URI, got ${JSON.stringify(positionals.slice(1))}`);
      return verifyCommand({ uri: sub, config: values.config, json: values.json === true }, (text) => process.stdout.write(text));
    default:
      return usageError(`unknown command ${JSON.stringify(command)}`);
  }
}

async function daemon(values: { config?: string; restore?: string; shards?: string }): Promise<number> {
  const config = requireConfig(values, 'floe daemon');
  if (values.shards !== undefined) {
    const n = Number(values.shards);
    if (!Number.isInteger(n) || n < 1 || n > Math.min(256, config.store.maxKeyGroups!)) {
      usageError(`--shards must be an integer in [1, ${Math.min(256, config.store.maxKeyGroups!)}], got ${JSON.stringify(values.shards)}`);
    }
    config.store.shards = n;
    config.shardsExplicit = true;
  }
  let restore: CheckpointHandle[] | undefined;
  if (values.restore !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(values.restore, 'utf8'));
    } catch (e) {
      throw new FloeError('INVALID_ARGUMENT', `--restore ${values.restore}: cannot read a checkpoint handle: ${(e as Error).message}`);
    }
    restore = (Array.isArray(parsed) ? parsed : [parsed]) as CheckpointHandle[];
  }
  return runDaemon({ config, ...(restore ? { restore } : {}), log: jsonLogger(config.logLevel), version: version() });
}

async function withClient(socket: string, fn: (c: Awaited<ReturnType<typeof connect>>) => Promise<void>): Promise<number> {
  const client = await connect(socket, { reconnect: false, flushOnClose: false });
  try {
    await fn(client);
  } finally {
    await client.close();
  }
  return 0;
}

async function ping(socket: string): Promise<number> {
  const started = process.hrtime.bigint();
  return withClient(socket, async (c) => {
    // A GET of a key nobody writes exercises the whole path (router, shard, engine) without side effects.
    await c.get('\u0000floe-ping');
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const h = c.server;
    process.stdout.write(`pong from ${h.server} at ${socket}: protocol ${h.version}, ${h.shards} shard(s), maxKeyGroups ${h.maxKeyGroups}, ${ms.toFixed(1)} ms\n`);
  });
}

async function checkpoints(config: DaemonConfig, sub: string | undefined, id: string | undefined): Promise<number> {
  // Checkpoint records are created by stores (probed); listing, showing and releasing them need no probe,
  // so read-only credentials work here.
  const { store } = await openObjectStore(config.store.primary, { s3: config.store.s3 ?? {}, hdfs: config.store.hdfs ?? {}, skipProbe: true });
  try {
    switch (sub) {
      case 'list': {
        const lines = await checkpointListLines(store);
        process.stdout.write(lines.length === 0 ? `no retained checkpoints on ${config.store.primary}\n` : lines.map((l) => `${l}\n`).join(''));
        return 0;
      }
      case 'show': {
        if (!id) usageError('floe checkpoints show needs a checkpoint ID (see floe checkpoints list)');
        const r = await readRecord(store, id!, config.store.primary);
        process.stdout.write(JSON.stringify(r.handle, null, 2) + '\n');
        return 0;
      }
      case 'release': {
        if (!id) usageError('floe checkpoints release needs a checkpoint ID (see floe checkpoints list)');
        await readRecord(store, id!, config.store.primary);
        await store.delete(checkpointPath(id!));
        process.stdout.write(`released checkpoint ${id}; its files are collected once nothing else references them\n`);
        return 0;
      }
      default:
        return usageError(`floe checkpoints needs list, show ID or release ID, got ${JSON.stringify(sub ?? '')}`);
    }
  } finally {
    await store.close();
  }
}

async function instances(config: DaemonConfig, sub: string | undefined, id: string | undefined): Promise<number> {
  if (sub === 'retire') {
    if (!id) usageError('floe instances retire needs an instance ID (see floe instances list)');
    const r = await retireInstance(config.store, id!);
    process.stdout.write(
      r.retiredNow
        ? `retired instance ${id}: ${r.releasedReferences} file reference(s) released; GC collects what nothing else uses\n`
        : `instance ${id} was retired already\n`,
    );
    return 0;
  }
  if (sub !== 'list') return usageError(`floe instances needs list or retire ID, got ${JSON.stringify(sub ?? '')}`);
  const { store } = await openObjectStore(config.store.primary, { s3: config.store.s3 ?? {}, hdfs: config.store.hdfs ?? {}, skipProbe: true });
  try {
    const all = await listInstanceSummaries(store);
    if (all.length === 0) process.stdout.write(`no instances on ${config.store.primary}\n`);
    for (const i of all) {
      const state = i.retired ? `retired ${i.retired}` : `epoch ${i.epoch}`;
      process.stdout.write(`${i.instanceId}  [${i.keyGroups[0]}-${i.keyGroups[1]}]  ${state}  ${i.references} file(s)  ${i.bytes} bytes\n`);
    }
    return 0;
  } finally {
    await store.close();
  }
}

async function readRecord(store: Parameters<typeof readCheckpointRecord>[0], id: string, primary: string): ReturnType<typeof readCheckpointRecord> {
  try {
    return await readCheckpointRecord(store, checkpointPath(id));
  } catch (e) {
    if (isFloeError(e, 'NOT_FOUND')) throw new FloeError('INVALID_ARGUMENT', `no retained checkpoint ${id} on ${primary}; see floe checkpoints list`);
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const err = e instanceof FloeError ? e : new FloeError('IO', (e as Error)?.message ?? String(e));
    process.stderr.write(`floe: ${err.code}: ${err.message}\n`);
    process.exitCode = err.code === 'INVALID_ARGUMENT' ? 2 : 1;
  },
);
