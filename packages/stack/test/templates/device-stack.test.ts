import { generateDevicePolicy } from '@backupctl/core';
import { describe, expect, it } from 'vitest';
import { DeviceIds, deviceStackTemplate, deviceUserName } from '../../src/templates/index.js';
import { validateTemplate } from './cfn-spec.js';

describe('device stack from the access manifest', () => {
  const template = deviceStackTemplate({ bucket: 'my-backups', device: 'laptop', accountId: '111122223333' });
  const props = (id: string) => template.Resources[id]!.Properties as Record<string, unknown>;

  it('carries exactly the policy the generator makes, for the prefixed user', async () => {
    expect(props(DeviceIds.policy).PolicyDocument).toEqual(
      generateDevicePolicy({ bucket: 'my-backups', device: 'laptop', accountId: '111122223333' }),
    );
    expect(props(DeviceIds.user).UserName).toBe(deviceUserName('laptop'));
    expect(props(DeviceIds.user).Path).toBe('/backupctl/');
    expect(await validateTemplate(template)).toEqual([]);
  });

  it('refuses a device name that cannot be a key prefix', () => {
    expect(() => deviceStackTemplate({ bucket: 'my-backups', device: '../other' })).toThrow();
  });
});
