#!/usr/bin/env node
// The README's first command: a whole backup cycle on the embedded default — a local
// repository in a temporary folder, no AWS — driven through the real `backupctl` binary.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const bin = path.join(root, 'packages', 'cli', 'bin', 'run.js');
const keep = process.argv.includes('--keep');
const work = mkdtempSync(path.join(tmpdir(), 'backupctl-demo-'));
const env = {
  ...process.env,
  BACKUPCTL_CONFIG_DIR: path.join(work, 'config'),
  BACKUPCTL_CACHE_DIR: path.join(work, 'cache'),
  BACKUPCTL_PASSWORD: 'demo passphrase, not for real use',
};

function run(...args) {
  console.log(`\n$ backupctl ${args.join(' ')}`);
  const out = execFileSync(process.execPath, [bin, ...args], {
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.stdout.write(out);
  return out;
}

// A sample tree with the cases a backup tool gets wrong.
const source = path.join(work, 'home', 'demo');
mkdirSync(path.join(source, 'Documents', 'notes'), { recursive: true });
mkdirSync(path.join(source, 'Pictures'), { recursive: true });
mkdirSync(path.join(source, 'empty folder'), { recursive: true });
writeFileSync(path.join(source, 'Documents', 'notes', 'todo.txt'), 'buy milk\n');
writeFileSync(path.join(source, 'Documents', 'rapport d’été ✓.txt'), 'unicode name\n');
writeFileSync(path.join(source, 'Documents', 'empty'), '');
writeFileSync(path.join(source, 'Pictures', 'photo.raw'), randomBytes(8 * 1024 * 1024));
for (let i = 0; i < 200; i++)
  writeFileSync(path.join(source, 'Documents', 'notes', `note-${i}.md`), `# note ${i}\n`);
symlinkSync('Documents/notes/todo.txt', path.join(source, 'todo-link'));

console.log(`demo folder: ${work}`);
run('init', '--repo', path.join(work, 'repository'), '--path', source, '--no-keychain');
run('push');
writeFileSync(path.join(source, 'Documents', 'notes', 'todo.txt'), 'buy milk\nand bread\n');
run('push');
run('snapshots');
const target = path.join(work, 'restored');
run('restore', 'latest', '--target', target);
run('check', '--read-data');
run('status');

function describe(dir) {
  const out = [];
  const walk = (d, rel) => {
    for (const name of readdirSync(d).sort()) {
      const p = path.join(d, name);
      const r = `${rel}/${name}`;
      const st = lstatSync(p);
      const meta = `${(st.mode & 0o7777).toString(8)} ${Math.round(st.mtimeMs)}`;
      if (st.isSymbolicLink()) out.push(`${r} -> ${readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.push(`${r}/ ${meta}`);
        walk(p, r);
      } else out.push(`${r} ${meta} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
    }
  };
  walk(dir, '');
  return out.join('\n');
}

const same = describe(source) === describe(path.join(target, source));
console.log(
  `\nrestored tree identical to the original (contents, modes, mtimes, symlinks): ${same ? 'yes' : 'NO'}`,
);
if (keep) console.log(`kept: ${work}`);
else rmSync(work, { recursive: true, force: true });
process.exit(same ? 0 : 1);
