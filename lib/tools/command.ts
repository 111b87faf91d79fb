/**
 * A small frame for `floe` subcommands (bin/floe.ts dispatches here): each command declares its flags once,
 * and that one declaration drives both parsing (node:util parseArgs, strict: an unknown flag is an error)
 * and `floe <command> --help`, so the help always lists exactly the flags the command accepts.
 *
 * Errors: bad input is a FloeError INVALID_ARGUMENT whose message ends with where to look (`--help`);
 * bin/floe.ts prints `floe: CODE: message` and exits 2 for INVALID_ARGUMENT, 1 otherwise.
 */
import { parseArgs } from 'node:util';
import { FloeError } from '../errors.js';

export interface Flag {
  name: string;
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder of the value in the help (string flags). */
  arg?: string;
  help: string;
}

/** Where a command writes: stdout (text or raw bytes) and stderr, and whether stderr is a terminal. */
export interface CliIo {
  out(text: string | Uint8Array): void;
  err(text: string): void;
  errIsTTY: boolean;
}

export type FlagValues = Record<string, string | boolean | undefined>;

export interface CommandSpec {
  /** As typed after `floe`, e.g. `get` or `sst dump`. */
  name: string;
  /** Positional arguments in the usage line, e.g. `KEY [VALUE]`. */
  args: string;
  summary: string;
  /** Lines after the flags (what the output looks like, exit codes). */
  notes?: string[];
  flags: Flag[];
  minArgs: number;
  maxArgs: number;
  run(values: FlagValues, args: string[], io: CliIo): Promise<number>;
}

export const HELP_FLAG: Flag = { name: 'help', type: 'boolean', short: 'h', help: 'print this help and exit' };

export function helpText(spec: CommandSpec): string {
  const flags = [...spec.flags, HELP_FLAG];
  const left = flags.map((f) => `  ${f.short ? `-${f.short}, ` : '    '}--${f.name}${f.type === 'string' ? ` ${f.arg ?? 'VALUE'}` : ''}`);
  const width = Math.max(...left.map((l) => l.length)) + 2;
  const lines = [`usage: floe ${spec.name}${spec.args ? ` ${spec.args}` : ''} [flags]`, '', spec.summary, '', 'flags:'];
  flags.forEach((f, i) => {
    lines.push(left[i]!.padEnd(width) + f.help);
  });
  if (spec.notes && spec.notes.length > 0) lines.push('', ...spec.notes);
  return `${lines.join('\n')}\n`;
}

/** Parses `argv` (the words after the command name) against the spec and runs it; `--help` prints the help. */
export async function runCommand(spec: CommandSpec, argv: string[], io: CliIo): Promise<number> {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const f of [...spec.flags, HELP_FLAG]) options[f.name] = { type: f.type, ...(f.short ? { short: f.short } : {}) };
  let parsed: { values: FlagValues; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true }) as { values: FlagValues; positionals: string[] };
  } catch (e) {
    throw usage(spec, (e as Error).message);
  }
  if (parsed.values.help === true) {
    io.out(helpText(spec));
    return 0;
  }
  const n = parsed.positionals.length;
  if (n < spec.minArgs || n > spec.maxArgs) {
    throw usage(spec, `floe ${spec.name} takes ${spec.args || 'no arguments'}, got ${n === 0 ? 'none' : JSON.stringify(parsed.positionals)}`);
  }
  return spec.run(parsed.values, parsed.positionals, io);
}

export function usage(spec: CommandSpec | string, message: string): FloeError {
  const name = typeof spec === 'string' ? spec : spec.name;
  return new FloeError('INVALID_ARGUMENT', `${message}; see floe ${name} --help`);
}

/** A non-negative integer flag (undefined when absent). */
export function intFlag(spec: CommandSpec, values: FlagValues, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw usage(spec, `--${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  return n;
}

/** A positive number flag (undefined when absent). */
export function numberFlag(spec: CommandSpec, values: FlagValues, name: string, min: number, max: number): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw usage(spec, `--${name} must be a number in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  return n;
}

export function stringFlag(values: FlagValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}
