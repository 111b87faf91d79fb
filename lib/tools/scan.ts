/**
 * `floe scan`: prints entries in (keyGroup, key) order, one per line: `KEYGROUP<TAB>KEY<TAB>VALUE`, or one
 * JSON object per line with --json. Bounded by --limit (default 1000) so a large store is not dumped by
 * accident; a note on stderr says when the limit stopped it.
 */
import type { ScanOptions } from '../api.js';
import { type CommandSpec, intFlag, stringFlag } from './command.js';
import { formatBytes, parseBytes } from './cli-bytes.js';
import { hexFlag, keyGroupFlag } from './data-flags.js';
import { KEY_FLAGS, openTarget, TARGET_FLAGS } from './data-target.js';

const DEFAULT_LIMIT = 1000;

export const scanCommand: CommandSpec = {
  name: 'scan',
  args: '',
  summary: 'Print entries in (key group, key) order, from the daemon or (read-only) from a primary store.',
  notes: [
    'Output: KEYGROUP<TAB>KEY<TAB>VALUE per line, or with --json {"keyGroup","key","value"} per line',
    '(key and value in hex with --hex). The bounds apply to user keys within every key group.',
  ],
  flags: [
    ...TARGET_FLAGS,
    ...KEY_FLAGS,
    { name: 'prefix', type: 'string', arg: 'KEY', help: 'only keys starting with KEY' },
    { name: 'gte', type: 'string', arg: 'KEY', help: 'only keys >= KEY' },
    { name: 'lt', type: 'string', arg: 'KEY', help: 'only keys < KEY' },
    { name: 'limit', type: 'string', short: 'n', arg: 'N', help: `at most N entries (default ${DEFAULT_LIMIT}; 0 = no limit)` },
    { name: 'json', type: 'boolean', help: 'one JSON object per line' },
  ],
  minArgs: 0,
  maxArgs: 0,
  async run(values, _args, io) {
    const hex = hexFlag(values);
    const options: ScanOptions = {};
    for (const bound of ['prefix', 'gte', 'lt'] as const) {
      const text = stringFlag(values, bound);
      if (text !== undefined) options[bound] = parseBytes(text, hex, `--${bound}`);
    }
    const keyGroup = keyGroupFlag(scanCommand, values);
    if (keyGroup !== undefined) options.keyGroup = keyGroup;
    const limit = intFlag(scanCommand, values, 'limit') ?? DEFAULT_LIMIT;
    // One more than the limit tells whether the limit cut the scan short.
    if (limit > 0) options.limit = limit + 1;
    const target = await openTarget(values, false, 'scan');
    let n = 0;
    try {
      for await (const e of target.scan(options)) {
        if (limit > 0 && n === limit) {
          io.err(`floe scan: stopped at --limit ${limit}; pass --limit 0 for everything, or narrow with --prefix/--gte/--lt\n`);
          break;
        }
        const key = formatBytes(e.key, hex);
        const value = formatBytes(e.value, hex);
        io.out(values.json === true ? `${JSON.stringify({ keyGroup: e.keyGroup, key, value })}\n` : `${e.keyGroup}\t${key}\t${value}\n`);
        n++;
      }
      return 0;
    } finally {
      await target.close();
    }
  },
};
