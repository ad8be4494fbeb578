import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type S3Server, startS3Server } from '../../../test/fixtures/s3-server.js';
import { describeTree } from '../../../test/support/tree.js';
import { assertBuilt, type Device, makeDevice } from './support/cli.js';

const BUCKET = 'backups';

describe('forget and prune on S3 (s3rver) with the owner’s admin profile', () => {
  let s3: S3Server;
  let device: Device;
  let src: string;
  let aws: Record<string, string>;

  const count = async (prefix: string) => {
    const client = s3.client();
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `devices/x/${prefix}` }),
    );
    client.destroy();
    return page.KeyCount ?? 0;
  };

  beforeAll(async () => {
    assertBuilt();
    s3 = await startS3Server();
    await s3.createBucket(BUCKET);
    device = await makeDevice();
    src = path.join(device.dir, 'src');
    await mkdir(src, { recursive: true });
    // The admin profile, as ~/.aws holds it (the device itself uses the AWS_* key).
    const awsDir = path.join(device.env.HOME!, '.aws');
    await mkdir(awsDir, { recursive: true });
    await writeFile(
      path.join(awsDir, 'credentials'),
      '[admin]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n',
    );
    await writeFile(path.join(awsDir, 'config'), '[profile admin]\nregion = us-east-1\n');
    aws = {
      BACKUPCTL_AWS_ACCESS_KEY_ID: 'S3RVER',
      BACKUPCTL_AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: 'us-east-1',
    };
    const init = await device.run(
      [
        'init',
        '--repo',
        `s3://${BUCKET}/devices/x`,
        '--endpoint',
        s3.endpoint,
        '--path',
        src,
        '--no-keychain',
      ],
      aws,
    );
    expect(init.code, init.stderr).toBe(0);
    for (let g = 0; g < 3; g++) {
      await rm(src, { recursive: true, force: true });
      await mkdir(src, { recursive: true });
      await writeFile(path.join(src, `g${g}.bin`), randomBytes(600_000));
      expect((await device.run(['push'], aws)).code).toBe(0);
    }
  });
  afterAll(async () => {
    await device?.remove();
    await s3?.stop();
  });

  it('forget --dry-run works with the device key (reads only); forget needs --profile', async () => {
    const dry = await device.run(['forget', '--keep-last', '1', '--dry-run', '--json'], aws);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json<{ groups: Array<{ remove: unknown[] }> }>().groups[0]!.remove).toHaveLength(2);
    expect((await device.run(['forget', '--keep-last', '1'], aws)).code).toBe(45);
    expect(await count('snapshots/')).toBe(3);
    const real = await device.run(['forget', '--keep-last', '1', '--profile', 'admin', '--json'], aws);
    expect(real.code, real.stderr).toBe(0);
    expect(await count('snapshots/')).toBe(1);
  });

  it('prune --profile deletes the unreferenced packs; check and restore stay exact', async () => {
    const before = await count('data/');
    const r = await device.run(['prune', '--safety-margin', '0', '--profile', 'admin', '--json'], aws);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json<{ deleted: { packs: number } }>();
    expect(doc.deleted.packs).toBeGreaterThan(0);
    expect(await count('data/')).toBe(before - doc.deleted.packs);
    expect(await count('prune/')).toBe(0);
    const checked = await device.run(['check', '--read-data', '--json'], aws);
    expect(checked.code, checked.stdout).toBe(0);
    const target = path.join(device.dir, 'restored');
    expect((await device.run(['restore', 'latest', '--target', target], aws)).code).toBe(0);
    expect(await describeTree(path.join(target, src))).toEqual(await describeTree(src));
  });

  it('key passwd with the device key keeps the old key file and says so; with --profile it goes', async () => {
    expect(await count('keys/')).toBe(1);
    const kept = await device.run(['key', 'passwd', '--json'], { ...aws, BACKUPCTL_NEW_PASSWORD: 'second' });
    expect(kept.code, kept.stderr).toBe(0);
    const doc = kept.json<{ oldKeyRemoved: boolean; note: string; oldKey: string }>();
    expect(doc.oldKeyRemoved).toBe(false);
    expect(doc.note).toContain(`backupctl key remove ${doc.oldKey.slice(0, 8)} --profile`);
    expect(await count('keys/')).toBe(2);
    // Both passphrases open it; the old key file goes with the admin profile.
    expect((await device.run(['snapshots'], aws)).code).toBe(0);
    const removed = await device.run(['key', 'remove', doc.oldKey.slice(0, 8), '--profile', 'admin'], {
      ...aws,
      BACKUPCTL_PASSWORD: 'second',
    });
    expect(removed.code, removed.stderr).toBe(0);
    expect(await count('keys/')).toBe(1);
    expect((await device.run(['snapshots'], { ...aws, BACKUPCTL_PASSWORD: 'second' })).code).toBe(0);
    expect((await device.run(['key', 'remove', 'abcd'], { ...aws, BACKUPCTL_PASSWORD: 'second' })).code).toBe(
      45,
    );
  });
});
