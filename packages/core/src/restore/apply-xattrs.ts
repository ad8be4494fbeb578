import { type XattrModule, xattrModule } from '../archive/xattrs.js';
import type { TreeNode } from '../repository/format.js';
import type { FsPath } from './safe-fs.js';

/**
 * Sets the extended attributes (POSIX ACLs included) a tree node keeps on the entry restore
 * made for it. Called after the contents are written and the owner set, before the mode:
 * a read-only mode would forbid it, and a chown clears `security.capability`.
 *
 * The path given is one restore created or checked with lstat (restore/safe-fs.ts), and the
 * module calls lsetxattr: the last component is never followed, so a symlink put there is
 * not written through. Nothing here fails a restore: an attribute that cannot be set
 * (`trusted.*` / `security.*` as non-root, a file system without xattrs, no module on this
 * platform) becomes one warning per kind of failure, with the number of entries.
 */
export class XattrApplier {
  private readonly problems = new Map<string, { entries: number; message: (n: number) => string }>();

  private constructor(private readonly mod: XattrModule | undefined) {}

  static async create(): Promise<XattrApplier> {
    return new XattrApplier(await xattrModule());
  }

  /** Sets `node.xattrs` on `path`; never throws. */
  async apply(path: FsPath, node: TreeNode): Promise<void> {
    this.applySync(path, node);
  }

  /** The same, synchronously (restore's small-file fast path); never throws. */
  applySync(path: FsPath, node: TreeNode): void {
    const list = node.xattrs;
    if (list === undefined) return;
    if (!Array.isArray(list) || !list.every(isEntry)) {
      this.note(
        'shape',
        () => 'a tree lists extended attributes in a shape restore does not know: they were left out',
      );
      return;
    }
    if (list.length === 0) return;
    if (!this.mod) {
      this.note(
        'module',
        (n) =>
          `the snapshot has extended attributes (xattrs/ACLs) on ${n} entries, which cannot be restored here (${process.platform === 'win32' ? 'Windows has no extended attributes' : 'the optional module @napi-rs/xattr is not installed'}): contents, modes and times were restored`,
      );
      return;
    }
    if (typeof path !== 'string') {
      this.note(
        'bytes-path',
        (n) => `extended attributes of ${n} entries whose path is not valid UTF-8 were not restored`,
      );
      return;
    }
    const failedHere = new Set<string>();
    for (const { name, value } of list) {
      try {
        this.mod.setAttributeSync(path, name, Buffer.from(value, 'base64'));
      } catch (error) {
        const kind = classify(name, error);
        if (failedHere.has(kind.key)) continue;
        failedHere.add(kind.key);
        this.note(kind.key, kind.message);
      }
    }
  }

  /** One line per kind of failure, with the number of entries it hit. */
  warnings(): string[] {
    return [...this.problems.values()].map((p) => p.message(p.entries));
  }

  private note(key: string, message: (n: number) => string): void {
    const problem = this.problems.get(key);
    if (problem) problem.entries++;
    else this.problems.set(key, { entries: 1, message });
  }
}

function isEntry(e: unknown): e is { name: string; value: string } {
  const x = e as { name?: unknown; value?: unknown } | null;
  return (
    typeof x?.name === 'string' && x.name !== '' && !x.name.includes('\0') && typeof x.value === 'string'
  );
}

/** The module's errors carry only "… (os error N)": the errno is read from there. */
function classify(name: string, error: unknown): { key: string; message: (n: number) => string } {
  const text = error instanceof Error ? error.message : String(error);
  const errno = Number(/\(os error (\d+)\)/.exec(text)?.[1] ?? Number.NaN);
  const dot = name.indexOf('.');
  const namespace = dot > 0 ? name.slice(0, dot) : name;
  const what = namespace === 'system' ? `\`${name}\` (ACLs)` : `\`${namespace}.*\` extended attributes`;
  if (errno === 1 || errno === 13) {
    const why =
      namespace === 'trusted' || namespace === 'security' ? 'setting them needs root' : 'permission denied';
    return { key: `perm:${namespace}`, message: (n) => `${what} were not restored on ${n} entries: ${why}` };
  }
  if (errno === 95 || errno === 61) {
    return {
      key: `unsupported:${namespace}`,
      message: (n) =>
        `${what} were not restored on ${n} entries: the target's file system does not support them`,
    };
  }
  if (errno === 28 || errno === 7 || errno === 34) {
    return {
      key: `space:${namespace}`,
      message: (n) =>
        `${what} were not restored on ${n} entries: no room for them on the target's file system (${text})`,
    };
  }
  return {
    key: `other:${namespace}:${text}`,
    message: (n) => `${what} were not restored on ${n} entries: ${text}`,
  };
}
