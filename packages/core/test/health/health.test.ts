import { createServer } from 'node:net';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { corpusSkipReason } from '../../../../test/fixtures/corpus.js';
import {
  awsErrorBody,
  oneLineXml,
  realAwsErrorBody,
  type S3ErrorProxy,
  startS3ErrorProxy,
} from '../../../../test/fixtures/s3-error-proxy.js';
import { type S3Server, startS3Server } from '../../../../test/fixtures/s3-server.js';
import { installAccessGuard } from '../../src/access/guard-middleware.js';
import { BackupctlError } from '../../src/errors/backupctl-error.js';
import { classifyAwsError, type HealthAssessment } from '../../src/health/classify.js';
import { probeHealth } from '../../src/health/probe.js';
import { installNo403Retry, installQuarantineBreaker } from '../../src/health/quarantine-breaker.js';
import { QuarantinedError } from '../../src/health/quarantined-error.js';

const BUCKET = 'health';
const PREFIX = 'devices/laptop/';
const scope = { bucket: BUCKET, prefix: PREFIX };

let server: S3Server;
let proxy: S3ErrorProxy;

beforeAll(async () => {
  server = await startS3Server();
  await server.createBucket(BUCKET);
  proxy = await startS3ErrorProxy(server.endpoint);
});
afterAll(async () => {
  await proxy?.stop();
  await server?.stop();
});
beforeEach(() => proxy.reset());

function client(config: Partial<S3ClientConfig> = {}, guardedScope = scope): S3Client {
  const c = new S3Client({
    endpoint: proxy.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: server.credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    ...config,
  });
  installAccessGuard(c, guardedScope);
  return c;
}

const body = Buffer.from('data');
const put = (key = `${PREFIX}data/aa/1`) =>
  new PutObjectCommand({
    Bucket: BUCKET,
    Key: key,
    Body: body,
    ContentLength: body.length,
    IfNoneMatch: '*',
  });
const get = (key = `${PREFIX}config`) => new GetObjectCommand({ Bucket: BUCKET, Key: key });

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a failure, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
}

/**
 * Our explicit-deny body, pretty-printed as the real captured one is (test/fixtures/aws-errors,
 * shaped like shared/aws-errors), and as S3 sends it: one line. The same tests run over the
 * real bodies below when the corpus is there.
 */
const EXPLICIT_DENY_PRETTY = awsErrorBody('s3-AccessDenied-explicit-deny-identity-based-policy.xml');
const EXPLICIT_DENY_ONE_LINE = oneLineXml(EXPLICIT_DENY_PRETTY);
/**
 * Newer messages append the denying policy's ARN ("…in an identity-based policy:
 * arn:aws:iam::123456789012:policy/ExampleDenyPolicy. Go to https://…", IAM User Guide,
 * "Troubleshoot access denied error messages with authorization ID"). No captured S3 body
 * with it exists in shared/aws-errors/, so this appends one to the message in that
 * documented form.
 */
function withPolicyArn(oneLine: string, policyArn: string): string {
  return oneLine.replace(
    'with an explicit deny in an identity-based policy</Message>',
    `with an explicit deny in an identity-based policy: ${policyArn}. Go to https://us-east-1.console.aws.amazon.com/iam/home?region=us-east-1#/authorization-details/EXAMPLE1a2b3c4d5e</Message>`,
  );
}
/** S3's XML envelope around a documented implicit-deny message (IAM User Guide template, lines joined). */
function s3Error(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>R</RequestId><HostId>H</HostId></Error>`;
}
const IMPLICIT_DENY_MESSAGE = awsErrorBody('awsdocs-iam-access-denied-message-examples.txt')
  .split('\n\n')
  .find((block) => block.includes('because no identity-based policy allows'))!
  .replace(/\n/g, ' ');

describe('classification of AWS error bodies, through the SDK', () => {
  it('the explicit deny exactly as captured (pretty-printed) is a quarantine', async () => {
    proxy.answer({ method: 'PUT', answer: { status: 403, body: EXPLICIT_DENY_PRETTY } });
    const error = await failure(client().send(put()));
    const a = classifyAwsError(error);
    expect(a).toMatchObject({
      status: 'quarantined',
      policy: 'unknown',
      errorName: 'AccessDenied',
      httpStatus: 403,
      action: 's3:PutObject',
      resource:
        'arn:aws:s3:::example-backups/devices/laptop/data/7c/7c1e9a4b0d2f63851e0a9c4d7b6f2e18a3c5d9f0b1e2a4c6d8f0a2b4c6d8e0f1',
      retryable: false,
    });
    expect(a.policyArn).toBeUndefined();
    // The SDK did not retry the 403: one request, although maxAttempts is 3.
    expect(proxy.requests).toHaveLength(1);
  });

  it('the explicit deny as S3 sends it (one line) is a quarantine', async () => {
    expect(EXPLICIT_DENY_ONE_LINE).not.toContain('\n');
    proxy.answer({ method: 'GET', answer: { status: 403, body: EXPLICIT_DENY_ONE_LINE } });
    const a = classifyAwsError(await failure(client().send(get())));
    expect(a).toMatchObject({ status: 'quarantined', policy: 'unknown', action: 's3:PutObject' });
    expect(a.message).toMatch(/^User: arn:aws:iam::210987654321:user\/backupctl\/laptop is not authorized/);
  });

  it("tells backupctl's AWSDenyAll from AWS's compromised-key quarantine by the policy ARN", async () => {
    const cases: Array<[string, HealthAssessment['policy']]> = [
      ['arn:aws:iam::aws:policy/AWSDenyAll', 'backupctl-guard'],
      ['arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3', 'aws-compromised-key'],
      ['arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantine', 'aws-compromised-key'],
      ['arn:aws:iam::111122223333:policy/SomeoneElsesDeny', 'unknown'],
    ];
    for (const [arn, policy] of cases) {
      proxy.answer({
        method: 'GET',
        times: 1,
        answer: { status: 403, body: withPolicyArn(EXPLICIT_DENY_ONE_LINE, arn) },
      });
      const a = classifyAwsError(await failure(client().send(get())));
      expect(a, arn).toMatchObject({ status: 'quarantined', policy, policyArn: arn });
    }
  });

  it('an implicit deny ("because no identity-based policy allows") is a setup problem, not a quarantine', async () => {
    expect(IMPLICIT_DENY_MESSAGE).toContain('because no identity-based policy allows');
    proxy.answer({
      method: 'GET',
      answer: { status: 403, body: s3Error('AccessDenied', IMPLICIT_DENY_MESSAGE) },
    });
    const a = classifyAwsError(
      await failure(client().send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: PREFIX }))),
    );
    expect(a).toMatchObject({ status: 'denied', deny: 'implicit', action: 's3:ListBucket' });
  });

  it('an explicit deny in another kind of policy (SCP, bucket policy) is "denied", not quarantined', () => {
    const lines = awsErrorBody('awsdocs-iam-access-denied-message-examples.txt')
      .split('\n\n')
      .filter((b) => b.includes('explicit deny') && !b.includes('identity-based'))
      .map((b) => b.replace(/\n/g, ' '));
    expect(lines.length).toBeGreaterThanOrEqual(5);
    for (const message of lines) {
      const a = classifyAwsError(
        Object.assign(new Error(message), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }),
      );
      expect(a, message).toMatchObject({ status: 'denied', deny: 'explicit-other' });
    }
  });

  it('a generic "Access Denied" body says nothing of the kind of deny', async () => {
    for (const file of ['s3-AccessDenied-generic.xml', 's3-AccessDenied-awsdocs-example.xml']) {
      proxy.answer({ method: 'GET', times: 1, answer: { status: 403, body: awsErrorBody(file) } });
      const a = classifyAwsError(await failure(client().send(get())));
      expect(a, file).toMatchObject({
        status: 'unknown-denied',
        needsProbe: false,
        errorName: 'AccessDenied',
      });
    }
  });

  it('a HEAD 403 has no body: unknown-denied, and one probe (a LIST) tells which deny it was', async () => {
    proxy.answer({ method: 'HEAD', answer: { status: 403, body: EXPLICIT_DENY_ONE_LINE } });
    const error = await failure(
      client().send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}config` })),
    );
    const a = classifyAwsError(error);
    expect(a).toMatchObject({ status: 'unknown-denied', needsProbe: true, httpStatus: 403 });
    proxy.answer({
      method: 'GET',
      path: `/${BUCKET}/`,
      answer: { status: 403, body: EXPLICIT_DENY_ONE_LINE },
    });
    const probe = await probeHealth(client(), scope);
    expect(probe.assessment).toMatchObject({ status: 'quarantined' });
    expect(proxy.requests.map((r) => r.method)).toEqual(['HEAD', 'GET']);
    expect(proxy.requests[1]?.url).toMatch(/^\/health\/\?.*list-type=2/);
  });

  it('InvalidAccessKeyId, from the real server: key-invalid', async () => {
    const c = client({ credentials: { accessKeyId: 'AKIADELETEDKEY', secretAccessKey: 'S3RVER' } });
    expect(classifyAwsError(await failure(c.send(get())))).toMatchObject({
      status: 'key-invalid',
      errorName: 'InvalidAccessKeyId',
      httpStatus: 403,
    });
  });

  it('SignatureDoesNotMatch: secret-wrong', async () => {
    // s3rver does not verify SigV4 signatures, so the proxy answers with S3's code and message.
    const message =
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.';
    proxy.answer({ method: 'GET', answer: { status: 403, body: s3Error('SignatureDoesNotMatch', message) } });
    const c = client({ credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'not-the-secret' } });
    expect(classifyAwsError(await failure(c.send(get())))).toMatchObject({
      status: 'secret-wrong',
      errorName: 'SignatureDoesNotMatch',
      httpStatus: 403,
    });
  });

  it('RequestTimeTooSkewed, from the real server: clock-skew', async () => {
    const c = client({ systemClockOffset: -60 * 60 * 1000, maxAttempts: 1 });
    expect(classifyAwsError(await failure(c.send(get())))).toMatchObject({
      status: 'clock-skew',
      errorName: 'RequestTimeTooSkewed',
    });
  });

  it('NoSuchBucket, from the real server: bucket-missing', async () => {
    const missing = { bucket: 'no-such-bucket', prefix: PREFIX };
    const c = client({}, missing);
    const error = await failure(
      c.send(new ListObjectsV2Command({ Bucket: 'no-such-bucket', Prefix: PREFIX })),
    );
    expect(classifyAwsError(error)).toMatchObject({ status: 'bucket-missing', httpStatus: 404 });
  });

  it('NoSuchKey and PreconditionFailed are answers of an authorised request: ok', async () => {
    expect(classifyAwsError(await failure(client().send(get(`${PREFIX}missing`))))).toMatchObject({
      status: 'ok',
    });
    proxy.answer({
      method: 'PUT',
      answer: {
        status: 412,
        body: s3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold'),
      },
    });
    expect(classifyAwsError(await failure(client().send(put())))).toMatchObject({
      status: 'ok',
      httpStatus: 412,
    });
  });

  it('no answer, 5xx, throttling: offline and retryable, never quarantined', async () => {
    const port = await closedPort();
    const refused = new S3Client({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: server.credentials,
      maxAttempts: 1,
    });
    expect(classifyAwsError(await failure(refused.send(get())))).toMatchObject({
      status: 'offline',
      retryable: true,
    });

    const unresolvable = new S3Client({
      endpoint: 'http://backupctl-no-such-host.invalid',
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: server.credentials,
      maxAttempts: 1,
    });
    expect(classifyAwsError(await failure(unresolvable.send(get())))).toMatchObject({ status: 'offline' });

    proxy.answer({ method: 'GET', times: 1, answer: 'reset' });
    expect(classifyAwsError(await failure(client({ maxAttempts: 1 }).send(get())))).toMatchObject({
      status: 'offline',
    });
    for (const [status, code] of [
      [503, 'SlowDown'],
      [500, 'InternalError'],
      [503, 'ServiceUnavailable'],
    ] as const) {
      proxy.answer({ method: 'GET', times: 1, answer: { status, body: s3Error(code, 'Please try again.') } });
      expect(classifyAwsError(await failure(client({ maxAttempts: 1 }).send(get()))), code).toMatchObject({
        status: 'offline',
        retryable: true,
        errorName: code,
      });
    }
  });
});

describe('stopping at the first explicit deny', () => {
  it('the SDK retries a 503 but never a 403 (maxAttempts 4)', async () => {
    proxy.answer({ method: 'GET', answer: { status: 403, body: EXPLICIT_DENY_ONE_LINE } });
    await failure(client({ maxAttempts: 4 }).send(get()));
    expect(proxy.requests).toHaveLength(1);

    proxy.reset();
    proxy.answer({
      method: 'GET',
      answer: { status: 503, body: s3Error('SlowDown', 'Reduce your request rate.') },
    });
    await failure(client({ maxAttempts: 4 }).send(get()));
    expect(proxy.requests).toHaveLength(4);
  });

  it('after an explicit deny, the breaker sends no second request: QuarantinedError, locally', async () => {
    const c = client();
    const seen: string[] = [];
    const breaker = installQuarantineBreaker(c, { onQuarantine: (_a, command) => seen.push(command) });
    proxy.answer({
      method: 'PUT',
      answer: {
        status: 403,
        body: withPolicyArn(EXPLICIT_DENY_ONE_LINE, 'arn:aws:iam::aws:policy/AWSDenyAll'),
      },
    });

    const first = await failure(c.send(put()));
    expect(first).toBeInstanceOf(QuarantinedError);
    expect((first as QuarantinedError).code).toBe('QUARANTINED');
    expect((first as QuarantinedError).assessment.policy).toBe('backupctl-guard');
    expect((first as QuarantinedError).resolution).toMatch(/AWSDenyAll/);
    expect(breaker.tripped?.status).toBe('quarantined');
    expect(seen).toEqual(['PutObjectCommand']);

    // Everything after it — other commands, concurrent ones — is refused without I/O.
    const later = await Promise.all([
      failure(c.send(get())),
      failure(c.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: PREFIX }))),
      failure(c.send(put(`${PREFIX}data/aa/2`))),
    ]);
    for (const error of later) {
      expect(BackupctlError.is(error) && error.code).toBe('QUARANTINED');
    }
    expect(proxy.requests).toHaveLength(1);
    expect(seen).toHaveLength(1);
  });

  it('the breaker lets other errors through unchanged and stays open', async () => {
    const c = client({ maxAttempts: 1 });
    const breaker = installQuarantineBreaker(c);
    proxy.answer({
      method: 'GET',
      times: 1,
      answer: { status: 403, body: awsErrorBody('s3-AccessDenied-generic.xml') },
    });
    const error = await failure(c.send(get()));
    expect((error as Error).name).toBe('AccessDenied');
    expect(breaker.tripped).toBeUndefined();
    await c.send(put(`${PREFIX}data/aa/3`));
    expect(proxy.requests).toHaveLength(2);
  });

  it('a clock-skew-corrected 403 is not retried past the breaker', async () => {
    // The SDK retries an error when the Date header shows a skew it corrects (clockSkewCorrected),
    // even a 403. With the breaker, the explicit deny still costs exactly one request.
    // 10 minutes: under S3's 15-minute limit (no RequestTimeTooSkewed), over the SDK's 4-minute threshold.
    const skewedDate = new Date(Date.now() + 10 * 60 * 1000).toUTCString();
    const answer = { status: 403, body: EXPLICIT_DENY_ONE_LINE, headers: { date: skewedDate } };
    // (control) without the breaker, the SDK sends the denied request again.
    proxy.answer({ method: 'GET', answer });
    await failure(client({ maxAttempts: 3 }).send(get()));
    expect(proxy.requests.length).toBeGreaterThan(1);

    proxy.reset();
    proxy.answer({ method: 'GET', answer });
    const c = client({ maxAttempts: 3 });
    installQuarantineBreaker(c);
    const error = await failure(c.send(get()));
    expect(error).toBeInstanceOf(QuarantinedError);
    expect(proxy.requests).toHaveLength(1);
  });

  it('installNo403Retry: a clock-skew-corrected 403 is sent once; clock correction still works', async () => {
    const skewedDate = new Date(Date.now() + 10 * 60 * 1000).toUTCString();
    proxy.answer({
      method: 'GET',
      answer: {
        status: 403,
        body: awsErrorBody('s3-AccessDenied-generic.xml'),
        headers: { date: skewedDate },
      },
    });
    const c = client({ maxAttempts: 3 });
    installNo403Retry(c);
    expect((await failure(c.send(get()))) as Error).toMatchObject({ name: 'AccessDenied' });
    expect(proxy.requests).toHaveLength(1);

    // The device clock 20 minutes behind: the real server refuses the time (not a denial); the
    // SDK takes the server's time from the answer, so the next request goes through (404).
    proxy.reset();
    const d = client({ maxAttempts: 3, systemClockOffset: -20 * 60 * 1000 });
    installNo403Retry(d);
    expect(classifyAwsError(await failure(d.send(get(`${PREFIX}missing`))))).toMatchObject({
      status: 'clock-skew',
    });
    expect(classifyAwsError(await failure(d.send(get(`${PREFIX}missing`))))).toMatchObject({
      status: 'ok',
      errorName: 'NoSuchKey',
    });
    expect(proxy.requests).toHaveLength(2);
  });
});

describe('probeHealth', () => {
  it('makes exactly one ListObjectsV2 under the device prefix with MaxKeys 1', async () => {
    const result = await probeHealth(client(), scope);
    expect(result.assessment.status).toBe('ok');
    expect(result.request).toEqual({
      command: 'ListObjectsV2Command',
      action: 's3:ListBucket',
      resource: `arn:aws:s3:::${BUCKET}`,
    });
    expect(proxy.requests).toHaveLength(1);
    const url = new URL(proxy.requests[0]!.url, 'http://x');
    expect(url.pathname).toBe(`/${BUCKET}/`);
    expect(url.searchParams.get('prefix')).toBe(PREFIX);
    expect(url.searchParams.get('max-keys')).toBe('1');
  });

  it('sends one attempt only, even when the answer would be retried', async () => {
    proxy.answer({
      method: 'GET',
      answer: { status: 503, body: s3Error('SlowDown', 'Reduce your request rate.') },
    });
    const result = await probeHealth(client({ maxAttempts: 5 }), scope);
    expect(result.assessment).toMatchObject({ status: 'offline', errorName: 'SlowDown' });
    expect(proxy.requests).toHaveLength(1);
  });

  it('trips the breaker of the client it probes with when the answer is an explicit deny', async () => {
    const c = client();
    const breaker = installQuarantineBreaker(c);
    proxy.answer({ method: 'GET', answer: { status: 403, body: EXPLICIT_DENY_ONE_LINE } });
    const result = await probeHealth(c, scope);
    expect(result.assessment.status).toBe('quarantined');
    expect(breaker.tripped?.status).toBe('quarantined');
    expect(proxy.requests).toHaveLength(1);
  });
});

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

const realErrorsSkip = corpusSkipReason('aws-errors');

describe.skipIf(realErrorsSkip !== undefined)(
  `classification of the real AWS error bodies (shared/aws-errors)${realErrorsSkip ? ` (skipped: ${realErrorsSkip})` : ''}`,
  () => {
    const realExplicit = () => realAwsErrorBody('s3-AccessDenied-explicit-deny-identity-based-policy.xml');

    it('the explicit deny exactly as captured (pretty-printed) is a quarantine', async () => {
      proxy.answer({ method: 'PUT', answer: { status: 403, body: realExplicit() } });
      const a = classifyAwsError(await failure(client().send(put())));
      expect(a).toMatchObject({
        status: 'quarantined',
        policy: 'unknown',
        errorName: 'AccessDenied',
        httpStatus: 403,
        action: 's3:PutObject',
        resource:
          'arn:aws:s3:::cli-dataflow/prod/0d0c372fad8852fd1687eebf05d094b7b9ca8f7ba05ce14fcbd389809ce733de/b60624b137eb37976c3a7aae84e0a38e.json',
        retryable: false,
      });
      expect(proxy.requests).toHaveLength(1);
    });

    it('the explicit deny as S3 sends it (one line) is a quarantine', async () => {
      proxy.answer({ method: 'GET', answer: { status: 403, body: oneLineXml(realExplicit()) } });
      const a = classifyAwsError(await failure(client().send(get())));
      expect(a).toMatchObject({ status: 'quarantined', policy: 'unknown', action: 's3:PutObject' });
      expect(a.message).toMatch(/^User: arn:aws:iam::638117407428:user\/s3 is not authorized/);
    });

    it('the documented implicit deny is "denied", the other explicit denies "explicit-other"', () => {
      const blocks = realAwsErrorBody('awsdocs-iam-access-denied-message-examples.txt')
        .split('\n\n')
        .map((b) => b.replace(/\n/g, ' '));
      const implicit = blocks.find((b) => b.includes('because no identity-based policy allows'));
      expect(implicit).toBeDefined();
      const other = blocks.filter((b) => b.includes('explicit deny') && !b.includes('identity-based'));
      expect(other.length).toBeGreaterThanOrEqual(5);
      const asError = (message: string) =>
        Object.assign(new Error(message), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
      expect(classifyAwsError(asError(implicit ?? ''))).toMatchObject({
        status: 'denied',
        deny: 'implicit',
        action: 'codecommit:ListRepositories',
      });
      for (const message of other) {
        expect(classifyAwsError(asError(message)), message).toMatchObject({
          status: 'denied',
          deny: 'explicit-other',
        });
      }
    });

    it('the generic "Access Denied" bodies say nothing of the kind of deny', async () => {
      for (const file of ['s3-AccessDenied-generic.xml', 's3-AccessDenied-awsdocs-example.xml']) {
        proxy.answer({ method: 'GET', times: 1, answer: { status: 403, body: realAwsErrorBody(file) } });
        const a = classifyAwsError(await failure(client().send(get())));
        expect(a, file).toMatchObject({
          status: 'unknown-denied',
          needsProbe: false,
          errorName: 'AccessDenied',
        });
      }
    });
  },
);
