import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BackupctlError, ErrorCodes } from '../errors/index.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { CONFIG_FILE } from './config-file.js';
import { quickDeviceConfig } from './config-quick-check.js';
import type { ConfigParseResult, DeviceConfig } from './config-schema.js';

export { CONFIG_FILE } from './config-file.js';
/** `config.json` in the config folder: what this device backs up, and where to (see config-schema.ts). */
export type { DeviceConfig, DeviceGuardConfig } from './config-schema.js';

export async function loadDeviceConfig(configDir: string): Promise<DeviceConfig> {
  const file = path.join(configDir, CONFIG_FILE);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new BackupctlError(
        ErrorCodes.configMissing,
        `this device is not set up: ${file} does not exist`,
        {
          resolution:
            'Run `backupctl init --bucket NAME` (AWS, with the guard) or `backupctl init --repo DIR` first (or set BACKUPCTL_CONFIG_DIR).',
        },
      );
    }
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new BackupctlError(
      ErrorCodes.configInvalid,
      `${file} is not valid JSON: ${(error as Error).message}`,
      {
        cause: error,
        resolution: `Fix the file (a JSON object as \`backupctl init\` writes it), or move it away and run \`backupctl init\` again.`,
      },
    );
  }
  const result = await parseDeviceConfig(parsed);
  if (!result.ok) {
    const lines = result.problems.map((p) => `${p.field}: ${p.message}`);
    throw new BackupctlError(
      ErrorCodes.configInvalid,
      `${file} is not a valid device config: ${lines.join('; ')}`,
      {
        details: { problems: result.problems },
        resolution: `Fix ${lines.length > 1 ? 'these fields' : 'this field'} in ${file}.`,
      },
    );
  }
  return result.config;
}

export async function saveDeviceConfig(configDir: string, config: DeviceConfig): Promise<string> {
  const file = path.join(configDir, CONFIG_FILE);
  await writeFileAtomic(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

/**
 * The schema's answer, from the quick check when the config is plainly valid: the schema
 * (zod) is loaded only for a config the check is not sure of, to say what is wrong.
 */
async function parseDeviceConfig(value: unknown): Promise<ConfigParseResult> {
  const config = quickDeviceConfig(value);
  if (config) return { ok: true, config };
  return (await import('./config-schema.js')).parseDeviceConfig(value);
}
