import { runSimulation } from '@cloud-copilot/iam-simulate';
import { describe, expect, it } from 'vitest';
import { ACCESS_MANIFEST, COMMAND_ACCESS } from '../../src/access/manifest.js';
import {
  type DevicePolicyOptions,
  generateDevicePolicy,
  type PolicyDocument,
} from '../../src/access/policy.js';

const ACCOUNT = '111122223333';
const PRINCIPAL = `arn:aws:iam::${ACCOUNT}:user/backupctl/laptop`;
const options: DevicePolicyOptions = { bucket: 'backups-bucket', device: 'laptop' };

async function decide(
  policy: PolicyDocument,
  action: string,
  resource: string,
  context: Record<string, string> = {},
): Promise<string> {
  const result = await runSimulation(
    {
      identityPolicies: [{ name: 'backupctl-device', policy }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      request: {
        action,
        principal: PRINCIPAL,
        resource: { resource, accountId: ACCOUNT },
        contextVariables: context,
      },
    },
    {},
  );
  if (result.resultType === 'error') throw new Error(JSON.stringify(result));
  return result.overallResult;
}

const policy = generateDevicePolicy(options);
const OBJ = 'arn:aws:s3:::backups-bucket/devices/laptop';
const BUCKET = 'arn:aws:s3:::backups-bucket';

describe('generated device policy, evaluated by iam-simulate', () => {
  it('allows PutObject under the device prefix with If-None-Match', async () => {
    expect(await decide(policy, 's3:PutObject', `${OBJ}/data/ab/ab12`, { 's3:if-none-match': '*' })).toBe(
      'Allowed',
    );
    expect(await decide(policy, 's3:PutObject', `${OBJ}/config`, { 's3:if-none-match': '*' })).toBe(
      'Allowed',
    );
  });

  it('denies PutObject without If-None-Match (an overwrite, or a multipart part)', async () => {
    expect(await decide(policy, 's3:PutObject', `${OBJ}/config`)).toBe('ImplicitlyDenied');
  });

  it('denies PutObject and GetObject outside the device prefix', async () => {
    const ctx = { 's3:if-none-match': '*' };
    expect(await decide(policy, 's3:PutObject', `${BUCKET}/devices/other/config`, ctx)).toBe(
      'ImplicitlyDenied',
    );
    expect(await decide(policy, 's3:PutObject', `${BUCKET}/devices/laptop2/config`, ctx)).toBe(
      'ImplicitlyDenied',
    );
    expect(await decide(policy, 's3:PutObject', `${BUCKET}/config`, ctx)).toBe('ImplicitlyDenied');
    expect(await decide(policy, 's3:GetObject', `${BUCKET}/devices/other/config`)).toBe('ImplicitlyDenied');
    expect(await decide(policy, 's3:GetObject', 'arn:aws:s3:::another-bucket/devices/laptop/config')).toBe(
      'ImplicitlyDenied',
    );
  });

  it('allows GetObject (also HeadObject) under the prefix', async () => {
    expect(await decide(policy, 's3:GetObject', `${OBJ}/snapshots/1`)).toBe('Allowed');
  });

  it('allows ListBucket with a prefix under devices/<device>/ only', async () => {
    expect(await decide(policy, 's3:ListBucket', BUCKET, { 's3:prefix': 'devices/laptop/' })).toBe('Allowed');
    expect(await decide(policy, 's3:ListBucket', BUCKET, { 's3:prefix': 'devices/laptop/index/' })).toBe(
      'Allowed',
    );
    // HeadBucket, or a listing of the whole bucket: no s3:prefix at all.
    expect(await decide(policy, 's3:ListBucket', BUCKET)).toBe('ImplicitlyDenied');
    expect(await decide(policy, 's3:ListBucket', BUCKET, { 's3:prefix': '' })).toBe('ImplicitlyDenied');
    expect(await decide(policy, 's3:ListBucket', BUCKET, { 's3:prefix': 'devices/other/' })).toBe(
      'ImplicitlyDenied',
    );
    expect(await decide(policy, 's3:ListBucket', BUCKET, { 's3:prefix': 'devices/laptop' })).toBe(
      'ImplicitlyDenied',
    );
    expect(await decide(policy, 's3:ListBucket', BUCKET, { 's3:prefix': 'devices/' })).toBe(
      'ImplicitlyDenied',
    );
  });

  it('makes a GetObject of a missing key under the prefix answer 404, not 403', async () => {
    // S3 answers 404 only if s3:ListBucket is allowed with s3:prefix = the key.
    expect(await decide(policy, 's3:ListBucket', BUCKET, { 's3:prefix': 'devices/laptop/config' })).toBe(
      'Allowed',
    );
  });

  it('grants no delete, no overwrite-free copy, no bucket or ACL action', async () => {
    for (const action of [
      's3:DeleteObject',
      's3:DeleteObjectVersion',
      's3:PutObjectAcl',
      's3:PutObjectTagging',
      's3:GetObjectVersion',
      's3:PutLifecycleConfiguration',
      's3:PutBucketPolicy',
      's3:DeleteBucket',
      's3:ListAllMyBuckets',
      's3:ListBucketMultipartUploads',
      's3:AbortMultipartUpload',
    ]) {
      const resource =
        action.includes('Object') || action === 's3:AbortMultipartUpload' ? `${OBJ}/config` : BUCKET;
      expect(await decide(policy, action, action === 's3:ListAllMyBuckets' ? '*' : resource), action).toBe(
        'ImplicitlyDenied',
      );
    }
  });

  it('does not grant sts:GetCallerIdentity (which IAM allows regardless: the guard tripwire)', async () => {
    expect(JSON.stringify(policy)).not.toMatch(/sts:|"\*"/);
    // Like AWS, iam-simulate lets GetCallerIdentity through even with no statement for it.
    expect(await decide(policy, 'sts:GetCallerIdentity', '*')).toBe('Allowed');
  });

  it('has only Allow statements, all inside the bucket', () => {
    for (const s of policy.Statement) {
      expect(s.Effect).toBe('Allow');
      expect(s.Resource === BUCKET || s.Resource === `${OBJ}/*`).toBe(true);
    }
    expect(policy.Statement.map((s) => s.Action).sort()).toEqual([
      's3:GetObject',
      's3:ListBucket',
      's3:PutObject',
    ]);
  });

  it('requires the bucket owner when an account id is given', async () => {
    const owned = generateDevicePolicy({ ...options, accountId: ACCOUNT });
    const ctx = { 's3:if-none-match': '*' };
    expect(await decide(owned, 's3:PutObject', `${OBJ}/x`, { ...ctx, 's3:ResourceAccount': ACCOUNT })).toBe(
      'Allowed',
    );
    expect(
      await decide(owned, 's3:PutObject', `${OBJ}/x`, { ...ctx, 's3:ResourceAccount': '999988887777' }),
    ).toBe('ImplicitlyDenied');
    expect(
      await decide(owned, 's3:ListBucket', BUCKET, {
        's3:prefix': 'devices/laptop/',
        's3:ResourceAccount': ACCOUNT,
      }),
    ).toBe('Allowed');
  });

  it('uses the partition it is given', () => {
    const cn = generateDevicePolicy({ ...options, partition: 'aws-cn' });
    expect(cn.Statement.every((s) => s.Resource.startsWith('arn:aws-cn:s3:::backups-bucket'))).toBe(true);
  });

  it('refuses names that would widen the policy', () => {
    for (const device of ['*', 'a*', 'lap?op', 'a/b', '..', '', 'x'.repeat(65), ' laptop']) {
      expect(() => generateDevicePolicy({ ...options, device }), device).toThrow(/invalid device name/);
    }
    for (const bucket of ['*', 'Bucket', 'b', 'arn:aws:s3:::b', 'a..b']) {
      expect(() => generateDevicePolicy({ ...options, bucket }), bucket).toThrow(/invalid S3 bucket name/);
    }
    expect(() => generateDevicePolicy({ ...options, accountId: '123' })).toThrow(/account id/);
  });

  it('names in every manifest condition only keys the request mapping reports', () => {
    for (const entry of ACCESS_MANIFEST) {
      const keys = Object.values(entry.condition ?? {}).flatMap((block) => Object.keys(block));
      for (const command of entry.commands) {
        expect(COMMAND_ACCESS[command].action).toBe(entry.action);
        for (const key of keys)
          expect(COMMAND_ACCESS[command].contextKeys, `${command} ${key}`).toContain(key);
      }
    }
  });
});
