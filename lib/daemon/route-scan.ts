/**
 * Scans through the router: a client cursor spans one shard (a scan with keyGroup) or every shard of the
 * store, in shard order (so entries come in (keyGroup, key) order). Every part is opened at once, so each
 * shard's snapshot is taken at the same point of its order; pages are fetched one part at a time and the
 * scan's limit applies across parts.
 *
 * Cursors belong to a session (one connection): `ScanCursors` is that session's table.
 */
import { FloeError } from '../errors.js';
import { ERROR_OP, errorPayload, InternalOp, MAX_CURSORS, Op, readScanPayload, RESPONSE_BIT } from '../protocol/protocol.js';
import { readU32, Reader, Writer } from '../protocol/wire.js';
import type { StoreRoute } from './route-keyed.js';
import { EMPTY, type Answer, type Reply, type ShardBus, type Target } from './shard-bus.js';

interface CursorPart {
  target: Target;
  workerCursor: number;
  done: boolean;
}

interface Cursor {
  id: number;
  parts: CursorPart[];
  at: number;
  remaining: number;
  pageBytes: number;
  busy: boolean;
  closed: boolean;
}

/** A finished page with no entries: cursor 0, done, count 0. */
const EMPTY_PAGE = Uint8Array.of(0, 0, 0, 0, 1, 0, 0, 0, 0);

/** One session's open scans. `closed` sessions take no new cursors. */
export class ScanCursors {
  private readonly cursors = new Map<number, Cursor>();
  private nextCursor = 1;
  closed = false;

  constructor(private readonly bus: ShardBus) {}

  get size(): number {
    return this.cursors.size;
  }

  open(route: StoreRoute, payload: Uint8Array, reply: Answer): void {
    const scan = readScanPayload(new Reader(payload, 0, payload.length, 'SCAN payload'));
    if (this.cursors.size >= MAX_CURSORS) {
      throw new FloeError('BUSY', `this connection has ${MAX_CURSORS} open scans; finish or close some (break out of the loop) before starting more`, { retryable: true });
    }
    // A SCAN's keyGroup is always explicit: 0xFFFF is not "default" here (resolveGroup would hash it).
    if (scan.keyGroup !== undefined && scan.keyGroup >= route.maxKeyGroups) {
      throw new FloeError('INVALID_ARGUMENT', `scan(): keyGroup must be an integer in [0, ${route.maxKeyGroups}), got ${scan.keyGroup}; omit it to scan every key group`);
    }
    const targets = scan.keyGroup !== undefined ? [route.targets[route.targetOf(scan.keyGroup, 'scan(): ')]!] : route.targets;
    const cursor: Cursor = {
      id: 0,
      parts: targets.map((target) => ({ target, workerCursor: this.bus.nextCursorId(), done: false })),
      at: 0,
      remaining: scan.limit ?? Number.POSITIVE_INFINITY,
      pageBytes: scan.pageBytes,
      busy: true,
      closed: false,
    };
    if (cursor.remaining === 0) {
      reply(Op.SCAN | RESPONSE_BIT, EMPTY_PAGE);
      return;
    }
    this.openParts(cursor, payload, reply);
  }

  /**
   * Opens on every target shard now, so each snapshot is taken at this point of its shard's order; only
   * the first returns data (the others' first page is fetched when the scan reaches them).
   */
  private openParts(cursor: Cursor, payload: Uint8Array, reply: Answer): void {
    let left = cursor.parts.length;
    let firstPage: Uint8Array | undefined;
    let failure: Uint8Array | undefined;
    const opened: CursorPart[] = [];
    cursor.parts.forEach((part, i) => {
      const onOpened: Reply = (op, p) => {
        if (op === ERROR_OP) failure ??= p.slice();
        else {
          opened.push(part);
          if (i === 0) firstPage = p;
          else if (p[0] === 1) part.done = true;
        }
        if (--left > 0) return;
        cursor.busy = false;
        if (failure !== undefined) {
          for (const o of opened) this.closePart(o);
          return reply(ERROR_OP, failure);
        }
        if (this.closed) {
          for (const o of opened) this.closePart(o);
          return reply(ERROR_OP, errorPayload(new FloeError('CLOSED', 'the session closed during the scan')));
        }
        cursor.id = this.nextCursor;
        this.nextCursor = (this.nextCursor + 1) >>> 0 || 1;
        this.cursors.set(cursor.id, cursor);
        this.deliverPage(cursor, firstPage!, Op.SCAN, reply);
      };
      const encode = (w: Writer): void => {
        w.u32(part.workerCursor);
        w.u32(i === 0 ? cursor.pageBytes : 0);
        w.raw(payload);
      };
      this.bus.send(part.target, InternalOp.SHARD_SCAN_OPEN, encode, onOpened);
    });
  }

  next(payload: Uint8Array, reply: Answer): void {
    const r = new Reader(payload, 0, payload.length, 'SCAN_NEXT payload');
    const id = r.u32();
    r.done();
    const cursor = this.cursors.get(id);
    if (cursor === undefined) throw new FloeError('INVALID_ARGUMENT', `unknown scan cursor ${id}: it finished, was closed, or belongs to another connection`);
    if (cursor.busy) throw new FloeError('INVALID_ARGUMENT', `scan cursor ${id} is still producing the previous page; wait for it before asking for the next`);
    this.fetchPage(cursor, Op.SCAN_NEXT, reply);
  }

  close(payload: Uint8Array, reply: Answer): void {
    const r = new Reader(payload, 0, payload.length, 'SCAN_CLOSE payload');
    const id = r.u32();
    r.done();
    const cursor = this.cursors.get(id);
    if (cursor !== undefined) {
      this.cursors.delete(id);
      this.closeCursor(cursor);
    }
    reply(Op.SCAN_CLOSE | RESPONSE_BIT, EMPTY);
  }

  /** Closes every open cursor (releasing the shards' snapshots); later opens fail with CLOSED. */
  closeAll(): void {
    this.closed = true;
    this.closeCursors();
  }

  /** Closes every open cursor; the session stays usable (a change of binding). */
  closeCursors(): void {
    for (const c of this.cursors.values()) this.closeCursor(c);
    this.cursors.clear();
  }

  private fetchPage(cursor: Cursor, op: number, reply: Answer): void {
    const part = cursor.parts[cursor.at]!;
    cursor.busy = true;
    const onPage: Reply = (rop, p) => {
      cursor.busy = false;
      if (rop === ERROR_OP) {
        this.cursors.delete(cursor.id);
        this.closeCursor(cursor);
        return reply(ERROR_OP, p);
      }
      if (cursor.closed) {
        if (p[0] !== 1) this.closePart(part);
        else part.done = true;
        return reply(ERROR_OP, errorPayload(new FloeError('INVALID_ARGUMENT', `scan cursor ${cursor.id} was closed`)));
      }
      this.deliverPage(cursor, p, op, reply);
    };
    const encode = (w: Writer): void => {
      w.u32(part.workerCursor);
      w.u32(cursor.pageBytes);
    };
    this.bus.send(part.target, InternalOp.SHARD_SCAN_NEXT, encode, onPage);
  }

  /**
   * Turns a shard page (u8 done, u32 count, entries) into a client page (u32 cursor, u8 done, u32 count,
   * entries), applying the scan's limit across shards and moving on to the next shard when one is done.
   */
  private deliverPage(cursor: Cursor, page: Uint8Array, op: number, reply: Answer): void {
    const part = cursor.parts[cursor.at]!;
    if (page[0] === 1) part.done = true;
    let count = readU32(page, 1);
    let end = page.length;
    if (count > cursor.remaining) {
      count = cursor.remaining;
      end = entriesEnd(page, count);
    }
    cursor.remaining -= count;
    while (cursor.at < cursor.parts.length && cursor.parts[cursor.at]!.done) cursor.at++;
    const done = cursor.remaining <= 0 || cursor.at >= cursor.parts.length;
    if (done) {
      this.cursors.delete(cursor.id);
      this.closeCursor(cursor);
    } else if (count === 0) {
      // Nothing to show yet (a shard was empty): keep going instead of sending an empty page.
      this.fetchPage(cursor, op, reply);
      return;
    }
    const w = new Writer(9 + end);
    w.u32(done ? 0 : cursor.id);
    w.u8(done ? 1 : 0);
    w.u32(count);
    w.raw(page.subarray(5, end));
    reply(op | RESPONSE_BIT, w.view());
  }

  /** Releases the shard cursors of a scan (a part whose page is in flight is closed when the page lands). */
  private closeCursor(cursor: Cursor): void {
    if (cursor.closed) return;
    cursor.closed = true;
    cursor.parts.forEach((part, i) => {
      if (part.done || (cursor.busy && i === cursor.at)) return;
      this.closePart(part);
    });
  }

  private closePart(part: CursorPart): void {
    if (part.done || part.target.shard.dead !== undefined || part.target.gone !== undefined || this.bus.closed) return;
    part.done = true;
    this.bus.send(part.target, InternalOp.SHARD_SCAN_CLOSE, (w) => w.u32(part.workerCursor), () => undefined);
  }
}

/** Byte offset just past the first `count` entries of a shard page (u8 done, u32 count, entries...). */
function entriesEnd(page: Uint8Array, count: number): number {
  let at = 5;
  for (let i = 0; i < count; i++) {
    at += 2;
    at += 4 + readU32(page, at);
    at += 4 + readU32(page, at);
  }
  return at;
}
