import path from 'node:path';
import type { TreeNode } from '../repository/format.js';
import type { Repository } from '../repository/repository.js';
import { PathPatterns } from '../scan/excludes.js';

export interface PlannedEntry {
  /** The backed-up absolute path (for messages and --include). */
  abs: string;
  /** Where it goes: under the target (bytes when a name on the way is not UTF-8). */
  dest: string | Buffer;
  node: TreeNode;
}

export interface RestorePlan {
  files: PlannedEntry[];
  /** Parents before children. */
  dirs: PlannedEntry[];
  links: PlannedEntry[];
  refused: Array<{ path: string; reason: string }>;
}

/** Why a name from a tree cannot be a file name under the target, or undefined when it can. */
export function unsafeName(name: unknown): string | undefined {
  if (typeof name !== 'string' || name === '') return 'an empty name';
  if (name === '.' || name === '..') return `the name ${JSON.stringify(name)}`;
  if (name.includes('/')) return 'a name holding "/"';
  if (name.includes('\0')) return 'a name holding NUL';
  if (process.platform === 'win32' && name.includes('\\')) return 'a name holding "\\"';
  return undefined;
}

function unsafeBytes(raw: Buffer): string | undefined {
  if (raw.length === 0) return 'an empty name';
  if (raw.includes(0x2f)) return 'a name holding "/"';
  if (raw.includes(0)) return 'a name holding NUL';
  const s = raw.toString('latin1');
  if (s === '.' || s === '..') return `the name ${JSON.stringify(s)}`;
  return undefined;
}

/**
 * Walks a snapshot's trees and lists what to restore. Names that could leave the target
 * and second entries of one name in a folder are refused (each named), whatever the
 * snapshot says; the rest is planned.
 */
export async function planRestore(
  repo: Repository,
  rootTree: string,
  target: string,
  include: string[] = [],
): Promise<RestorePlan> {
  // Includes follow the exclude rules (scan/excludes.ts): relative patterns at any depth.
  const includes = new PathPatterns(include);
  const wanted = (abs: string) => includes.empty || includes.matches(abs);
  const plan: RestorePlan = { files: [], dirs: [], links: [], refused: [] };
  const walk = async (
    treeId: string,
    abs: string,
    destDir: string | Buffer,
    included: boolean,
    out: PlannedEntry[],
  ): Promise<boolean> => {
    const tree = await repo.readTree(treeId);
    const seen = new Set<string>();
    let any = false;
    for (const node of tree.nodes) {
      const childAbs = abs === '/' ? `/${node.name}` : `${abs}/${node.name}`;
      const raw = node.nameBytes === undefined ? undefined : Buffer.from(node.nameBytes, 'base64');
      const bad = unsafeName(node.name) ?? (raw ? unsafeBytes(raw) : undefined);
      if (bad) {
        plan.refused.push({
          path: `${abs === '/' ? '' : abs}/${JSON.stringify(node.name)}`,
          reason: `refused: the snapshot gives an entry ${bad}, which could write outside the target`,
        });
        continue;
      }
      if (seen.has(node.name)) {
        plan.refused.push({
          path: childAbs,
          reason: 'refused: a second entry of the same name in one folder',
        });
        continue;
      }
      seen.add(node.name);
      const name = raw ?? node.name;
      const dest =
        typeof destDir === 'string' && typeof name === 'string'
          ? path.join(destDir, name)
          : Buffer.concat([Buffer.from(destDir), Buffer.from(path.sep), Buffer.from(name)]);
      const entry = { abs: childAbs, dest, node };
      const inc = included || wanted(childAbs);
      if (node.type === 'dir') {
        const below: PlannedEntry[] = [];
        const some = node.subtree ? await walk(node.subtree, childAbs, dest, inc, below) : false;
        if (some || inc) {
          out.push(entry, ...below);
          any = true;
        }
      } else if (inc) {
        out.push(entry);
        any = true;
      }
    }
    return any;
  };
  const entries: PlannedEntry[] = [];
  await walk(rootTree, '/', target, false, entries);
  for (const e of entries) {
    if (e.node.type === 'dir') plan.dirs.push(e);
    else if (e.node.type === 'file') plan.files.push(e);
    else if (e.node.type === 'symlink') plan.links.push(e);
    else
      plan.refused.push({
        path: e.abs,
        reason: `refused: unknown entry type ${JSON.stringify(e.node.type)}`,
      });
  }
  return plan;
}
