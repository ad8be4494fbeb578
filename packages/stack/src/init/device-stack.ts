import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { deployStack, describeStack } from '../deploy/deploy-stack.js';
import type { CfnTemplate } from '../templates/cfn.js';
import { renderTemplate } from '../templates/cfn.js';
import { deviceStackTemplate } from '../templates/device-stack.js';
import { DeviceIds, DeviceOutputs } from '../templates/device-template.js';
import { TEMPLATE_VERSION } from '../templates/guard-template.js';
import type { GuardEventSink } from './events.js';
import { compareVersions, outputsOf } from './guard-stack.js';

/**
 * Phase 1 of arming: the device template without its alarm — and without anything that
 * refers to the alarm (its invoke permission, its output). The user and policy are there;
 * nothing can quarantine the device while IAM propagates and the probe backs off.
 */
export function withoutAlarm(template: CfnTemplate): CfnTemplate {
  const resources = { ...template.Resources };
  const alarmIds = Object.entries(resources)
    .filter(([id, r]) => id === DeviceIds.alarm || (r as { Type?: string }).Type === 'AWS::CloudWatch::Alarm')
    .map(([id]) => id);
  const refersToAlarm = (value: unknown) => {
    const text = JSON.stringify(value);
    return alarmIds.some((id) => text.includes(`"Ref":"${id}"`) || text.includes(`"${id}"`));
  };
  for (const id of alarmIds) delete resources[id];
  for (const [id, r] of Object.entries(resources)) if (refersToAlarm(r)) delete resources[id];
  const outputs = Object.fromEntries(
    Object.entries(template.Outputs ?? {}).filter(([, o]) => !refersToAlarm(o)),
  );
  return { ...template, Resources: resources, Outputs: outputs };
}

export interface DeviceStackState {
  exists: boolean;
  /** The alarm is deployed (phase 2 done). */
  armed: boolean;
  version: string | undefined;
  outputs: Record<string, string>;
}

export async function deviceStackState(
  cfn: CloudFormationClient,
  stackName: string,
): Promise<DeviceStackState> {
  const stack = await describeStack(cfn, stackName);
  const outputs = outputsOf(stack?.Outputs);
  const usable = stack !== undefined && !/ROLLBACK_COMPLETE$|DELETE_COMPLETE/.test(stack.StackStatus ?? '');
  return {
    exists: usable,
    armed: usable && outputs[DeviceOutputs.alarmName] !== undefined,
    version: outputs[DeviceOutputs.templateVersion],
    outputs,
  };
}

export interface DeployDeviceOptions {
  cloudFormation: CloudFormationClient;
  stackName: string;
  bucket: string;
  device: string;
  accountId: string;
  guardStackName: string;
  phase: 'user' | 'alarm';
  onEvent: GuardEventSink;
  pollIntervalMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** Deploys the device stack for one phase: `user` (user + policy) or `alarm` (everything). */
export async function deployDeviceStack(options: DeployDeviceOptions): Promise<Record<string, string>> {
  const full = deviceStackTemplate({
    bucket: options.bucket,
    device: options.device,
    accountId: options.accountId,
    guard: { stackName: options.guardStackName },
  });
  const template = options.phase === 'user' ? withoutAlarm(full) : full;
  const step = options.phase === 'user' ? 'device-stack' : 'alarm';
  const result = await deployStack({
    cloudFormation: options.cloudFormation,
    stackName: options.stackName,
    templateBody: renderTemplate(template),
    tags: { 'backupctl:stack': 'device', 'backupctl:device': options.device },
    onProgress: (progress) => options.onEvent({ type: 'deploy', step, progress }),
    ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
  });
  return result.outputs;
}

/** Is the deployed device stack older than this backupctl's template? */
export function deviceStackOutdated(state: DeviceStackState): boolean {
  return state.version === undefined || compareVersions(state.version, TEMPLATE_VERSION) < 0;
}
