/** `floe put KEY VALUE`: writes one key. Durable once the command returns (it flushes what it wrote). */
import type { CommandSpec } from './command.js';
import { parseBytes } from './cli-bytes.js';
import { hexFlag, keyGroupFlag } from './data-flags.js';
import { CLAIM_FLAG, KEY_FLAGS, openTarget, TARGET_FLAGS } from './data-target.js';

export const putCommand: CommandSpec = {
  name: 'put',
  args: 'KEY VALUE',
  summary: 'Write VALUE under KEY through the daemon (or, with --primary URI --claim, directly to a store nobody else has open).',
  notes: ['Prints nothing on success. Through a daemon, the write is as durable as the daemon\'s durability mode makes it.'],
  flags: [...TARGET_FLAGS, CLAIM_FLAG, ...KEY_FLAGS],
  minArgs: 2,
  maxArgs: 2,
  async run(values, [keyText, valueText]) {
    const hex = hexFlag(values);
    const key = parseBytes(keyText!, hex, 'KEY');
    const value = parseBytes(valueText!, hex, 'VALUE');
    const keyGroup = keyGroupFlag(putCommand, values);
    const target = await openTarget(values, true, 'put');
    try {
      await target.put(key, value, keyGroup);
      return 0;
    } finally {
      await target.close();
    }
  },
};
