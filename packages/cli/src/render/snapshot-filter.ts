import path from 'node:path';
import type { SnapshotFilter } from '@backupctl/core';
import { Flags } from '@oclif/core';

/** --host, --tag, --path: the same snapshot filter on every command that lists snapshots. */
export const filterFlags = {
  host: Flags.string({
    description: 'Only snapshots of this host (repeatable).',
    multiple: true,
    multipleNonGreedy: true,
    default: [],
  }),
  tag: Flags.string({
    description: 'Only snapshots with these tags (comma-separated: all of them; repeatable: any).',
    multiple: true,
    multipleNonGreedy: true,
    default: [],
  }),
  path: Flags.string({
    description: 'Only snapshots that include this backed-up path (repeatable: all of them).',
    multiple: true,
    multipleNonGreedy: true,
    default: [],
  }),
};

export function snapshotFilter(flags: { host: string[]; tag: string[]; path: string[] }): SnapshotFilter {
  return {
    hosts: flags.host,
    tags: flags.tag.map((t) => t.split(',').filter(Boolean)),
    paths: flags.path.map((p) => path.resolve(p)),
  };
}
