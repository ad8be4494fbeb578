import { GetUserCommand, type IAMClient, ListRolesCommand } from '@aws-sdk/client-iam';
import { awsErrorName } from '../deploy/stack-error.js';
import { GuardPrerequisiteError } from './errors.js';

const ACCOUNT_IN_ARN = /^arn:[\w-]+:iam::(\d{12}):/;

/**
 * The account of the admin credentials, without STS: backupctl never calls STS except in
 * `guard drill` (GetCallerIdentity is the guard's tripwire). An IAM user's own ARN names
 * the account; with role or SSO credentials (GetUser needs a user name then), any role's
 * ARN does — an account always has at least the role the credentials come from.
 */
export async function resolveAccountId(iam: IAMClient): Promise<string> {
  try {
    const arn = (await iam.send(new GetUserCommand({}))).User?.Arn ?? '';
    const m = ACCOUNT_IN_ARN.exec(arn);
    if (m) return m[1]!;
  } catch (error) {
    // ValidationError: "Must specify userName when calling with non-User credentials".
    if (awsErrorName(error) !== 'ValidationError') throw error;
  }
  const roles = await iam.send(new ListRolesCommand({ MaxItems: 1 }));
  const m = ACCOUNT_IN_ARN.exec(roles.Roles?.[0]?.Arn ?? '');
  if (m) return m[1]!;
  throw new GuardPrerequisiteError(
    'could not tell which AWS account the admin credentials belong to',
    'The admin credentials need iam:GetUser (IAM user) or iam:ListRoles (role, SSO).',
  );
}
