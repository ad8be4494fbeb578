import { generateDevicePolicy } from '@backupctl/core';
import type { CfnTemplate } from './cfn.js';
import { type DeviceTemplateOptions, deviceTemplate } from './device-template.js';

export interface DeviceStackOptions {
  bucket: string;
  device: string;
  accountId?: string;
  partition?: string;
  guard?: DeviceTemplateOptions['guard'];
}

/** The IAM user name of a device: prefixed, so it never collides with a person's user. */
export function deviceUserName(device: string): string {
  return `backupctl-${device}`;
}

/**
 * The device stack with its policy generated from core's access manifest — the only way
 * a device policy is ever made (DESIGN.md: never written by hand).
 */
export function deviceStackTemplate(options: DeviceStackOptions): CfnTemplate {
  const policyDocument = generateDevicePolicy({
    bucket: options.bucket,
    device: options.device,
    accountId: options.accountId,
    partition: options.partition,
  });
  return deviceTemplate({
    deviceUser: deviceUserName(options.device),
    policyDocument: policyDocument as unknown as DeviceTemplateOptions['policyDocument'],
    guard: options.guard,
  });
}
