/**
 * The offline loop's parts, each proven on its own and then chained: the IAM proxy in front
 * of s3rver (every request evaluated against the generated device policy with iam-simulate,
 * a CloudTrail record per request), the attacker's records, the guard's real filter pattern
 * from the template, an alarm that fires once per state change, the quarantine Lambda's own
 * source against a mocked control plane that changes the proxy's IAM — and the device's next
 * request is an explicit deny that core reads as "quarantined". `npm run test:loop` (the
 * whole story with init and recover) is built on these parts.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ListBucketsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { classifyAwsError, generateDevicePolicy } from '@backupctl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attackerRecords, deviceIdentity, stsRecord } from './fixtures/cloudtrail-records.js';
import { GuardLoop } from './fixtures/guard-loop.js';
import { IamState } from './fixtures/iam-state.js';
import {
  AWS_DENY_ALL,
  accessDeniedMessage,
  authorise,
  impliedListBucket,
  type NamedPolicy,
  s3RequestOf,
} from './fixtures/s3-authorisation.js';
import { type ConditionalWriteProxy, startConditionalWriteProxy } from './fixtures/s3-conditional-proxy.js';
import { type S3IamProxy, startS3IamProxy } from './fixtures/s3-iam-proxy.js';
import { type S3Server, startS3Server } from './fixtures/s3-server.js';
import { assertBuilt, makeS3Device, type S3Device } from './support/backupctl-bin.js';

const ACCOUNT = '123456789012';
const REGION = 'eu-central-1';
const BUCKET = 'loop-parts';
const DEVICE = 'laptop';
const USER = `backupctl-${DEVICE}`;
const KEY_ID = 'AKIAIOSFODNN7LOOPKEY';
const SECRET = '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';
const DEVICE_POLICY: NamedPolicy = {
  arn: `arn:aws:iam::${ACCOUNT}:policy/backupctl/backupctl-device-${DEVICE}`,
  document: generateDevicePolicy({ bucket: BUCKET, device: DEVICE, accountId: ACCOUNT }),
};

const http = (method: string, url: string, headers: Record<string, string> = {}) => {
  const u = new URL(url, 'http://s3.local');
  return { method, path: u.pathname, query: u.searchParams, headers };
};

describe('S3 request → IAM authorisation (pure)', () => {
  const authority = (policies: NamedPolicy[] = [DEVICE_POLICY]) => ({
    principal: `arn:aws:iam::${ACCOUNT}:user/backupctl/${USER}`,
    accountId: ACCOUNT,
    policies,
  });

  it('derives action, resource and condition keys as S3 authorises them', () => {
    expect(
      s3RequestOf(http('PUT', `/${BUCKET}/devices/${DEVICE}/data/ab`, { 'if-none-match': '*' })),
    ).toMatchObject({
      eventName: 'PutObject',
      action: 's3:PutObject',
      resource: `arn:aws:s3:::${BUCKET}/devices/${DEVICE}/data/ab`,
      context: { 's3:if-none-match': '*' },
      management: false,
    });
    expect(
      s3RequestOf(http('GET', `/${BUCKET}?list-type=2&prefix=devices%2F${DEVICE}%2Fsnapshots%2F`)),
    ).toMatchObject({
      eventName: 'ListObjects',
      action: 's3:ListBucket',
      resource: `arn:aws:s3:::${BUCKET}`,
      context: { 's3:prefix': `devices/${DEVICE}/snapshots/` },
    });
    expect(s3RequestOf(http('HEAD', `/${BUCKET}/devices/${DEVICE}/config`))).toMatchObject({
      eventName: 'HeadObject',
      action: 's3:GetObject',
    });
    expect(s3RequestOf(http('GET', '/'))).toMatchObject({
      eventName: 'ListBuckets',
      action: 's3:ListAllMyBuckets',
      resource: '*',
      management: true,
    });
    expect(s3RequestOf(http('DELETE', `/${BUCKET}/devices/${DEVICE}/config`))).toMatchObject({
      action: 's3:DeleteObject',
    });
    expect(s3RequestOf(http('HEAD', `/${BUCKET}`))).toMatchObject({
      eventName: 'HeadBucket',
      action: 's3:ListBucket',
      context: {},
    });
  });

  it('allows what the manifest grants and denies the rest, implicitly; AWSDenyAll denies explicitly', async () => {
    const decide = async (req: ReturnType<typeof http>, policies: NamedPolicy[] = [DEVICE_POLICY]) =>
      (await authorise(s3RequestOf(req), authority(policies))).decision;
    const put = http('PUT', `/${BUCKET}/devices/${DEVICE}/data/ab`, { 'if-none-match': '*' });
    expect(await decide(put)).toBe('Allowed');
    expect(await decide(http('PUT', `/${BUCKET}/devices/${DEVICE}/data/ab`))).toBe('ImplicitlyDenied');
    expect(await decide(http('GET', `/${BUCKET}/devices/other/config`))).toBe('ImplicitlyDenied');
    expect(await decide(http('GET', `/${BUCKET}?list-type=2`))).toBe('ImplicitlyDenied');
    expect(await decide(http('GET', '/'))).toBe('ImplicitlyDenied');
    expect(await decide(http('DELETE', `/${BUCKET}/devices/${DEVICE}/config`))).toBe('ImplicitlyDenied');
    const quarantined = await authorise(s3RequestOf(put), authority([DEVICE_POLICY, AWS_DENY_ALL]));
    expect(quarantined).toEqual({ decision: 'ExplicitlyDenied', denyingPolicy: AWS_DENY_ALL.arn });
    // A GET of a missing key under the prefix: the implied ListBucket is allowed (404, not 403).
    const implied = impliedListBucket(s3RequestOf(http('GET', `/${BUCKET}/devices/${DEVICE}/keys/x`)));
    expect(implied?.context).toEqual({ 's3:prefix': `devices/${DEVICE}/keys/x` });
    expect((await authorise(implied!, authority())).decision).toBe('Allowed');
  });

  it('words both kinds of deny as S3 does, and core classifies them apart', async () => {
    const put = s3RequestOf(http('PUT', `/${BUCKET}/devices/${DEVICE}/data/ab`, { 'if-none-match': '*' }));
    const principal = authority().principal;
    const explicit = accessDeniedMessage(principal, put, {
      decision: 'ExplicitlyDenied',
      denyingPolicy: AWS_DENY_ALL.arn,
    });
    expect(explicit).toBe(
      `User: ${principal} is not authorized to perform: s3:PutObject on resource: "${put.resource}" ` +
        `with an explicit deny in an identity-based policy: ${AWS_DENY_ALL.arn}`,
    );
    const implicit = accessDeniedMessage(principal, put, { decision: 'ImplicitlyDenied' });
    expect(implicit).toContain('because no identity-based policy allows the s3:PutObject action');
    const error = (message: string) =>
      Object.assign(new Error(message), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    expect(classifyAwsError(error(explicit))).toMatchObject({
      status: 'quarantined',
      policy: 'backupctl-guard',
    });
    expect(classifyAwsError(error(implicit))).toMatchObject({ status: 'denied', deny: 'implicit' });
  });
});

describe('the loop, part by part, against s3rver', () => {
  let s3: S3Server;
  let conditional: ConditionalWriteProxy;
  let proxy: S3IamProxy;
  let iam: IamState;
  let device: S3Device;
  let loop: GuardLoop;
  const deviceClient = () =>
    new S3Client({
      endpoint: proxy.url,
      region: REGION,
      forcePathStyle: true,
      credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET },
      maxAttempts: 1,
    });

  beforeAll(async () => {
    assertBuilt();
    s3 = await startS3Server();
    await s3.createBucket(BUCKET);
    conditional = await startConditionalWriteProxy(s3.endpoint);
    iam = new IamState(ACCOUNT);
    iam.createUser(USER, [DEVICE_POLICY]);
    iam.addAccessKey(USER, KEY_ID, SECRET);
    proxy = await startS3IamProxy({ upstream: conditional.endpoint, iam, region: REGION });
    device = await makeS3Device();
    Object.assign(device.env, {
      AWS_ACCESS_KEY_ID: KEY_ID,
      AWS_SECRET_ACCESS_KEY: SECRET,
      BACKUPCTL_AWS_ACCESS_KEY_ID: KEY_ID,
      BACKUPCTL_AWS_SECRET_ACCESS_KEY: SECRET,
      AWS_REGION: REGION,
    });
    loop = new GuardLoop({ iam, region: REGION });
  });
  afterAll(async () => {
    loop?.dispose();
    await proxy?.stop();
    await conditional?.stop();
    await s3?.stop();
    await device?.remove();
  });

  it('authenticates as S3 does: an unknown key is InvalidAccessKeyId, a wrong secret SignatureDoesNotMatch; no record', async () => {
    const client = new S3Client({
      endpoint: proxy.url,
      region: REGION,
      forcePathStyle: true,
      credentials: { accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey: 'x' },
      maxAttempts: 1,
    });
    await expect(
      client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'devices/' })),
    ).rejects.toMatchObject({
      name: 'InvalidAccessKeyId',
    });
    client.destroy();
    // The right key with a wrong secret: the signature does not verify.
    const wrong = new S3Client({
      endpoint: proxy.url,
      region: REGION,
      forcePathStyle: true,
      credentials: { accessKeyId: KEY_ID, secretAccessKey: `${SECRET}x` },
      maxAttempts: 1,
    });
    const error = await wrong.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'devices/' })).then(
      () => undefined,
      (e: unknown) => e,
    );
    wrong.destroy();
    expect(error).toMatchObject({ name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } });
    expect(classifyAwsError(error)).toMatchObject({ status: 'secret-wrong' });
    expect(proxy.records).toHaveLength(0);
  });

  it('init and a push through the IAM proxy: every request allowed, each with its CloudTrail record, none counted by the guard', async () => {
    await mkdir(path.join(device.src, 'docs'), { recursive: true });
    await writeFile(path.join(device.src, 'docs', 'notes.txt'), 'loop parts\n');
    await writeFile(path.join(device.src, 'big.bin'), Buffer.alloc(1024 * 1024, 3));
    const repo = `s3://${BUCKET}/devices/${DEVICE}`;
    const init = await device.run([
      'init',
      '--repo',
      repo,
      '--endpoint',
      proxy.url,
      '--path',
      device.src,
      '--no-keychain',
      '--json',
    ]);
    expect(init.code, init.stderr).toBe(0);
    const push = await device.run(['push', '--json']);
    expect(push.code, push.stderr).toBe(0);

    expect(proxy.requests.length).toBeGreaterThan(3);
    expect(proxy.denials()).toEqual([]);
    const actions = new Set(proxy.requests.map((r) => r.action));
    for (const action of ['s3:PutObject', 's3:ListBucket']) expect(actions).toContain(action);
    expect(proxy.records).toHaveLength(proxy.requests.length);
    for (const record of proxy.records) {
      expect(record).toMatchObject({
        eventSource: 's3.amazonaws.com',
        awsRegion: REGION,
        recipientAccountId: ACCOUNT,
        userIdentity: {
          type: 'IAMUser',
          arn: `arn:aws:iam::${ACCOUNT}:user/backupctl/${USER}`,
          accountId: ACCOUNT,
          accessKeyId: KEY_ID,
          userName: USER,
        },
      });
      expect(record.userAgent).toMatch(/aws-sdk-js/);
      expect(record.errorCode === undefined || record.errorCode === 'PreconditionFailed').toBe(true);
    }
    const put = proxy.records.find((r) => r.eventName === 'PutObject');
    expect(put?.requestParameters).toMatchObject({
      bucketName: BUCKET,
      key: expect.stringMatching(`^devices/${DEVICE}/`),
    });

    loop.armAlarm(USER);
    expect(loop.deliver(proxy.records)).toEqual([]);
    expect(loop.evaluateAlarms().map((e) => e.alarmData.state.value)).toEqual(['OK']);
  });

  it("the attacker's GetCallerIdentity and ListBuckets with the device key are counted by the guard's real pattern", async () => {
    const identity = deviceIdentity({ accountId: ACCOUNT, userName: USER, accessKeyId: KEY_ID });
    const [whoami, listBuckets] = await attackerRecords(identity, {
      policies: iam.policiesOf(USER),
      awsRegion: REGION,
    });
    expect(whoami).toMatchObject({
      eventSource: 'sts.amazonaws.com',
      eventName: 'GetCallerIdentity',
      userIdentity: identity,
    });
    expect(whoami?.errorCode).toBeUndefined();
    expect(listBuckets).toMatchObject({
      eventName: 'ListBuckets',
      errorCode: 'AccessDenied',
      managementEvent: true,
    });
    expect(listBuckets?.errorMessage).toContain(
      'because no identity-based policy allows the s3:ListAllMyBuckets action',
    );

    // The same ListBuckets, really sent with the key: the proxy denies it and records the same.
    const client = deviceClient();
    await expect(client.send(new ListBucketsCommand({}))).rejects.toMatchObject({
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403 },
    });
    client.destroy();
    const sent = proxy.records.at(-1)!;
    expect(sent).toMatchObject({
      eventName: 'ListBuckets',
      errorCode: 'AccessDenied',
      userIdentity: { userName: USER },
    });
    expect(proxy.denials()).toHaveLength(1);

    const pattern = loop.pattern;
    expect(pattern).toContain(`:iam::${ACCOUNT}:user/backupctl/`);
    expect(loop.deliver([whoami!, listBuckets!, sent])).toEqual([whoami, listBuckets, sent]);

    // Pinned: the same calls by a look-alike user of another account are not counted;
    // GetSessionToken is a tripwire too.
    const other = deviceIdentity({
      accountId: '999988887777',
      userName: USER,
      accessKeyId: 'AKIAOTHERACCOUNT0000',
    });
    const foreign = await attackerRecords(other, { policies: [DEVICE_POLICY] });
    expect(loop.deliver(foreign)).toEqual([]);
    const session = stsRecord(identity, 'GetSessionToken', {
      awsRegion: REGION,
      sourceIPAddress: '198.51.100.23',
      userAgent: 'x',
    });
    expect(loop.deliver([session])).toEqual([session]);
    expect(loop.metricSum(USER, new Date(Date.now() - 60_000), new Date(Date.now() + 60_000))).toBe(4);
  });

  it('the alarm fires once, and the Lambda quarantines the user through the mocked IAM', async () => {
    const [event, ...more] = loop.evaluateAlarms();
    expect(more).toEqual([]);
    expect(event?.alarmData).toMatchObject({
      alarmName: `backupctl-guard-${USER}`,
      state: { value: 'ALARM' },
      previousState: { value: 'OK' },
      configuration: { metrics: [{ metricStat: { metric: { dimensions: { User: USER } } } }] },
    });
    // Evaluated again at once: no state change, no second invocation.
    expect(loop.evaluateAlarms()).toEqual([]);

    expect(iam.isQuarantined(USER)).toBe(false);
    const run = await loop.invoke(event!);
    expect(run.error).toBeUndefined();
    expect(run.result).toMatchObject({ action: 'quarantined', user: USER, lookup: 'ok', notified: true });
    expect(loop.lambdaCalls).toEqual([
      'cloudwatch:DescribeAlarms',
      'iam:AttachUserPolicy',
      'logs:FilterLogEvents',
      'sns:Publish',
    ]);
    expect(iam.isQuarantined(USER)).toBe(true);
    const mail = loop.published.at(-1)!;
    expect(mail.Subject).toBe(`backupctl guard: quarantined ${USER}`);
    expect(mail.Message).toContain('sts.amazonaws.com GetCallerIdentity no error');
    expect(mail.Message).toContain('s3.amazonaws.com ListBuckets AccessDenied');
    expect(mail.Message).toContain('backupctl recover');
  });

  it("afterwards the device's next request is an explicit deny that core classifies as quarantined", async () => {
    const client = deviceClient();
    const error = await client
      .send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `devices/${DEVICE}/` }))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    client.destroy();
    expect(error).toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    expect(classifyAwsError(error)).toMatchObject({
      status: 'quarantined',
      policy: 'backupctl-guard',
      policyArn: AWS_DENY_ALL.arn,
    });
    expect(proxy.requests.at(-1)).toMatchObject({ decision: 'ExplicitlyDenied', status: 403 });
    expect(proxy.records.at(-1)?.errorMessage).toContain('with an explicit deny in an identity-based policy');

    // The binary: push stops at its first request and exits 20 (quarantined).
    const before = proxy.requests.length;
    const push = await device.run(['push', '--json']);
    expect(push.code, push.stderr).toBe(20);
    expect(proxy.requests.length - before).toBe(1);
  });

  it('a failed attach is retried by the sweep for as long as the alarm stays in ALARM', async () => {
    const thief = 'backupctl-stolen';
    iam.createUser(thief, [DEVICE_POLICY]);
    iam.addAccessKey(thief, 'AKIASTOLENKEY0000000', 'secret');
    loop.armAlarm(thief);
    loop.evaluateAlarms(); // INSUFFICIENT_DATA → OK
    const identity = deviceIdentity({
      accountId: ACCOUNT,
      userName: thief,
      accessKeyId: 'AKIASTOLENKEY0000000',
    });
    loop.deliver(await attackerRecords(identity, { policies: iam.policiesOf(thief) }));
    loop.attachFailures = 1;
    const [run] = await loop.react();
    expect(run?.error).toMatchObject({ name: 'Throttling' });
    expect(iam.isQuarantined(thief)).toBe(false);
    expect(loop.alarmState(thief)).toBe('ALARM');
    expect(loop.published.at(-1)?.Subject).toBe(`backupctl guard: FAILED to quarantine ${thief}`);

    const sweep = await loop.invoke({ backupctl: 'sweep' });
    expect(sweep.error).toBeUndefined();
    expect(sweep.result).toMatchObject({
      action: 'swept',
      results: expect.arrayContaining([
        { user: USER, action: 'already' },
        { user: thief, action: 'quarantined' },
      ]),
    });
    expect(iam.isQuarantined(thief)).toBe(true);

    // Once the alarm is back to OK, neither a late retry nor the sweep quarantines again.
    iam.detachUserPolicy(thief, AWS_DENY_ALL.arn);
    const later = new Date(Date.now() + 5 * 60_000);
    expect(loop.evaluateAlarms(later).map((e) => [e.alarmData.alarmName, e.alarmData.state.value])).toEqual(
      expect.arrayContaining([[`backupctl-guard-${thief}`, 'OK']]),
    );
    const lateRetry = await loop.invoke(loop.alarmEvent(thief, 'ALARM', 'OK', new Date()));
    expect(lateRetry.result).toEqual({ action: 'ignored', reason: 'alarm now OK' });
    await loop.invoke({ backupctl: 'sweep' });
    expect(iam.isQuarantined(thief)).toBe(false);
  });
});
