/**
 * Quarantine, seen from the device (DESIGN.md): health states driven through the real binary.
 * A proxy in front of s3rver answers chosen requests with AWS error bodies (ours, shaped like
 * the real ones of shared/aws-errors/), and records every request, so each test can count what was sent.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsErrorBody, oneLineXml, type S3ErrorProxy, startS3ErrorProxy } from './fixtures/s3-error-proxy.js';
import { type S3Server, startS3Server } from './fixtures/s3-server.js';
import { assertBuilt, type BinResult, makeS3Device, type S3Device } from './support/backupctl-bin.js';

const BUCKET = 'quarantine-e2e';
const DEVICE = 'laptop-q';

/** The captured explicit deny, as S3 sends it: one line (its poster pretty-printed it). */
const EXPLICIT_DENY = oneLineXml(awsErrorBody('s3-AccessDenied-explicit-deny-identity-based-policy.xml'));
const EXPLICIT_PHRASE = 'with an explicit deny in an identity-based policy';
/**
 * Newer S3 messages append the denying policy's ARN (docs/access-manifest.md, "Health
 * states"): the guard's AWSDenyAll.
 */
const EXPLICIT_DENY_DENYALL = EXPLICIT_DENY.replace(
  EXPLICIT_PHRASE,
  `${EXPLICIT_PHRASE}: arn:aws:iam::aws:policy/AWSDenyAll`,
);
/** The same body with the implicit-deny wording of the IAM User Guide's template. */
const IMPLICIT_DENY = EXPLICIT_DENY.replace(
  EXPLICIT_PHRASE,
  'because no identity-based policy allows the s3:PutObject action',
);

interface StatusDoc {
  health: { state: string; source: string; policy?: string; message?: string };
  repository: { reachable: boolean };
}
interface ErrorDoc {
  error: { code: string; message: string; resolution?: string };
  exitCode: number;
}

/** An HTTP Date 10 minutes ahead of this machine's clock. */
function skewedDate(): string {
  return new Date(Date.now() + 10 * 60_000).toUTCString();
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('quarantine and the other health states, through the binary', () => {
  let s3: S3Server;
  let proxy: S3ErrorProxy;
  let device: S3Device;
  let originalConfig: string;
  const others: S3Device[] = [];

  const run = async (args: string[], extra: Record<string, string> = {}): Promise<BinResult> =>
    device.run(args, extra);
  const status = async (): Promise<StatusDoc> => {
    const r = await run(['status', '--json']);
    return r.json<StatusDoc>();
  };
  const edit = async (name: string, text: string) => {
    await mkdir(path.join(device.src, 'docs'), { recursive: true });
    await writeFile(path.join(device.src, 'docs', name), text);
  };
  /**
   * Another device of its own (config, cache, health state) with this device's config
   * changed — so the failure cases below run side by side without sharing any state.
   */
  const variant = async (change: (config: Record<string, unknown>) => void): Promise<S3Device> => {
    const other = await makeS3Device();
    others.push(other);
    const config = JSON.parse(originalConfig) as Record<string, unknown>;
    change(config);
    await mkdir(other.env.BACKUPCTL_CONFIG_DIR as string, { recursive: true });
    await writeFile(
      path.join(other.env.BACKUPCTL_CONFIG_DIR as string, 'config.json'),
      `${JSON.stringify(config, null, 2)}\n`,
    );
    return other;
  };
  const statusOf = async (d: S3Device, extra: Record<string, string> = {}) =>
    (await d.run(['status', '--json'], extra)).json<StatusDoc>();

  beforeAll(async () => {
    assertBuilt();
    s3 = await startS3Server();
    await s3.createBucket(BUCKET);
    proxy = await startS3ErrorProxy(s3.endpoint);
    device = await makeS3Device();
    await edit('a.txt', 'first\n');
    const init = await run([
      'init',
      '--repo',
      `s3://${BUCKET}/devices/${DEVICE}`,
      '--endpoint',
      proxy.endpoint,
      '--path',
      device.src,
      '--no-keychain',
      '--json',
    ]);
    expect(init.code, init.stderr).toBe(0);
    originalConfig = await readFile(
      path.join(device.env.BACKUPCTL_CONFIG_DIR as string, 'config.json'),
      'utf8',
    );
    const first = await run(['push', '--json']);
    expect(first.code, first.stderr).toBe(0);
  });
  afterAll(async () => {
    await proxy?.stop();
    await s3?.stop();
    await device?.remove();
    await Promise.all(others.map((d) => d.remove()));
  });

  it('explicit deny in an identity-based policy: push stops at the one request, exits 20, status shows it without asking AWS, a recovered device is ok again', async () => {
    await edit('b.txt', 'changed while quarantined\n');
    proxy.reset();
    proxy.answer({ answer: { status: 403, body: EXPLICIT_DENY } });

    const push = await run(['push'], { JOURNAL_STREAM: '8:12345' });
    expect(push.code, push.stderr).toBe(20);
    expect(push.stderr).toMatch(/quarantined/i);
    expect(push.stderr).toContain('backupctl status');
    expect(push.stderr).toContain('backupctl recover');
    // The journal line, at syslog priority 2 (critical).
    expect(push.stderr.split('\n').filter((l) => l.startsWith('<2>'))).toHaveLength(1);
    expect(push.stderr).toMatch(/^<2>backupctl: this device is quarantined/m);
    // One denied call, and nothing after it: no retry, no further request.
    expect(proxy.requests).toHaveLength(1);
    expect(proxy.requests[0]?.answered).toBe(true);

    // status reads the saved state: no request at all (both forms, side by side).
    const [saved, human] = await Promise.all([status(), run(['status'])]);
    expect(saved.health.state).toBe('quarantined');
    expect(saved.health.source).toBe('saved');
    expect(saved.health.message).toContain(EXPLICIT_PHRASE);
    expect(human.code, human.stderr).toBe(20);
    expect(human.stdout).toMatch(/health\s+quarantined/);
    expect(human.stdout).toContain('QUARANTINED since');
    expect(human.stdout).toContain('backupctl recover');
    expect(human.stdout).toMatch(/rotate the access key/i);
    expect(human.stdout).toMatch(/detach AWSDenyAll/i);
    expect(human.stdout).toMatch(/return to OK on its own/i);
    expect(human.stdout).toMatch(/By hand: delete the access key/);
    expect(proxy.requests).toHaveLength(1);

    // Still quarantined, with the policy ARN named (newer messages), and the answer's Date 10
    // minutes off — where the SDK would "correct" its clock and retry the 403: the --json
    // error shape, and again exactly one request.
    proxy.reset();
    proxy.answer({ answer: { status: 403, body: EXPLICIT_DENY_DENYALL, headers: { date: skewedDate() } } });
    const again = await run(['push', '--json']);
    expect(again.code, again.stderr).toBe(20);
    // Not under systemd (no JOURNAL_STREAM): no priority prefix.
    expect(again.stderr).not.toMatch(/^<\d>/m);
    const doc = again.json<ErrorDoc>();
    expect(Object.keys(doc).sort()).toEqual(['error', 'exitCode']);
    expect(doc.exitCode).toBe(20);
    expect(doc.error.code).toBe('QUARANTINED');
    expect(doc.error.message).toMatch(/quarantined/);
    expect(doc.error.message).toContain('arn:aws:iam::aws:policy/AWSDenyAll');
    expect(doc.error.resolution).toMatch(/AWSDenyAll/);
    expect(doc.error.resolution).toContain('backupctl recover');
    expect(proxy.requests).toHaveLength(1);
    const named = await status();
    expect(named.health).toMatchObject({ state: 'quarantined', policy: 'backupctl-guard' });
    expect(proxy.requests).toHaveLength(1);
    // Asked to, status makes one allowed request — and stops at its deny.
    const probed = (await run(['status', '--probe', '--json'])).json<StatusDoc>();
    expect(probed.health).toMatchObject({ state: 'quarantined', source: 'probe' });
    expect(proxy.requests).toHaveLength(2);

    // Recovered by hand (the deny policy detached): the next push's first request is answered
    // by S3 itself, the push succeeds, and the device is healthy again.
    proxy.reset();
    const recovered = await run(['push', '--json']);
    expect(recovered.code, recovered.stderr).toBe(0);
    expect(proxy.requests.length).toBeGreaterThan(0);
    expect(proxy.requests.filter((r) => r.answered)).toEqual([]);
    const healthy = await status();
    expect(healthy.health.state).toBe('ok');
    expect(healthy.repository.reachable).toBe(true);
  });

  it('explicit deny from the first write on (the deny policy attached mid-push): that PUT is the last request', async () => {
    await edit('d.txt', 'a small change: one pack\n');
    proxy.reset();
    proxy.answer({ method: 'PUT', answer: { status: 403, body: EXPLICIT_DENY_DENYALL } });
    const push = await run(['push', '--json']);
    expect(push.code, push.stderr).toBe(20);
    expect(push.json<ErrorDoc>().error.code).toBe('QUARANTINED');
    // The reads before it were answered by S3; the one denied PUT ended the run: no retry, no
    // index or snapshot upload after it.
    const denied = proxy.requests.filter((r) => r.answered);
    expect(denied).toHaveLength(1);
    expect(proxy.requests.at(-1)).toBe(denied[0]);
    expect(denied[0]?.method).toBe('PUT');
    expect(proxy.requests.length).toBeGreaterThan(1);
    const before = proxy.requests.length;
    expect((await status()).health).toMatchObject({ state: 'quarantined', policy: 'backupctl-guard' });
    expect(proxy.requests).toHaveLength(before);
  });

  it('implicit deny ("because no identity-based policy allows"): exit 21, state denied, never quarantined', async () => {
    await edit('c.txt', 'implicit\n');
    proxy.reset();
    proxy.answer({ answer: { status: 403, body: IMPLICIT_DENY } });
    const push = await run(['push', '--json']);
    expect(push.code, push.stderr).toBe(21);
    expect(push.json<ErrorDoc>().error.code).toBe('DENIED');
    expect(proxy.requests.filter((r) => r.answered)).toHaveLength(1);
    const after = await status();
    expect(after.health.state).toBe('denied');
    proxy.reset();
  });

  it('a bare "Access Denied" (the pre-2024 body): exit 21, state unknown-denied, one request and no probe — never quarantined', async () => {
    proxy.reset();
    proxy.answer({ answer: { status: 403, body: awsErrorBody('s3-AccessDenied-generic.xml') } });
    const push = await run(['push', '--json']);
    expect(push.code, push.stderr).toBe(21);
    expect(push.json<ErrorDoc>().error.code).toBe('DENIED');
    expect(proxy.requests).toHaveLength(1);
    expect((await status()).health.state).toBe('unknown-denied');
    proxy.reset();
  });

  // These three go straight to s3rver (or nowhere), each on a device of its own: no proxy
  // rule and no shared state, so they run side by side.
  it.concurrent('InvalidAccessKeyId (s3rver does not know the key): exit 22, state key-invalid', async () => {
    const d = await variant((c) => {
      c.endpoint = s3.endpoint;
    });
    const wrongKey = { BACKUPCTL_AWS_ACCESS_KEY_ID: 'AKIADELETEDKEY000000' };
    const push = await d.run(['push', '--json'], wrongKey);
    expect(push.code, push.stderr).toBe(22);
    expect(push.json<ErrorDoc>().error.code).toBe('KEY_INVALID');
    expect((await statusOf(d, wrongKey)).health.state).toBe('key-invalid');
  });

  it.concurrent('NoSuchBucket (a bucket s3rver does not have): exit 24, state bucket-missing', async () => {
    const d = await variant((c) => {
      c.endpoint = s3.endpoint;
      c.repository = `s3://no-such-bucket-e2e/devices/${DEVICE}`;
    });
    const push = await d.run(['push', '--json']);
    expect(push.code, push.stderr).toBe(24);
    expect(push.json<ErrorDoc>().error.code).toBe('BUCKET_MISSING');
    expect((await statusOf(d)).health.state).toBe('bucket-missing');
  });

  it.concurrent('connection refused (an endpoint nothing listens on): exit 23, state offline, never quarantined', async () => {
    const port = await closedPort();
    const d = await variant((c) => {
      c.endpoint = `http://127.0.0.1:${port}`;
    });
    const push = await d.run(['push', '--json']);
    expect(push.code, push.stderr).toBe(23);
    expect(push.json<ErrorDoc>().error.code).toBe('OFFLINE');
    const after = await statusOf(d);
    expect(after.health.state).toBe('offline');
    expect(after.repository.reachable).toBe(false);
  });
});
