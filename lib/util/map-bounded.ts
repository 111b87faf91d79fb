/**
 * Maps `items` through `fn` with at most `limit` calls in flight, keeping order. For fan-outs whose size the
 * data decides (files in a folder, segments of a log): unbounded, they run out of file descriptors or
 * sockets. PROMISES: rejects with the first failure (calls already started still run to their end).
 */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
