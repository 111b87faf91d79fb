/**
 * The simulated local disk: an in-memory `LocalFs` for everything the engine does under localDir (lock
 * files, tidying, the disk cache), so the deterministic world touches no real files. Allocation is counted
 * as a filesystem would: 4 KiB blocks that were written (files are sparse; truncating releases the blocks
 * past the new end). Contents survive a process crash (the OS keeps them); a crashed process does no more
 * I/O through its view.
 */
import { FloeError } from '../../lib/errors.js';
import type { LocalEntry, LocalFile, LocalFs, LocalOpenMode } from '../../lib/store/local-file.js';

const BLOCK = 4096;

interface SimFileData {
  bytes: Uint8Array;
  size: number;
  blocks: Set<number>;
}

export class SimDisk implements LocalFs {
  private readonly files = new Map<string, SimFileData>();
  private readonly dirs = new Set<string>(['/']);

  /**
   * @param alive false once the process using this view crashed: a dead process does no more I/O (its
   * dropped disk cache must not write into a folder the next process opened).
   */
  constructor(private readonly alive: () => boolean = () => true) {}

  /** The same disk, as seen by a process that may crash. */
  viewFor(alive: () => boolean): LocalFs {
    const view = Object.create(this) as SimDisk;
    (view as unknown as { alive: () => boolean }).alive = alive;
    return view;
  }

  private check(what: string, path: string): void {
    if (!this.alive()) throw new FloeError('IO', `cannot ${what} ${path}: the process crashed (simulated)`, { path });
  }

  async open(path: string, mode: LocalOpenMode): Promise<LocalFile> {
    this.check('open', path);
    const parent = path.slice(0, path.lastIndexOf('/')) || '/';
    if (!this.dirs.has(parent)) throw new FloeError('IO', `cannot open ${path}: ENOENT (no folder ${parent})`, { path });
    let f = this.files.get(path);
    if (f === undefined || mode === 'truncate') {
      f = { bytes: new Uint8Array(0), size: 0, blocks: new Set() };
      this.files.set(path, f);
    }
    return new SimFile(path, () => this.files.get(path), this.alive);
  }

  async readFile(path: string): Promise<Uint8Array | undefined> {
    this.check('read', path);
    const f = this.files.get(path);
    return f === undefined ? undefined : f.bytes.slice(0, f.size);
  }

  async rename(from: string, to: string): Promise<void> {
    this.check('rename', from);
    const f = this.files.get(from);
    if (f === undefined) throw new FloeError('IO', `cannot rename ${from}: ENOENT`, { path: from });
    this.files.delete(from);
    this.files.set(to, f);
  }

  async remove(path: string): Promise<void> {
    this.check('remove', path);
    const prefix = path.endsWith('/') ? path : path + '/';
    this.files.delete(path);
    for (const p of [...this.files.keys()]) if (p.startsWith(prefix)) this.files.delete(p);
    for (const d of [...this.dirs]) if (d === path || d.startsWith(prefix)) this.dirs.delete(d);
  }

  async mkdirp(path: string): Promise<void> {
    this.check('mkdir', path);
    const parts = path.split('/').filter((p) => p !== '');
    for (let i = 1; i <= parts.length; i++) this.dirs.add('/' + parts.slice(0, i).join('/'));
  }

  async isDirectory(path: string): Promise<boolean> {
    return this.dirs.has(path);
  }

  async linkExclusive(from: string, to: string): Promise<boolean> {
    this.check('link', to);
    const f = this.files.get(from);
    if (f === undefined) throw new FloeError('IO', `cannot link ${from}: ENOENT`, { path: from });
    if (this.files.has(to) || this.dirs.has(to)) return false;
    this.files.set(to, f);
    return true;
  }

  async list(path: string): Promise<LocalEntry[] | undefined> {
    this.check('list', path);
    if (!this.dirs.has(path)) return undefined;
    const prefix = path === '/' ? '/' : path + '/';
    const out = new Map<string, LocalEntry>();
    for (const [p, f] of this.files) {
      if (!p.startsWith(prefix) || p.slice(prefix.length).includes('/')) continue;
      out.set(p.slice(prefix.length), { name: p.slice(prefix.length), kind: 'file', size: f.size, allocated: f.blocks.size * BLOCK });
    }
    for (const d of this.dirs) {
      if (!d.startsWith(prefix) || d === path || d.slice(prefix.length).includes('/')) continue;
      out.set(d.slice(prefix.length), { name: d.slice(prefix.length), kind: 'folder', size: 0, allocated: 0 });
    }
    return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}

class SimFile implements LocalFile {
  private closed = false;

  constructor(
    readonly path: string,
    private readonly data: () => SimFileData | undefined,
    private readonly alive: () => boolean,
  ) {}

  private file(what: string): SimFileData {
    if (!this.alive()) throw new FloeError('IO', `cannot ${what} ${this.path}: the process crashed (simulated)`, { path: this.path });
    if (this.closed) throw new FloeError('IO', `cannot ${what} ${this.path}: the file is closed`, { path: this.path });
    // A removed file stays readable and writable through an open handle, as on POSIX; it just has no name.
    return (this.orphan ??= this.data()) ?? { bytes: new Uint8Array(0), size: 0, blocks: new Set() };
  }

  private orphan: SimFileData | undefined;

  async read(position: number, length: number): Promise<Uint8Array> {
    const f = this.file('read');
    const end = Math.min(f.size, position + length);
    if (position >= end) return new Uint8Array(0);
    // Bytes past what was ever written (a sparse hole) read as zeros.
    const out = new Uint8Array(end - position);
    out.set(f.bytes.subarray(position, Math.min(end, f.bytes.length)));
    return out;
  }

  async write(position: number, bytes: Uint8Array): Promise<void> {
    const f = this.file('write');
    const end = position + bytes.length;
    if (end > f.bytes.length) {
      const grown = new Uint8Array(Math.max(end, f.bytes.length * 2));
      grown.set(f.bytes.subarray(0, Math.min(f.size, f.bytes.length)));
      f.bytes = grown;
    }
    f.bytes.set(bytes, position);
    f.size = Math.max(f.size, end);
    for (let b = Math.floor(position / BLOCK); b * BLOCK < end; b++) f.blocks.add(b);
  }

  async sync(): Promise<void> {
    this.file('fsync');
  }

  async truncate(size: number): Promise<void> {
    const f = this.file('truncate');
    if (size < f.size) {
      f.bytes.fill(0, Math.min(size, f.bytes.length), Math.min(f.size, f.bytes.length));
      for (const b of [...f.blocks]) if (b * BLOCK >= size) f.blocks.delete(b);
    }
    f.size = size;
  }

  async size(): Promise<number> {
    return this.file('stat').size;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
