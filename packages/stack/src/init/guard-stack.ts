import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { deployStack, describeStack } from '../deploy/deploy-stack.js';
import { renderTemplate } from '../templates/cfn.js';
import { GuardOutputs, guardTemplate, TEMPLATE_VERSION } from '../templates/guard-template.js';
import type { GuardEventSink } from './events.js';

/** Compares dotted versions numerically: <0 when a is older than b. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((n) => Number.parseInt(n, 10) || 0);
  const pb = b.split('.').map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export interface EnsureStackOptions {
  cloudFormation: CloudFormationClient;
  stackName: string;
  dryRun: boolean;
  onEvent: GuardEventSink;
  pollIntervalMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * The guard stack, once per account and region: deployed when absent, updated when its
 * template version is older than this backupctl's (or when the e-mail changes), left
 * alone otherwise.
 */
export async function ensureGuardStack(
  options: EnsureStackOptions & { accountId: string; trailLogGroup: string; email?: string },
): Promise<{ status: 'created' | 'updated' | 'current' | 'planned'; outputs: Record<string, string> }> {
  const { cloudFormation, stackName, onEvent } = options;
  onEvent({ type: 'start', step: 'guard-stack', text: `guard stack ${stackName}` });
  const existing = await describeStack(cloudFormation, stackName);
  const version = existing?.Outputs?.find((o) => o.OutputKey === GuardOutputs.templateVersion)?.OutputValue;
  const email = existing?.Parameters?.find((p) => p.ParameterKey === 'NotificationEmail')?.ParameterValue;
  const healthy =
    existing !== undefined &&
    /_COMPLETE$/.test(existing.StackStatus ?? '') &&
    !/ROLLBACK|DELETE/.test(existing.StackStatus ?? '');
  const current =
    healthy &&
    version !== undefined &&
    compareVersions(version, TEMPLATE_VERSION) >= 0 &&
    (options.email === undefined || options.email === email);
  if (current) {
    onEvent({ type: 'ok', step: 'guard-stack', text: `${stackName} is current (template ${version})` });
    return { status: 'current', outputs: outputsOf(existing?.Outputs) };
  }
  const verb =
    existing === undefined ? 'deploy' : `update (template ${version ?? '?'} → ${TEMPLATE_VERSION})`;
  if (options.dryRun) {
    onEvent({
      type: 'plan',
      step: 'guard-stack',
      text: `would ${verb} ${stackName}: metric filter on ${options.trailLogGroup}, quarantine Lambda, SNS topic${options.email ? ` (e-mail ${options.email})` : ''}`,
    });
    return { status: 'planned', outputs: {} };
  }
  const template = guardTemplate({
    trailLogGroupName: options.trailLogGroup,
    ...(options.email !== undefined
      ? { notificationEmail: options.email }
      : email
        ? { notificationEmail: email }
        : {}),
  });
  const result = await deployStack({
    cloudFormation,
    stackName,
    templateBody: renderTemplate(template),
    tags: { 'backupctl:stack': 'guard' },
    onProgress: (progress) => onEvent({ type: 'deploy', step: 'guard-stack', progress }),
    ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
  });
  onEvent({
    type: result.status === 'no-change' ? 'ok' : 'done',
    step: 'guard-stack',
    text: `${stackName} ${result.status === 'created' ? 'deployed' : result.status === 'updated' ? 'updated' : 'unchanged'} (template ${TEMPLATE_VERSION})`,
  });
  return {
    status: result.status === 'created' ? 'created' : result.status === 'updated' ? 'updated' : 'current',
    outputs: result.outputs,
  };
}

export function outputsOf(
  outputs: { OutputKey?: string; OutputValue?: string }[] | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const o of outputs ?? [])
    if (o.OutputKey && o.OutputValue !== undefined) out[o.OutputKey] = o.OutputValue;
  return out;
}
