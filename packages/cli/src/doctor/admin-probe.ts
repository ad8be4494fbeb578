import { type CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import {
  type AdminClients,
  adminClients,
  checkTrail,
  DEFAULT_GUARD_STACK_NAME,
  describeStack,
  deviceStackName,
  deviceUserName,
  guardAlarmName,
} from '@backupctl/stack';

/**
 * What `doctor` asks the owner's AWS account (with admin credentials, never the device key:
 * a device-key call outside its policy would be denied, and a denied call quarantines).
 */
export interface AdminProbe {
  /** A CloudFormation stack: there, and in a settled good state? */
  stack(name: string): Promise<{ present: boolean; status?: string }>;
  /** The guard's alarm for the device: there, and with its actions (the quarantine) enabled? */
  alarm(name: string): Promise<{ present: boolean; actionsEnabled: boolean; state?: string }>;
  /** A multi-region trail that logs to CloudWatch Logs (what the guard watches). */
  trail(): Promise<{ logging: boolean; name?: string; remedy?: string }>;
}

export interface GuardCheck {
  guardStack: { name: string; present: boolean; status?: string; ok: boolean };
  deviceStack: { name: string; present: boolean; status?: string; ok: boolean };
  alarm: { name: string; present: boolean; actionsEnabled: boolean; state?: string };
  /** Stacks complete and the alarm's quarantine action enabled. */
  armed: boolean;
  trail: { logging: boolean; name?: string; remedy?: string };
}

const GOOD = /^(CREATE|UPDATE|IMPORT)_COMPLETE$/;

/** Whether the device's guard is in place and armed, and the trail it reads is logging. */
export async function checkGuard(
  probe: AdminProbe,
  device: string,
  guardStackName = DEFAULT_GUARD_STACK_NAME,
): Promise<GuardCheck> {
  const user = deviceUserName(device);
  const [guard, dev, alarm, trail] = await Promise.all([
    probe.stack(guardStackName),
    probe.stack(deviceStackName(user)),
    probe.alarm(guardAlarmName(user)),
    probe.trail(),
  ]);
  const guardStack = { name: guardStackName, ...guard, ok: guard.present && GOOD.test(guard.status ?? '') };
  const deviceStack = { name: deviceStackName(user), ...dev, ok: dev.present && GOOD.test(dev.status ?? '') };
  return {
    guardStack,
    deviceStack,
    alarm: { name: guardAlarmName(user), ...alarm },
    armed: guardStack.ok && deviceStack.ok && alarm.present && alarm.actionsEnabled,
    trail,
  };
}

/** The probe against AWS, with the owner's admin credentials (a profile). */
export class AwsAdminProbe implements AdminProbe {
  private readonly clients: AdminClients;
  private readonly cloudWatch: CloudWatchClient;

  constructor(options: {
    profile?: string;
    region?: string;
    clients?: AdminClients;
    cloudWatch?: CloudWatchClient;
  }) {
    this.clients = options.clients ?? adminClients(options);
    this.cloudWatch = options.cloudWatch ?? this.clients.cloudWatch;
  }

  async stack(name: string): Promise<{ present: boolean; status?: string }> {
    const stack = await describeStack(this.clients.cloudFormation, name);
    return stack
      ? { present: true, ...(stack.StackStatus ? { status: stack.StackStatus } : {}) }
      : { present: false };
  }

  async alarm(name: string): Promise<{ present: boolean; actionsEnabled: boolean; state?: string }> {
    const out = await this.cloudWatch.send(new DescribeAlarmsCommand({ AlarmNames: [name] }));
    const alarm = out.MetricAlarms?.[0];
    if (!alarm) return { present: false, actionsEnabled: false };
    return {
      present: true,
      actionsEnabled: alarm.ActionsEnabled === true && (alarm.AlarmActions?.length ?? 0) > 0,
      ...(alarm.StateValue ? { state: alarm.StateValue } : {}),
    };
  }

  async trail(): Promise<{ logging: boolean; name?: string; remedy?: string }> {
    const result = await checkTrail(this.clients.cloudTrail);
    return result.ok
      ? { logging: true, name: result.trail.name }
      : { logging: false, ...(result.trail ? { name: result.trail.name } : {}), remedy: result.remedy };
  }
}
