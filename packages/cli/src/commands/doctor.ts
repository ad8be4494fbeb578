import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { runDoctor } from '../doctor/checks.js';
import { ExitCodes } from '../exit-codes.js';

export default class Doctor extends BaseCommand {
  static override summary = 'Check everything a scheduled push depends on, and say what to fix.';
  static override description =
    `Checks, in order: the device config, the secret store (keychain), the passphrase, the device's AWS key, the repository or bucket (one allowed request), the guard (stacks complete, alarm armed) and the CloudTrail trail it watches, and the timer.

The guard and trail checks need the owner's admin credentials (--admin-profile); they never use the device key. Exit codes: 0 nothing to fix (warnings allowed); 42 something to fix; 20 quarantined; 10 not set up.`;
  static override examples = [
    '<%= config.bin %> doctor',
    '<%= config.bin %> doctor --admin-profile admin',
    '<%= config.bin %> doctor --json',
  ];
  static override flags = {
    'admin-profile': Flags.string({
      description: "The owner's AWS admin profile, for the guard and trail checks.",
    }),
    'admin-region': Flags.string({ description: "Region of the guard stacks (default: the profile's)." }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Doctor);
    const env = this.environment();
    // The admin probe (CloudWatch, CloudFormation, IAM clients) is loaded only when asked for.
    const admin = flags['admin-profile']
      ? new (await import('../doctor/admin-probe.js')).AwsAdminProbe({
          profile: flags['admin-profile'],
          ...(flags['admin-region'] ? { region: flags['admin-region'] } : {}),
        })
      : undefined;
    const report = await runDoctor({
      env,
      keychain: (config) => this.secretStore(config),
      ...(admin ? { admin } : {}),
    });
    const first = report.findings[0];
    const exitCode = report.quarantined
      ? ExitCodes.quarantined
      : first?.check === 'config' && first.status === 'fail'
        ? ExitCodes.notFound
        : report.ok
          ? ExitCodes.ok
          : ExitCodes.doctor;
    if (this.jsonMode) {
      this.printJson({ ...report, exitCode });
    } else {
      const mark = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' } as const;
      for (const f of report.findings) {
        this.say(`${mark[f.status]}  ${f.check.padEnd(13)} ${f.detail}`);
        if (f.fix && f.status !== 'ok') this.say(`      ${''.padEnd(13)} fix: ${f.fix}`);
      }
      const fails = report.findings.filter((f) => f.status === 'fail').length;
      this.say('');
      this.say(fails === 0 ? 'nothing to fix' : `${fails} thing(s) to fix`);
    }
    if (exitCode !== ExitCodes.ok) {
      process.exitCode = exitCode;
      this.exit(exitCode);
    }
  }
}
