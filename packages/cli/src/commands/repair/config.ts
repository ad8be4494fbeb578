import {
  BackupctlError,
  ErrorCodes,
  isS3Repository,
  openBackend,
  repairConfig,
  resolveDeviceKey,
  withDeviceHealth,
} from '@backupctl/core';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { promptHidden } from '../../render/prompt.js';

export default class RepairConfig extends BaseCommand {
  static override summary = "Rebuild a repository's lost `config` object from its key files.";
  static override description =
    `When the object \`config\` of a repository is lost, its key files, packs, index files and snapshots are all still there and describe themselves. This writes a new \`config\` (create-only: it never replaces one) once the passphrase has opened one of the key files. Existing snapshots stay restorable; the chunker parameters and pack size go back to the defaults, so the next push may deduplicate less against older data.

Never run \`backupctl init\` over such a repository instead.`;
  static override examples = [
    '<%= config.bin %> repair config',
    'BACKUPCTL_PASSWORD=… <%= config.bin %> repair config --repo s3://my-backups/devices/laptop --json',
  ];
  static override flags = {
    repo: Flags.string({
      description: "Repository: a folder or s3://bucket/prefix (default: this device's).",
    }),
    endpoint: Flags.string({ description: 'S3-compatible endpoint URL (path-style addressing).' }),
    region: Flags.string({ description: 'AWS region of the bucket.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(RepairConfig);
    const env = this.environment();
    const device = flags.repo ? undefined : await this.deviceConfig(env);
    const target = {
      repository: flags.repo ?? device!.repository,
      endpoint: flags.endpoint ?? device?.endpoint,
      region: flags.region ?? device?.region,
    };
    const password = env.password ?? (await this.askPassword());
    // On S3 the device's own key, never the SDK's default chain (it may hold admin keys).
    const credentials = isS3Repository(target.repository)
      ? await resolveDeviceKey({
          env,
          config: { repository: target.repository, ...(device?.device ? { device: device.device } : {}) },
          keychain: device && this.useKeychain ? this.secretStore(device) : undefined,
        })
      : undefined;
    const backend = await openBackend(target, {
      traceFile: env.awsTraceFile,
      timeoutMs: env.s3TimeoutMs,
      ...(credentials ? { credentials } : {}),
    });
    const result = await withDeviceHealth(env, target, () => repairConfig(backend, password));
    if (this.jsonMode) return this.printJson(result);
    this.say(
      `Rebuilt config of ${target.repository} (new id ${result.config.id.slice(0, 8)}), opened with ${result.keyFile}`,
    );
    this.say(`${result.snapshots} snapshot(s), ${result.packs} pack(s) found`);
    this.say('Next: `backupctl check --read-data` to verify every object.');
  }

  private async askPassword(): Promise<string> {
    if (!process.stdin.isTTY || this.jsonMode) {
      throw new BackupctlError(ErrorCodes.passwordMissing, 'no passphrase given', {
        resolution: 'Set BACKUPCTL_PASSWORD, or run `backupctl repair config` in a terminal to be asked.',
      });
    }
    return promptHidden('Repository passphrase: ');
  }
}
