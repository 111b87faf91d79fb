/** Flag values shared by the data commands (get, put, del, scan): the key group and the byte encoding. */
import { type CommandSpec, type FlagValues, intFlag } from './command.js';

/** --key-group N: an integer in [0, 32767] (the store checks it against its maxKeyGroups). */
export function keyGroupFlag(spec: CommandSpec, values: FlagValues): number | undefined {
  return intFlag(spec, values, 'key-group', 0, 32767);
}

export function hexFlag(values: FlagValues): boolean {
  return values.hex === true;
}
