import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BackupctlError, ErrorCodes } from '@backupctl/core';
import {
  type CfnTemplate,
  DEFAULT_GUARD_STACK_NAME,
  DEFAULT_TRAIL_LOG_GROUP,
  deviceStackName,
  deviceStackTemplate,
  deviceUserName,
  guardTemplate,
  renderTemplate,
} from '@backupctl/stack';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

/** Shown when --bucket/--device are not given: obviously not a real setup. */
const PLACEHOLDER_BUCKET = 'example-backup-bucket';
const PLACEHOLDER_DEVICE = 'example-device';

export default class GuardTemplate extends BaseCommand {
  static override summary = 'Print the CloudFormation templates of the guard stack and a device stack.';
  static override description =
    `The guard stack (one per account) holds the metric filter on the CloudTrail log group, the quarantine Lambda and the SNS topic; its parameters TrailLogGroupName, NotificationEmail and LogRetentionInDays can be set at deploy time. The device stack (one per device) holds the IAM user, its policy generated for s3://BUCKET/devices/DEVICE/, and the alarm that quarantines it: the bucket and device are baked into the policy, so give --bucket and --device (without them, placeholders are used and a warning says so).

Without --out, stdout is one JSON document {"guard": <template>, "device": <template>}. With --out DIR, guard.template.json and device.template.json are written into DIR.`;
  static override examples = [
    '<%= config.bin %> guard template --bucket my-backups --device laptop > templates.json',
    '<%= config.bin %> guard template --bucket my-backups --device laptop --out ./cfn',
    '<%= config.bin %> guard template --bucket my-backups --device laptop --account 123456789012 --email me@example.com --out ./cfn --json',
  ];
  static override flags = {
    bucket: Flags.string({ description: `The backup bucket (default: ${PLACEHOLDER_BUCKET}).` }),
    device: Flags.string({ description: `The device name (default: ${PLACEHOLDER_DEVICE}).` }),
    account: Flags.string({
      description:
        'AWS account (12 digits): pins s3:ResourceAccount in the device policy (the guard filter is always pinned to the account it is deployed in).',
    }),
    partition: Flags.string({ description: 'AWS partition of the device policy.', default: 'aws' }),
    email: Flags.string({ description: 'Default of the NotificationEmail parameter.' }),
    'log-group': Flags.string({
      description: 'Default of the TrailLogGroupName parameter.',
      default: DEFAULT_TRAIL_LOG_GROUP,
    }),
    out: Flags.string({
      description: 'Write one JSON file per stack into this folder (created if missing).',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(GuardTemplate);
    if (flags.bucket === undefined || flags.device === undefined) {
      this.warnUser(
        `no ${flags.bucket === undefined ? '--bucket' : '--device'}: the device template uses the placeholder ${flags.bucket === undefined ? PLACEHOLDER_BUCKET : PLACEHOLDER_DEVICE}; do not deploy it as is.`,
      );
    }
    const device = flags.device ?? PLACEHOLDER_DEVICE;
    let guard: CfnTemplate;
    let deviceStack: CfnTemplate;
    try {
      // The guard's filter is always pinned to the account it is deployed in (Fn::Sub).
      guard = guardTemplate({
        notificationEmail: flags.email,
        trailLogGroupName: flags['log-group'],
      });
      deviceStack = deviceStackTemplate({
        bucket: flags.bucket ?? PLACEHOLDER_BUCKET,
        device,
        accountId: flags.account,
        partition: flags.partition,
      });
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      throw new BackupctlError(ErrorCodes.usage, error.message, { cause: error });
    }
    const stacks = [
      { kind: 'guard', stackName: DEFAULT_GUARD_STACK_NAME, template: guard },
      { kind: 'device', stackName: deviceStackName(deviceUserName(device)), template: deviceStack },
    ] as const;
    if (flags.out === undefined) {
      process.stdout.write(renderTemplate({ guard, device: deviceStack } as unknown as CfnTemplate));
      return;
    }
    await mkdir(flags.out, { recursive: true });
    const files = [];
    for (const stack of stacks) {
      const file = path.resolve(flags.out, `${stack.kind}.template.json`);
      await writeFile(file, renderTemplate(stack.template));
      files.push({ kind: stack.kind, stackName: stack.stackName, file });
    }
    if (this.jsonMode) return this.printJson({ files, warnings: this.warnings });
    for (const f of files) this.say(`wrote ${f.file} (stack ${f.stackName})`);
    this.say(
      `Deploy with: aws cloudformation deploy --template-file ${files[0]?.file} --stack-name ${DEFAULT_GUARD_STACK_NAME} --capabilities CAPABILITY_NAMED_IAM, then the device stack likewise.`,
    );
  }
}
