/** A check of the simulator failed: the engine broke a promise (or the simulator has a bug). */
export class Violation extends Error {
  constructor(
    /** Stable name of what was broken (e.g. 'lost-durable', 'hang'); known-bug lists refer to it. */
    readonly kind: string,
    message: string,
  ) {
    super(message);
  }
}
