/** `floe del KEY`: deletes one key (deleting an absent key is not an error). */
import type { CommandSpec } from './command.js';
import { parseBytes } from './cli-bytes.js';
import { hexFlag, keyGroupFlag } from './data-flags.js';
import { CLAIM_FLAG, KEY_FLAGS, openTarget, TARGET_FLAGS } from './data-target.js';

export const delCommand: CommandSpec = {
  name: 'del',
  args: 'KEY',
  summary: 'Delete KEY through the daemon (or, with --primary URI --claim, directly in a store nobody else has open).',
  notes: ['Prints nothing on success; deleting a key that has no value succeeds.'],
  flags: [...TARGET_FLAGS, CLAIM_FLAG, ...KEY_FLAGS],
  minArgs: 1,
  maxArgs: 1,
  async run(values, [keyText]) {
    const key = parseBytes(keyText!, hexFlag(values), 'KEY');
    const keyGroup = keyGroupFlag(delCommand, values);
    const target = await openTarget(values, true, 'del');
    try {
      await target.del(key, keyGroup);
      return 0;
    } finally {
      await target.close();
    }
  },
};
