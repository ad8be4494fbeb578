import { BackupctlError, ErrorCodes, renderDevicePolicy } from '@backupctl/core';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

export default class GuardPolicy extends BaseCommand {
  static override summary = "Print a device's IAM policy, generated from the access manifest.";
  static override description =
    'The policy allows exactly the S3 requests backupctl makes, on s3://BUCKET/devices/DEVICE/ only; it is never written by hand. The output is the policy document (JSON) with or without --json, ready for `aws iam create-policy --policy-document file://…`.';
  static override examples = [
    '<%= config.bin %> guard policy --bucket my-backups --device laptop',
    '<%= config.bin %> guard policy --bucket my-backups --device laptop --account 123456789012 > policy.json',
    '<%= config.bin %> guard policy --bucket my-backups --device laptop --partition aws-cn',
  ];
  static override flags = {
    bucket: Flags.string({ description: 'The backup bucket.', required: true }),
    device: Flags.string({ description: 'The device name (its prefix is devices/DEVICE/).', required: true }),
    account: Flags.string({
      description: 'AWS account (12 digits) that owns the bucket: pins s3:ResourceAccount.',
    }),
    partition: Flags.string({ description: 'AWS partition: aws, aws-cn, aws-us-gov.', default: 'aws' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(GuardPolicy);
    let text: string;
    try {
      text = renderDevicePolicy({
        bucket: flags.bucket,
        device: flags.device,
        accountId: flags.account,
        partition: flags.partition,
      });
    } catch (error) {
      throw usageError(error);
    }
    process.stdout.write(text);
  }
}

/** The policy generator rejects bad names with a TypeError: that is the user's input. */
function usageError(error: unknown): unknown {
  if (!(error instanceof TypeError)) return error;
  return new BackupctlError(ErrorCodes.usage, error.message, {
    cause: error,
    resolution:
      'Bucket: an S3 bucket name. Device: 1-64 letters, digits, ".", "_" or "-". Account: 12 digits.',
  });
}
