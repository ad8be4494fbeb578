/**
 * Extended attributes (and so POSIX ACLs, which Linux keeps as the xattrs
 * `system.posix_acl_access` / `system.posix_acl_default`) of files and folders.
 *
 * Read through `@napi-rs/xattr` (an optional dependency with prebuilt binaries for Linux,
 * macOS and FreeBSD), loaded lazily: where it is absent (Windows has no xattrs, or the
 * install skipped it) push records none and says nothing. The module calls llistxattr /
 * lgetxattr / lsetxattr: a symlink is never followed, and symlinks themselves are not read
 * (Linux allows no user xattrs on them).
 */

/** One extended attribute as a tree node keeps it: its name, its value as base64. */
export interface XattrEntry {
  name: string;
  value: string;
}

export interface XattrModule {
  listAttributesSync(path: string): string[];
  getAttribute(path: string, name: string): Promise<Buffer | null>;
  setAttribute(path: string, name: string, value: Buffer): Promise<void>;
  setAttributeSync(path: string, name: string, value: Uint8Array): void;
}

let loading: Promise<XattrModule | undefined> | undefined;

/** The module, or undefined where it cannot be loaded (loaded once). */
export function xattrModule(): Promise<XattrModule | undefined> {
  loading ??= load();
  return loading;
}

async function load(): Promise<XattrModule | undefined> {
  if (process.platform === 'win32' || process.env.BACKUPCTL_NO_XATTRS === '1') return undefined;
  try {
    const specifier = '@napi-rs/xattr';
    const m = (await import(specifier)) as Partial<XattrModule> & { default?: Partial<XattrModule> };
    const api = typeof m.listAttributesSync === 'function' ? m : m.default;
    if (typeof api?.listAttributesSync !== 'function') return undefined;
    return api as XattrModule;
  } catch {
    return undefined;
  }
}

/**
 * The `xattrs` field of a file's or folder's tree node: nothing when it has none (one
 * llistxattr, a few microseconds), when the module is absent, or when the path is not text
 * (the module takes paths as UTF-8 strings: a lossy copy could name another file).
 * An attribute that vanishes or cannot be read between list and get is left out.
 */
export async function readXattrs(file: string | Buffer): Promise<{ xattrs?: XattrEntry[] }> {
  if (typeof file !== 'string') return {};
  const mod = await xattrModule();
  if (!mod) return {};
  let names: string[];
  try {
    names = mod.listAttributesSync(file);
  } catch {
    return {}; // not supported by this file system, or the entry is gone
  }
  if (names.length === 0) return {};
  const xattrs: XattrEntry[] = [];
  for (const name of [...names].sort()) {
    // A name that is not valid UTF-8 comes back as a lossy copy, which cannot be read.
    if (name.includes('\uFFFD')) continue;
    try {
      const value = await mod.getAttribute(file, name);
      if (value) xattrs.push({ name, value: value.toString('base64') });
    } catch {
      // gone, or not readable for us (e.g. trusted.* as non-root is not even listed)
    }
  }
  return xattrs.length > 0 ? { xattrs } : {};
}
