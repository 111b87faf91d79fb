/**
 * `floe/level` (package.json "exports"): the abstract-level database on Floe. See docs/level.md.
 */
export { FloeLevel, FloeLevelSnapshot, type FloeLevelOptions } from './floe-level.js';
export { FloeLevelIterator } from './level-iterator.js';
export { TAG as LEVEL_KEY_TAG } from './keyspace.js';
