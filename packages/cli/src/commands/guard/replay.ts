import { BackupctlError, ErrorCodes, errorMessage } from '@backupctl/core';
import { guardFilterPattern, replayCloudTrail } from '@backupctl/stack';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { printable, table } from '../../render/format.js';

export default class GuardReplay extends BaseCommand {
  static override summary = "Replay CloudTrail files through the guard's metric filter, offline.";
  static override description =
    `Shows which records the guard would have counted — each one would quarantine its device user. Files as CloudTrail delivers them to S3 ({"Records":[…]}, gzipped or not) or JSON lines, one record a line. Without --pattern each record is tested with the guard's pattern pinned to that record's own account.

Exit codes: 0 whether or not records match; 1 a file cannot be read or is not CloudTrail; 2 the pattern is not valid filter-pattern syntax.

--json prints {"scanned":N,"matched":[{"eventID","eventName","errorCode","user","eventTime"}]}.`;
  static override examples = [
    '<%= config.bin %> guard replay ~/Downloads/123456789012_CloudTrail_us-east-1_*.json.gz',
    '<%= config.bin %> guard replay --json events.jsonl',
    `<%= config.bin %> guard replay --pattern '{ $.eventName = "DeleteObject" }' events.jsonl`,
  ];
  static override strict = false;
  static override args = {
    files: Args.string({ description: 'CloudTrail files (repeatable).', required: true }),
  };
  static override flags = {
    pattern: Flags.string({
      description: "A CloudWatch Logs JSON filter pattern to replay instead of the guard's.",
    }),
    account: Flags.string({ description: "Pin the guard's pattern to this AWS account (12 digits)." }),
  };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(GuardReplay);
    if (flags.account !== undefined) {
      // A bad --account is the user's input: checked by the pattern's own builder, up
      // front, so that no other TypeError is ever mistaken for a usage error.
      try {
        guardFilterPattern({ accountId: flags.account });
      } catch (error) {
        throw new BackupctlError(ErrorCodes.usage, errorMessage(error), { cause: error });
      }
    }
    const result = await replayCloudTrail(argv as string[], {
      pattern: flags.pattern,
      accountId: flags.account,
    });
    // The JSON contract is exactly these five fields: `location` stays in human output.
    const matched = result.matched.map(({ eventID, eventName, errorCode, user, eventTime }) => ({
      eventID,
      eventName,
      errorCode,
      user,
      eventTime,
    }));
    if (this.jsonMode) return this.printJson({ scanned: result.scanned, matched });
    if (result.matched.length > 0) {
      this.say(
        table([
          ['TIME', 'USER', 'EVENT', 'ERROR', 'WHERE'],
          ...result.matched.map((m) => [
            m.eventTime ?? '-',
            printable(m.user ?? '-'),
            printable(m.eventName ?? '-'),
            printable(m.errorCode ?? '-'),
            printable(m.location),
          ]),
        ]),
      );
    }
    this.say(
      `${result.matched.length} of ${result.scanned} record(s) match ${flags.pattern === undefined ? "the guard's pattern" : 'the pattern'}`,
    );
  }
}
