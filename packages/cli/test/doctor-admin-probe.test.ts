import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  CloudFormationClient,
  DescribeStacksCommand,
  type StackStatus,
} from '@aws-sdk/client-cloudformation';
import {
  CloudTrailClient,
  DescribeTrailsCommand,
  GetEventSelectorsCommand,
  GetTrailStatusCommand,
} from '@aws-sdk/client-cloudtrail';
import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { IAMClient } from '@aws-sdk/client-iam';
import { S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CLI_DIR } from './support/cli.js';

type Probe = typeof import('../src/doctor/admin-probe.js');
let probeModule: Probe;
beforeAll(async () => {
  probeModule = (await import(
    pathToFileURL(path.join(CLI_DIR, 'dist', 'doctor', 'admin-probe.js')).href
  )) as Probe;
});

// The AWS control plane has no local stand-in: mocked, with answers shaped as AWS documents them.
const cfn = mockClient(CloudFormationClient);
const ct = mockClient(CloudTrailClient);
const cw = mockClient(CloudWatchClient);
const region = 'eu-central-1';
const credentials = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'x' };
const clients = () => ({
  cloudFormation: new CloudFormationClient({ region, credentials }),
  cloudTrail: new CloudTrailClient({ region, credentials }),
  logs: new CloudWatchLogsClient({ region, credentials }),
  iam: new IAMClient({ region, credentials }),
  s3: new S3Client({ region, credentials }),
  cloudWatch: new CloudWatchClient({ region, credentials }),
});
const TRAIL = {
  Name: 'main',
  TrailARN: 'arn:aws:cloudtrail:eu-central-1:111122223333:trail/main',
  HomeRegion: region,
  IsMultiRegionTrail: true,
  CloudWatchLogsLogGroupArn: 'arn:aws:logs:eu-central-1:111122223333:log-group:backupctl-cloudtrail:*',
};
const stack = (name: string, status: StackStatus) => ({
  Stacks: [{ StackName: name, StackStatus: status, CreationTime: new Date() }],
});

function armedAccount() {
  cfn
    .on(DescribeStacksCommand, { StackName: 'backupctl-guard' })
    .resolves(stack('backupctl-guard', 'CREATE_COMPLETE'));
  cfn
    .on(DescribeStacksCommand, { StackName: 'backupctl-device-backupctl-laptop' })
    .resolves(stack('backupctl-device-backupctl-laptop', 'UPDATE_COMPLETE'));
  cw.on(DescribeAlarmsCommand, { AlarmNames: ['backupctl-guard-backupctl-laptop'] }).resolves({
    MetricAlarms: [
      {
        AlarmName: 'backupctl-guard-backupctl-laptop',
        ActionsEnabled: true,
        AlarmActions: ['arn:aws:lambda:eu-central-1:111122223333:function:backupctl-guard-quarantine'],
        StateValue: 'OK',
      },
    ],
  });
  ct.on(DescribeTrailsCommand).resolves({ trailList: [TRAIL] });
  ct.on(GetTrailStatusCommand).resolves({ IsLogging: true });
  ct.on(GetEventSelectorsCommand).resolves({
    EventSelectors: [{ ReadWriteType: 'All', IncludeManagementEvents: true, DataResources: [] }],
  });
}

beforeEach(() => {
  cfn.reset();
  ct.reset();
  cw.reset();
});

describe('doctor: the guard, asked with admin credentials', () => {
  const probe = () =>
    new probeModule.AwsAdminProbe({
      clients: clients(),
      cloudWatch: new CloudWatchClient({ region, credentials }),
    });

  it('armed: both stacks complete, the alarm with its quarantine action enabled, the trail logging', async () => {
    armedAccount();
    const guard = await probeModule.checkGuard(probe(), 'laptop');
    expect(guard.armed).toBe(true);
    expect(guard.trail).toEqual({ logging: true, name: 'main' });
    expect(guard.alarm).toMatchObject({
      name: 'backupctl-guard-backupctl-laptop',
      actionsEnabled: true,
      state: 'OK',
    });
  });

  it('not armed when the device stack is missing, or rolled back', async () => {
    armedAccount();
    cfn.on(DescribeStacksCommand, { StackName: 'backupctl-device-backupctl-laptop' }).rejects(
      Object.assign(new Error('Stack with id backupctl-device-backupctl-laptop does not exist'), {
        name: 'ValidationError',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const missing = await probeModule.checkGuard(probe(), 'laptop');
    expect(missing.armed).toBe(false);
    expect(missing.deviceStack).toMatchObject({ present: false, ok: false });
    cfn
      .on(DescribeStacksCommand, { StackName: 'backupctl-device-backupctl-laptop' })
      .resolves(stack('backupctl-device-backupctl-laptop', 'UPDATE_ROLLBACK_COMPLETE'));
    const rolledBack = await probeModule.checkGuard(probe(), 'laptop');
    expect(rolledBack.armed).toBe(false);
    expect(rolledBack.deviceStack).toMatchObject({
      present: true,
      status: 'UPDATE_ROLLBACK_COMPLETE',
      ok: false,
    });
  });

  it('not armed when the alarm has its actions disabled (nothing would quarantine)', async () => {
    armedAccount();
    cw.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [
        { AlarmName: 'backupctl-guard-backupctl-laptop', ActionsEnabled: false, AlarmActions: ['arn:x'] },
      ],
    });
    expect((await probeModule.checkGuard(probe(), 'laptop')).armed).toBe(false);
  });

  it('a trail that stopped logging is reported with its remedy', async () => {
    armedAccount();
    ct.on(GetTrailStatusCommand).resolves({ IsLogging: false });
    const guard = await probeModule.checkGuard(probe(), 'laptop');
    expect(guard.trail.logging).toBe(false);
    expect(guard.trail.remedy).toBeTruthy();
  });
});

describe('doctor: the findings for a guarded device', () => {
  it('armed guard and logging trail are ok; a disarmed alarm and a stopped trail are FAIL with a fix', async () => {
    const { mkdtemp, mkdir, rm, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const checks = (await import(
      pathToFileURL(path.join(CLI_DIR, 'dist', 'doctor', 'checks.js')).href
    )) as typeof import('../src/doctor/checks.js');
    const dir = await mkdtemp(path.join(tmpdir(), 'doctor-'));
    try {
      const configDir = path.join(dir, 'config');
      await mkdir(configDir);
      await writeFile(
        path.join(configDir, 'config.json'),
        JSON.stringify({
          version: 1,
          repository: 's3://b/laptop',
          region: 'eu-central-1',
          paths: [],
          excludes: [],
          passwordSource: 'keychain',
          device: 'laptop',
        }),
      );
      const env = {
        configDir,
        cacheDir: path.join(dir, 'cache'),
        password: undefined,
        credentialsDirectory: undefined,
        awsTraceFile: undefined,
        host: 'h',
        desktop: false,
        journal: false,
        deviceKey: undefined,
        newPassword: undefined,
        s3TimeoutMs: undefined,
      };
      const secrets = new Map([
        ['repository-password:s3://b/laptop', 'pw'],
        ['aws-access-key:laptop', '{"accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"x"}'],
      ]);
      const keychain = {
        name: 'test keychain',
        writable: true,
        get: async (a: string) => secrets.get(a),
        set: async () => {},
        delete: async () => false,
      };
      const status = async () => ({
        device: {
          configFile: '',
          repository: 's3://b/laptop',
          paths: [],
          excludes: [],
          host: 'h',
          passwordSource: 'keychain' as const,
        },
        repository: { reachable: true, snapshots: 3 },
        health: { state: 'ok' as const, time: new Date().toISOString(), source: 'probe' as const },
      });
      armedAccount();
      const probe = new probeModule.AwsAdminProbe({
        clients: clients(),
        cloudWatch: new CloudWatchClient({ region, credentials }),
      });
      const good = await checks.runDoctor({
        env,
        keychain,
        admin: probe,
        status,
        exec: async () => ({ stdout: '', stderr: '', code: 0 }),
      });
      const by = (r: typeof good, check: string) => r.findings.find((f) => f.check === check);
      expect(by(good, 'passphrase')?.status).toBe('ok');
      expect(by(good, 'AWS key')?.status).toBe('ok');
      expect(by(good, 'bucket')).toMatchObject({ status: 'ok', detail: 's3://b/laptop: 3 snapshot(s)' });
      expect(by(good, 'guard')?.status).toBe('ok');
      expect(by(good, 'guard')?.detail).toMatch(/^armed: /);
      expect(by(good, 'trail')?.status).toBe('ok');
      expect(by(good, 'timer')?.status).toBe('warn');
      expect(good.ok).toBe(true);

      cw.on(DescribeAlarmsCommand).resolves({
        MetricAlarms: [{ AlarmName: 'backupctl-guard-backupctl-laptop', ActionsEnabled: false }],
      });
      ct.on(GetTrailStatusCommand).resolves({ IsLogging: false });
      secrets.delete('repository-password:s3://b/laptop');
      const bad = await checks.runDoctor({
        env,
        keychain,
        admin: probe,
        status,
        exec: async () => ({ stdout: '', stderr: '', code: 0 }),
      });
      expect(by(bad, 'passphrase')).toMatchObject({ status: 'fail', detail: 'not in the keychain' });
      expect(by(bad, 'guard')?.status).toBe('fail');
      expect(by(bad, 'guard')?.detail).toMatch(
        /alarm backupctl-guard-backupctl-laptop has its actions disabled/,
      );
      expect(by(bad, 'guard')?.fix).toBeTruthy();
      expect(by(bad, 'trail')?.status).toBe('fail');
      expect(bad.ok).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
