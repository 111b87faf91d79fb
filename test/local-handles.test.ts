/**
 * FileHandleCache (the local store's open handles): a handle is reused while cached, eviction gives used
 * handles a second chance (CLOCK), `fdIfOpen` serves only open, non-retired handles, and a handle in use by
 * an async read is closed only after that read.
 */
import t from 'tap';
import { mkdtempSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileHandleCache } from '../lib/store/local-handles.js';

function files(t: { teardown(fn: () => void): void }, names: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'floe-handles-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return names.map((n) => {
    const f = join(dir, n);
    writeFileSync(f, n);
    return f;
  });
}

const firstByte = (fd: number): string => {
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, 0);
  return b.toString('latin1');
};

t.test('fdIfOpen: -1 until a handle opened, then its fd; -1 again once invalidated', async (t) => {
  const [a] = files(t, ['a']);
  const cache = new FileHandleCache(4);
  t.equal(cache.fdIfOpen(a!), -1, 'never opened');
  const fd = await cache.with(a!, async (fh) => fh.fd);
  t.equal(cache.fdIfOpen(a!), fd, 'the open handle');
  t.equal(firstByte(cache.fdIfOpen(a!)), 'a', 'reads the file');
  await cache.invalidate(a!);
  t.equal(cache.fdIfOpen(a!), -1, 'invalidated');
  await cache.closeAll();
});

t.test('eviction gives handles used since the last look a second chance', async (t) => {
  const [a, b, c, d] = files(t, ['a', 'b', 'c', 'd']);
  const cache = new FileHandleCache(2);
  await cache.with(a!, async () => undefined);
  await cache.with(b!, async () => undefined);
  // Eviction order is insertion order with second chances: both start "used", so the first overflow clears
  // them and evicts the oldest, a.
  await cache.with(c!, async () => undefined);
  t.equal(cache.fdIfOpen(a!), -1, 'a evicted');
  t.ok(cache.fdIfOpen(b!) >= 0, 'b kept (and now used again)');
  await cache.with(d!, async () => undefined);
  t.equal(cache.fdIfOpen(c!), -1, 'c, not used since the last look, evicted');
  t.ok(cache.fdIfOpen(b!) >= 0 && cache.fdIfOpen(d!) >= 0, 'b (used) and the new handle d kept');
  await cache.closeAll();
});

t.test('a handle evicted while an async read uses it closes only after that read', async (t) => {
  const [a, b] = files(t, ['a', 'b']);
  const cache = new FileHandleCache(1);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const reading = cache.with(a!, async (fh) => {
    await gate;
    const { bytesRead, buffer } = await fh.read(Buffer.alloc(1), 0, 1, 0);
    return buffer.subarray(0, bytesRead).toString('latin1');
  });
  await new Promise((r) => setImmediate(r));
  await cache.with(b!, async () => undefined); // evicts a while in use
  t.equal(cache.fdIfOpen(a!), -1, 'a no longer served to sync readers');
  release();
  t.equal(await reading, 'a', 'the read in progress still completes');
  await cache.closeAll();
});
