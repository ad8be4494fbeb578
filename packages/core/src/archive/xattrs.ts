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
  removeAttribute?(path: string, name: string): Promise<void>;
}

import { createRequire } from 'node:module';

let loading: Promise<XattrModule | undefined> | undefined;
let loadedSync: { mod: XattrModule | undefined } | undefined;

/**
 * The module, loaded synchronously (it is CommonJS): for the walk, which lists each entry's
 * names without a promise per entry, and for the chunk workers. Undefined where absent.
 */
export function xattrModuleSync(): XattrModule | undefined {
  loadedSync ??= { mod: loadSync() };
  return loadedSync.mod;
}

function loadSync(): XattrModule | undefined {
  if (process.platform === 'win32' || process.env.BACKUPCTL_NO_XATTRS === '1') return undefined;
  try {
    const m = createRequire(import.meta.url)('@napi-rs/xattr') as Partial<XattrModule> & {
      default?: Partial<XattrModule>;
    };
    const api = typeof m.listAttributesSync === 'function' ? m : m.default;
    if (typeof api?.listAttributesSync !== 'function') return undefined;
    return api as XattrModule;
  } catch {
    return undefined;
  }
}

/**
 * An entry's attribute names (one llistxattr), or undefined when not known: no module, a
 * path that is not text (the module takes UTF-8 strings: a lossy copy could name another
 * file), or a file system that does not support them / an entry that is gone.
 */
export function listXattrs(mod: XattrModule | undefined, file: string | Buffer): string[] | undefined {
  if (!mod || typeof file !== 'string') return undefined;
  try {
    return mod.listAttributesSync(file);
  } catch {
    return undefined;
  }
}

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
  const names = listXattrs(mod, file);
  if (!names || names.length === 0) return {};
  return xattrValues(mod!, file as string, names);
}

/** The `xattrs` field for the attribute names `listXattrs` gave (not empty). */
export async function xattrValues(
  mod: XattrModule,
  file: string,
  names: string[],
): Promise<{ xattrs?: XattrEntry[] }> {
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
