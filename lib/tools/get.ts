/** `floe get KEY`: prints the value of one key (UTF-8, or hex with --hex); exit 1 when the key is absent. */
import { FloeError } from '../errors.js';
import type { CommandSpec } from './command.js';
import { formatBytes, parseBytes } from './cli-bytes.js';
import { hexFlag, keyGroupFlag } from './data-flags.js';
import { KEY_FLAGS, openTarget, TARGET_FLAGS } from './data-target.js';

export const getCommand: CommandSpec = {
  name: 'get',
  args: 'KEY',
  summary: 'Print the value of KEY, from the daemon or (read-only) from a primary store.',
  notes: ['Prints the value and a newline. Exit 0 found, 1 not found (NOT_FOUND on stderr), 2 bad input.'],
  flags: [...TARGET_FLAGS, ...KEY_FLAGS],
  minArgs: 1,
  maxArgs: 1,
  async run(values, [keyText], io) {
    const hex = hexFlag(values);
    const key = parseBytes(keyText!, hex, 'KEY');
    const keyGroup = keyGroupFlag(getCommand, values);
    const target = await openTarget(values, false, 'get');
    try {
      const value = await target.get(key, keyGroup);
      if (value === undefined) throw new FloeError('NOT_FOUND', `key ${JSON.stringify(keyText)} has no value in ${target.where}`);
      io.out(`${formatBytes(value, hex)}\n`);
      return 0;
    } finally {
      await target.close();
    }
  },
};
