/**
 * Evaluates an AWS trace (`BACKUPCTL_AWS_TRACE`, one JSON line per request sent) against an
 * IAM policy with @cloud-copilot/iam-simulate — the third leg of the invariant "the device
 * never makes a request that its own policy denies". Tests only: the simulator is AGPL and a
 * devDependency; shipped code never imports it.
 */
import { readFile } from 'node:fs/promises';
import type { AwsTraceLine, PolicyDocument } from '@backupctl/core';
import { runSimulation } from '@cloud-copilot/iam-simulate';

export const ACCOUNT_ID = '123456789012';

/** The device user's ARN as the device stack creates it: `user/backupctl/backupctl-<device>`. */
export function devicePrincipal(device: string, accountId = ACCOUNT_ID): string {
  return `arn:aws:iam::${accountId}:user/backupctl/backupctl-${device}`;
}

/** Every line of a trace file, parsed. */
export async function readTrace(file: string): Promise<AwsTraceLine[]> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as AwsTraceLine);
}

/** One authorisation AWS makes for a traced request (the request's own, or an implied one). */
export interface Authorisation {
  /** Index of the trace line it belongs to. */
  line: number;
  implied: boolean;
  action: string;
  resource: string;
  context: Record<string, string>;
}

export interface Evaluation extends Authorisation {
  /** 'Allowed', 'ExplicitlyDenied', 'ImplicitlyDenied', or 'error: …' when the simulation could not run. */
  result: string;
  /** Context keys the simulator dropped as not applying to the action (should be none). */
  ignoredContextKeys: string[];
}

/** The authorisations a trace line stands for: its own request, plus what S3 implies (404 → ListBucket). */
export function authorisationsOf(lines: readonly AwsTraceLine[]): Authorisation[] {
  const out: Authorisation[] = [];
  lines.forEach((line, index) => {
    out.push({
      line: index,
      implied: false,
      action: line.action ?? `${line.service}:${line.command.replace(/Command$/, '')}`,
      resource: line.resource ?? '*',
      context: line.context,
    });
    for (const implied of line.implied ?? []) {
      out.push({ line: index, implied: true, ...implied });
    }
  });
  return out;
}

/**
 * Simulates every authorisation of the trace against `policy` as the device user. With
 * `accountId`, `s3:ResourceAccount` is added to each context: S3 knows the bucket's owner,
 * the device cannot observe it (docs/access-manifest.md).
 */
export async function evaluateTrace(
  lines: readonly AwsTraceLine[],
  options: { policy: PolicyDocument; device: string; accountId?: string },
): Promise<Evaluation[]> {
  const accountId = options.accountId ?? ACCOUNT_ID;
  const evaluations: Evaluation[] = [];
  for (const auth of authorisationsOf(lines)) {
    const contextVariables: Record<string, string> = {
      ...auth.context,
      ...(options.accountId !== undefined ? { 's3:ResourceAccount': options.accountId } : {}),
    };
    const simulation = await runSimulation(
      {
        identityPolicies: [{ name: 'device-policy', policy: options.policy }],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        request: {
          action: auth.action,
          principal: devicePrincipal(options.device, accountId),
          resource: { resource: auth.resource, accountId },
          contextVariables,
        },
      },
      {},
    );
    if (simulation.resultType === 'error') {
      evaluations.push({ ...auth, result: `error: ${simulation.errors.message}`, ignoredContextKeys: [] });
      continue;
    }
    const ignored =
      simulation.resultType === 'single'
        ? (simulation.result.ignoredContextKeys ?? [])
        : simulation.results.flatMap((r) => r.ignoredContextKeys ?? []);
    evaluations.push({ ...auth, result: simulation.overallResult, ignoredContextKeys: ignored });
  }
  return evaluations;
}

/** The evaluations that were not Allowed. */
export function denials(evaluations: readonly Evaluation[]): Evaluation[] {
  return evaluations.filter((e) => e.result !== 'Allowed');
}
