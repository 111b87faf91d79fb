/** Disk use of a folder tree, as tests of disk budgets measure it. */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Sum of file sizes and sum of allocated blocks (st_blocks × 512) of every file under `dir`, recursively; zeros if missing. */
export function diskUse(dir: string): { size: number; allocated: number } {
  let size = 0;
  let allocated = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return { size, allocated };
  }
  for (const name of names) {
    const p = join(dir, name);
    let st;
    try {
      st = statSync(p);
    } catch {
      continue; // removed while we walked
    }
    if (st.isDirectory()) {
      const sub = diskUse(p);
      size += sub.size;
      allocated += sub.allocated;
    } else {
      size += st.size;
      allocated += st.blocks * 512;
    }
  }
  return { size, allocated };
}
