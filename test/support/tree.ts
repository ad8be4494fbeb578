import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** A folder with the edge cases restore must reproduce bit for bit. */
export async function makeEdgeCaseTree(root: string): Promise<void> {
  const file = async (rel: string, data: Buffer | string, mode = 0o644, mtime?: number) => {
    const p = path.join(root, rel);
    await fs.mkdir(path.dirname(p), { recursive: true });
    await fs.writeFile(p, data);
    await fs.chmod(p, mode);
    if (mtime !== undefined) await fs.utimes(p, mtime, mtime);
  };
  await file('docs/readme.txt', 'hello\n', 0o644, 1_600_000_000.123456);
  await file('docs/empty', '', 0o600, 1_500_000_000);
  await file('docs/name with spaces.txt', 'spaces');
  await file('docs/ünïcødé-日本語.txt', 'unicode');
  await file('docs/new\nline', 'newline in name');
  await file('bin/tool.sh', '#!/bin/sh\necho hi\n', 0o755);
  await file('data/random.bin', randomBytes(3 * 1024 * 1024 + 17));
  await file('data/zeros.bin', Buffer.alloc(700_000));
  await file('data/copy-of-random.bin', await fs.readFile(path.join(root, 'data/random.bin')));
  await fs.mkdir(path.join(root, 'empty-dir'), { recursive: true });
  await fs.mkdir(path.join(root, 'private'), { recursive: true });
  await file('private/secret.txt', 'secret', 0o600);
  await fs.chmod(path.join(root, 'private'), 0o700);
  await fs.symlink('docs/readme.txt', path.join(root, 'link-to-readme'));
  await fs.symlink('/nonexistent/target', path.join(root, 'dangling-link'));
  await fs.lutimes(path.join(root, 'dangling-link'), 1_400_000_000, 1_400_000_000);
  await fs.utimes(path.join(root, 'empty-dir'), 1_300_000_000.5, 1_300_000_000.5);
}

export interface Entry {
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  mtimeMs: number;
  size?: number;
  sha256?: string;
  target?: string;
}

/** Everything restore promises to keep, keyed by path relative to `root`. */
export async function describeTree(root: string): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  const walk = async (dir: string, rel: string) => {
    for (const name of (await fs.readdir(dir)).sort()) {
      const p = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await fs.lstat(p);
      const base = { mode: st.mode & 0o7777, mtimeMs: Math.round(st.mtimeMs) };
      if (st.isSymbolicLink())
        out.set(r, { type: 'symlink', ...base, mode: 0, target: await fs.readlink(p) });
      else if (st.isDirectory()) {
        out.set(r, { type: 'dir', ...base });
        await walk(p, r);
      } else {
        const data = await fs.readFile(p);
        out.set(r, {
          type: 'file',
          ...base,
          size: data.length,
          sha256: createHash('sha256').update(data).digest('hex'),
        });
      }
    }
  };
  await walk(root, '');
  return out;
}
