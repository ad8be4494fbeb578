import { generateDevicePolicy } from '@backupctl/core';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { describe, expect, it } from 'vitest';
import { bucketEncryptionVerdict } from '../../src/bucket/index.js';

const kms = (KMSMasterKeyID?: string, SSEAlgorithm = 'aws:kms') => [
  { ApplyServerSideEncryptionByDefault: { SSEAlgorithm, ...(KMSMasterKeyID ? { KMSMasterKeyID } : {}) } },
];
const KEY = 'arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

describe('bucket default encryption: which buckets a device can write to', () => {
  it('accepts no default encryption, SSE-S3, and SSE-KMS with the AWS-managed aws/s3 key', () => {
    expect(bucketEncryptionVerdict('b', undefined)).toEqual({ ok: true, encryption: 'none' });
    expect(
      bucketEncryptionVerdict('b', [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }]),
    ).toEqual({
      ok: true,
      encryption: 'SSE-S3',
    });
    for (const id of [undefined, 'alias/aws/s3', 'arn:aws:kms:eu-central-1:123456789012:alias/aws/s3']) {
      expect(bucketEncryptionVerdict('b', kms(id))).toEqual({ ok: true, encryption: 'SSE-KMS with aws/s3' });
    }
  });

  it('asks for the key manager of a key named by id or ARN, then accepts an AWS key and refuses a customer key', () => {
    expect(bucketEncryptionVerdict('b', kms(KEY))).toEqual({ ok: 'ask', kmsKeyId: KEY });
    expect(bucketEncryptionVerdict('b', kms('alias/my-key'))).toEqual({
      ok: 'ask',
      kmsKeyId: 'alias/my-key',
    });
    expect(bucketEncryptionVerdict('b', kms(KEY), 'AWS')).toMatchObject({ ok: true });
    for (const algorithm of ['aws:kms', 'aws:kms:dsse']) {
      const verdict = bucketEncryptionVerdict('my-backups', kms(KEY, algorithm), 'CUSTOMER');
      expect(verdict).toMatchObject({ ok: false, kmsKeyId: KEY });
      if (verdict.ok !== false) throw new Error('expected a refusal');
      expect(verdict.reason).toContain('quarantine');
      expect(verdict.resolution).toContain('aws s3api put-bucket-encryption --bucket my-backups');
      expect(verdict.resolution).toContain('"SSEAlgorithm":"AES256"');
    }
  });

  it('why: the device policy allows no KMS call, so a customer key would make the first PUT a denial', async () => {
    const policy = generateDevicePolicy({
      bucket: 'my-backups',
      device: 'laptop',
      accountId: '123456789012',
    });
    for (const action of ['kms:GenerateDataKey', 'kms:Decrypt']) {
      const result = await runSimulation(
        {
          identityPolicies: [{ name: 'device', policy }],
          serviceControlPolicies: [],
          resourceControlPolicies: [],
          request: {
            action,
            principal: 'arn:aws:iam::123456789012:user/backupctl/backupctl-laptop',
            resource: { resource: KEY, accountId: '123456789012' },
            contextVariables: { 'kms:ViaService': 's3.eu-central-1.amazonaws.com' },
          },
        },
        {},
      );
      expect(result.resultType === 'error' ? 'error' : result.overallResult, action).toBe('ImplicitlyDenied');
    }
  });
});
