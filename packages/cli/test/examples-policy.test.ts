import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { generateDevicePolicy } from '@backupctl/core';
import { expect, it } from 'vitest';
import { ROOT } from '../../../test/support/run-backupctl.js';

// The printed policy in examples/ is what the generator makes today, not a hand copy that
// rots: regenerate it with
//   backupctl guard policy --bucket my-backups --device laptop --account 111122223333
it('examples/policy/device-policy.laptop.json is the generated device policy', async () => {
  const printed = JSON.parse(
    await readFile(path.join(ROOT, 'examples', 'policy', 'device-policy.laptop.json'), 'utf8'),
  );
  expect(printed).toEqual(
    generateDevicePolicy({ bucket: 'my-backups', device: 'laptop', accountId: '111122223333' }),
  );
});
