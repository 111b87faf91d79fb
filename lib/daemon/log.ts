/**
 * Structured logs of the daemon: one JSON object per line on stderr, `{ ts, level, event, ...fields }`.
 * Events are short snake_case names (`listening`, `connection_closed`, `shard_crashed`, ...); fields carry
 * the details. FloeErrors serialise through their `toJSON()` (code, message, retryable, path).
 */
import type { LogFn } from './router.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export interface LineSink {
  write(line: string): unknown;
}

/** A LogFn that drops events below `level` and writes the rest as JSON lines to `sink` (default stderr). */
export function jsonLogger(level: LogLevel, sink: LineSink = process.stderr, now: () => number = Date.now): LogFn {
  const min = LOG_LEVELS.indexOf(level);
  return (lvl, event, fields = {}) => {
    if (LOG_LEVELS.indexOf(lvl) < min) return;
    let line: string;
    try {
      line = JSON.stringify({ ts: new Date(now()).toISOString(), level: lvl, event, ...fields });
    } catch {
      line = JSON.stringify({ ts: new Date(now()).toISOString(), level: lvl, event, note: 'fields were not serialisable' });
    }
    sink.write(line + '\n');
  };
}
