/**
 * The `floe verify URI [--config FILE] [--json]` command (bin/floe.ts dispatches here): opens the store
 * read-only (no conditional-write probe, so read-only credentials work), verifies it, prints the report.
 * Exit code: 0 clean, 1 anything broken (or the store cannot be read), 2 usage errors (thrown as
 * INVALID_ARGUMENT, which bin/floe.ts maps to 2).
 */
import type { StoreOptions } from '../api.js';
import { loadConfig } from '../daemon/config.js';
import { FloeError, isFloeError } from '../errors.js';
import { openObjectStore, parseStoreUri } from '../store/open.js';
import { verifyStore } from './verify.js';
import { formatReport } from './verify-report.js';

export interface VerifyCliArgs {
  /** The primary URI; when omitted, the config's `primary`. */
  uri: string | undefined;
  config: string | undefined;
  json: boolean;
}

export async function verifyCommand(args: VerifyCliArgs, out: (text: string) => void): Promise<number> {
  // S3 and HDFS options (endpoint, credentials, user) come from the config when one is given.
  let store: StoreOptions | undefined;
  if (args.config !== undefined) store = loadConfig(args.config).store;
  const uri = args.uri ?? store?.primary;
  if (uri === undefined) throw new FloeError('INVALID_ARGUMENT', 'floe verify needs the URI of a primary store (file:///path, s3://bucket/prefix, hdfs://host:port/path) or --config FILE');
  try {
    parseStoreUri(uri);
  } catch (e) {
    if (isFloeError(e, 'CONFIG')) throw new FloeError('INVALID_ARGUMENT', e.message);
    throw e;
  }
  const opened = await openObjectStore(uri, { s3: store?.s3 ?? {}, hdfs: store?.hdfs ?? {}, skipProbe: true });
  try {
    const report = await verifyStore(opened.store);
    out(args.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
    return report.ok ? 0 : 1;
  } finally {
    await opened.store.close();
  }
}
