/**
 * An ObjectStore that behaves like `inner` except for the methods given (tests that intercept, delay or
 * fail some calls). Every other property and method is the inner store's, bound to it.
 */
import type { ObjectStore } from '../../lib/store/object-store.js';

export function overrideStore(inner: ObjectStore, overrides: Partial<Pick<ObjectStore, 'get' | 'put' | 'putStream' | 'head' | 'list' | 'delete'>>): ObjectStore {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const own = (overrides as Record<string | symbol, unknown>)[prop];
      if (own !== undefined) return own;
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
