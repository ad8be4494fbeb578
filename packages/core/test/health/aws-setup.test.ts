import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { checkAwsSetup, explainSetupError, iniProfiles, suggestRegion } from '../../src/health/aws-setup.js';

const key = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};

/** The SDK's real client-side failure for a client config (no request reaches a network). */
async function sdkError(config: ConstructorParameters<typeof S3Client>[0]): Promise<unknown> {
  const client = new S3Client({ maxAttempts: 1, ...config });
  try {
    await client.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' }));
  } catch (error) {
    return error;
  } finally {
    client.destroy();
  }
  throw new Error('expected the SDK to fail');
}

describe('explainSetupError: the SDK texts behind coded errors', () => {
  it('"Region not accepted" (a region that is no hostname) → AWS_REGION_INVALID with a suggestion', async () => {
    const error = await sdkError({ region: 'eu-west_1', credentials: key });
    expect((error as Error).message).toMatch(/Region not accepted/);
    const explained = explainSetupError(error);
    expect(explained?.code).toBe('AWS_REGION_INVALID');
    expect(explained?.resolution).toMatch(/Did you mean eu-west-1\?/);
  });

  it('"Region is missing" → AWS_REGION_MISSING', async () => {
    const saved = {
      r: process.env.AWS_REGION,
      d: process.env.AWS_DEFAULT_REGION,
      c: process.env.AWS_CONFIG_FILE,
    };
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    process.env.AWS_CONFIG_FILE = '/nonexistent/aws-config';
    try {
      const error = await sdkError({ credentials: key });
      expect((error as Error).message).toBe('Region is missing');
      expect(explainSetupError(error)?.code).toBe('AWS_REGION_MISSING');
    } finally {
      for (const [k, v] of [
        ['AWS_REGION', saved.r],
        ['AWS_DEFAULT_REGION', saved.d],
        ['AWS_CONFIG_FILE', saved.c],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('an endpoint without a scheme (EndpointError) → ENDPOINT_INVALID', async () => {
    const error = await sdkError({
      region: 'us-east-1',
      endpoint: 'localhost:9000',
      forcePathStyle: true,
      credentials: key,
    });
    expect((error as Error).name).toBe('EndpointError');
    expect(explainSetupError(error, { repository: 's3://b/p', endpoint: 'localhost:9000' })?.code).toBe(
      'ENDPOINT_INVALID',
    );
  });

  it('a well-formed region AWS does not have: ENOTFOUND on s3.<region>.amazonaws.com → AWS_REGION_INVALID', () => {
    const error = Object.assign(new Error('getaddrinfo ENOTFOUND b.s3.eu-west-9.amazonaws.com'), {
      code: 'ENOTFOUND',
      $metadata: { attempts: 1 },
    });
    expect(explainSetupError(error)?.code).toBe('AWS_REGION_INVALID');
    // A known region that does not resolve is the network's problem, not the setup's.
    const offline = Object.assign(new Error('getaddrinfo ENOTFOUND b.s3.eu-west-1.amazonaws.com'), {
      code: 'ENOTFOUND',
    });
    expect(explainSetupError(offline)).toBeUndefined();
  });

  it('leaves AWS answers (with a status) and our own errors alone', () => {
    const denied = Object.assign(new Error('Access Denied'), {
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403 },
    });
    expect(explainSetupError(denied)).toBeUndefined();
  });
});

describe('checkAwsSetup', () => {
  const aws = { configFile: '/nonexistent/c', credentialsFile: '/nonexistent/k' };
  it('accepts a custom endpoint with any region name (MinIO, Garage…)', () => {
    expect(() =>
      checkAwsSetup({ repository: 's3://b/p', endpoint: 'http://127.0.0.1:9000', region: 'garage' }, aws),
    ).not.toThrow();
  });
  it('an explicit key (keychain) makes AWS_PROFILE irrelevant', () => {
    expect(() =>
      checkAwsSetup(
        { repository: 's3://b/p', region: 'eu-west-1' },
        { ...aws, profile: 'gone' },
        { explicitCredentials: true },
      ),
    ).not.toThrow();
    expect(() =>
      checkAwsSetup({ repository: 's3://b/p', region: 'eu-west-1' }, { ...aws, profile: 'gone' }),
    ).toThrow(/AWS_PROFILE names the profile "gone"/);
  });
  it('reads profile names both ways they are written', () => {
    const p = iniProfiles('[default]\nregion=eu-west-1\n[profile work]\nregion = us-east-2\n# c\n[ci]\n');
    expect([...p.keys()]).toEqual(['default', 'work', 'ci']);
    expect(p.get('work')?.region).toBe('us-east-2');
  });
  it('suggests the nearest region, or none', () => {
    expect(suggestRegion('us-east1')).toBe('us-east-1');
    expect(suggestRegion('EU_WEST_2')).toBe('eu-west-2');
    expect(suggestRegion('mars-north-9000')).toBeUndefined();
  });
});
