/**
 * Writes the golden SST files of the current format version (test/golden/sst-v<version>-*.sst) from
 * test/support/sst-golden-input.ts (files of older versions are kept as they were written).
 * Run from the repository root after building: `node dist/test/support/make-golden.js`.
 * Only for a deliberate format change: the golden test fails on any byte difference so that such a change
 * cannot happen by accident.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { GOLDEN_VARIANTS, buildGolden, goldenPath } from './sst-golden-input.js';

for (const compression of GOLDEN_VARIANTS) {
  const { bytes, info } = buildGolden(compression);
  const path = goldenPath(compression);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
  process.stdout.write(`${path}: ${bytes.length} bytes, metaOffset ${info.metaOffset}, ${info.entries} entries\n`);
}
