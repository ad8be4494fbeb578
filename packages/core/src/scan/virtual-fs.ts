import { promises as fs } from 'node:fs';

/**
 * Kernel file systems that hold no user data and whose files never end or block on read
 * (`/proc/kmsg`), answer with different bytes every time, or recurse without end: proc,
 * sysfs and friends. A push skips them like sockets and devices — it never reads them.
 * Values are the `f_type` magic numbers of statfs(2) (linux/magic.h).
 */
const VIRTUAL_FS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x6165676c, 'pstore'],
  [0xcafe4a11, 'bpf'],
  [0x62656570, 'configfs'],
  [0x65735543, 'fusectl'],
  [0x42494e4d, 'binfmt_misc'],
  [0xf97cff8c, 'selinuxfs'],
  [0x67596969, 'rpc_pipefs'],
  [0x2bad1dea, 'inotifyfs'],
  [0x958458f6, 'hugetlbfs'],
  [0x19800202, 'mqueue'],
]);

/** Remembers, per device number, which virtual file system (if any) it is: one statfs each. */
export class VirtualFsDetector {
  private readonly byDevice = new Map<bigint, Promise<string | undefined>>();
  /** The same, once known: what the walk asks without waiting. */
  private readonly known = new Map<bigint, string | undefined>();

  /** The name of the virtual file system `file` lives on, or undefined for a real one. */
  kindOf(file: string, dev: bigint): Promise<string | undefined> {
    let kind = this.byDevice.get(dev);
    if (!kind) {
      kind = virtualFsOf(file);
      this.byDevice.set(dev, kind);
      void kind.then((name) => this.known.set(dev, name));
    }
    return kind;
  }

  /** As `kindOf`, at once for a device seen before (every entry but the first of each). */
  kindOfNow(file: string, dev: bigint): string | undefined | Promise<string | undefined> {
    if (this.known.has(dev)) return this.known.get(dev);
    return this.kindOf(file, dev);
  }
}

export async function virtualFsOf(file: string): Promise<string | undefined> {
  if (process.platform !== 'linux') return undefined;
  try {
    const { type } = await fs.statfs(file);
    return VIRTUAL_FS.get(Number(type) >>> 0);
  } catch {
    return undefined;
  }
}
