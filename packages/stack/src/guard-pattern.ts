/**
 * The guard's CloudWatch Logs metric filter: which CloudTrail events count as a
 * backupctl device misbehaving. See docs/guard-pattern.md for the reasoning.
 *
 * Matched: events of an IAM user under the path `/backupctl/` of THE account (any
 * partition: `aws`, `aws-cn`, `aws-us-gov`, …) whose call failed authorization, or whose
 * call was one of core's `TRIPWIRE_CALLS` (`GetCallerIdentity`, `GetSessionToken`: a device
 * never calls STS, neither call can be denied, and they are a thief's first calls).
 *
 * The guard template always pins the account with `Fn::Sub` and `${AWS::AccountId}`
 * (`guardFilterPatternSub()`): cross-account S3 data events reach the bucket owner's trail,
 * so unpinned, a look-alike `/backupctl/` user of another account could quarantine this
 * account's same-named devices, or mint 1,000 user names and get the metric filter disabled.
 *
 * Authorization-failure spellings covered (as seen in real CloudTrail records, see
 * shared/cloudtrail/README.md):
 * - `*AccessDenied*`         — `AccessDenied` (every service but EC2), `AccessDeniedException`
 *                              (should a service log the SDK's spelling), and `VpceAccessDenied`
 *                              (S3 through a VPC endpoint whose policy denies). The CIS
 *                              `AccessDenied*` misses the last one, which is a denial of a
 *                              backupctl user's call all the same.
 * - `*UnauthorizedOperation` — EC2 (`Client.UnauthorizedOperation`, `UnauthorizedOperation`).
 * Not covered, on purpose: authentication failures (`InvalidClientTokenId`,
 * `ExpiredToken`, …: the caller is not proven to be the user) and ordinary errors
 * (`NoSuchKey`, `Client.DryRunOperation`, …).
 */

import { TRIPWIRE_CALLS } from '@backupctl/core';

/** CloudWatch metric namespace of the guard's metric filter. */
export const GUARD_METRIC_NAMESPACE = 'backupctl';
/** CloudWatch metric name of the guard's metric filter. */
export const GUARD_METRIC_NAME = 'DeniedOrIdentityCalls';
/** Name of the metric dimension carrying the IAM user name. */
export const GUARD_METRIC_DIMENSION_NAME = 'User';
/** Selector whose value fills the `User` dimension. */
export const GUARD_METRIC_DIMENSION_SELECTOR = '$.userIdentity.userName';
/** The metric filter's dimensions, as CloudFormation's `AWS::Logs::MetricFilter` wants them. */
export const GUARD_METRIC_DIMENSIONS: Readonly<Record<string, string>> = Object.freeze({
  [GUARD_METRIC_DIMENSION_NAME]: GUARD_METRIC_DIMENSION_SELECTOR,
});
/** Value emitted per matched event. */
export const GUARD_METRIC_VALUE = '1';
/** IAM path of every backupctl device user. */
export const GUARD_IAM_PATH = '/backupctl/';
/** CloudWatch Logs' maximum filter pattern length. */
export const FILTER_PATTERN_MAX_LENGTH = 1024;

const ACCOUNT_ID = /^\d{12}$/;
/** What `Fn::Sub` replaces with the account the guard stack is deployed in. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
export const ACCOUNT_ID_SUB = '${AWS::AccountId}';

export interface GuardFilterPatternOptions {
  /**
   * 12-digit account id to pin the user ARN to. Without it any account matches (`*`):
   * only for replaying records whose account is unknown — the deployed filter is always
   * pinned (`guardFilterPatternSub`).
   */
  accountId?: string;
}

/**
 * The guard's metric filter pattern (CloudWatch Logs JSON filter-pattern syntax).
 *
 * CloudWatch Logs honours `*` only at the start and/or end of a string value: a `*`
 * in the middle is a literal character (AWS: "Ev*ent will only match the actual string
 * Ev*ent"). So the user test is a contains-match on the ARN's tail, which is the same in
 * every partition (`arn:aws:`, `arn:aws-cn:`, `arn:aws-us-gov:`, …):
 * `*:user/backupctl/*`, or `*:iam::<account>:user/backupctl/*` when pinned. Session
 * names of assumed roles cannot contain `/` or `:`, so only IAM user ARNs contain
 * `:user/backupctl/`; `$.userIdentity.type = "IAMUser"` says so once more.
 */
export function guardFilterPattern(options: GuardFilterPatternOptions = {}): string {
  const { accountId } = options;
  if (accountId !== undefined && !ACCOUNT_ID.test(accountId)) {
    throw new TypeError(`accountId must be 12 digits, got ${JSON.stringify(accountId)}`);
  }
  return buildPattern(accountId);
}

/**
 * The pattern as the guard template deploys it: a `Fn::Sub` string pinned to
 * `${AWS::AccountId}`, the account the stack is deployed in. `$.` of the selectors is no
 * `${`, so nothing else in it is substituted.
 */
export function guardFilterPatternSub(): string {
  return buildPattern(ACCOUNT_ID_SUB);
}

/** The deployed pattern with the account substituted (what CloudWatch Logs evaluates). */
export function pinnedGuardFilterPattern(patternSub: string, accountId: string): string {
  if (!ACCOUNT_ID.test(accountId)) {
    throw new TypeError(`accountId must be 12 digits, got ${JSON.stringify(accountId)}`);
  }
  return patternSub.split(ACCOUNT_ID_SUB).join(accountId);
}

function buildPattern(accountId: string | undefined): string {
  const arnTail = accountId === undefined ? ':user/backupctl/' : `:iam::${accountId}:user/backupctl/`;
  const user = `$.userIdentity.type = "IAMUser" && $.userIdentity.arn = "*${arnTail}*"`;
  const denied = '$.errorCode = "*AccessDenied*" || $.errorCode = "*UnauthorizedOperation"';
  const tripwires = TRIPWIRE_CALLS.map((c) => `$.eventName = "${c.eventName}"`).join(' || ');
  // `&&` binds tighter than `||` in CloudWatch Logs: the parentheses are needed.
  return `{ (${user}) && (${denied} || ${tripwires}) }`;
}
