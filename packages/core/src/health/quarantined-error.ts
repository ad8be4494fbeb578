import { BackupctlError, ErrorCodes } from '../errors/backupctl-error.js';
import type { HealthAssessment } from './classify.js';

/** Recovery steps for the owner, by who attached the deny policy. */
export function recoverySteps(assessment: Pick<HealthAssessment, 'policy'>): string {
  const common =
    'Run `backupctl status` for the recorded details. With the account admin credentials, ' +
    '`backupctl recover` walks through the steps: inspect the denied events, rotate the access key, ' +
    'wait for the alarm to return to OK on its own, detach AWSDenyAll, store the new key and probe it.';
  switch (assessment.policy) {
    case 'backupctl-guard':
      return (
        "backupctl's guard attached AWSDenyAll to this device's IAM user after a denied or " +
        `GetCallerIdentity call was seen in CloudTrail. ${common}`
      );
    case 'aws-compromised-key':
      return (
        'AWS attached an AWSCompromisedKeyQuarantine policy: it found this access key exposed ' +
        `(e.g. published online). Treat the key as stolen. ${common}`
      );
    default:
      return `A policy with an explicit deny was attached to this device's IAM user. ${common}`;
  }
}

/**
 * The device is quarantined: AWS answered an allowed request with an explicit deny in an
 * identity-based policy. The engine stops at the first one — no retries, no further AWS
 * calls — records the state, and exits with the documented code.
 */
export class QuarantinedError extends BackupctlError {
  readonly assessment: HealthAssessment;

  constructor(assessment: HealthAssessment, options: { cause?: unknown; command?: string } = {}) {
    const what = [assessment.action, assessment.resource && `on ${assessment.resource}`]
      .filter(Boolean)
      .join(' ');
    const policy = assessment.policyArn ? ` (${assessment.policyArn})` : '';
    super(
      ErrorCodes.quarantined,
      `This device is quarantined: AWS denied ${what || options.command || 'a request'} with an explicit deny ` +
        `in an identity-based policy${policy}. backupctl made no further AWS calls.`,
      {
        source: 'environment',
        resolution: recoverySteps(assessment),
        cause: options.cause,
        details: { ...assessment, ...(options.command ? { command: options.command } : {}) },
      },
    );
    this.assessment = assessment;
  }
}
