import {
  type IAMClient,
  SimulatePrincipalPolicyCommand,
  type SimulatePrincipalPolicyCommandOutput,
} from '@aws-sdk/client-iam';
import { ACCESS_MANIFEST, devicePrefix } from '@backupctl/core';
import { awsErrorName } from '../deploy/stack-error.js';

/**
 * Would AWS allow each call of the access manifest for the device user, all policies
 * counted — its identity policy, the bucket policy (given as the resource policy), and the
 * organization's SCPs (SimulatePrincipalPolicy includes them for a member account)? A call
 * denied there would be the device's first denied call — a self-quarantine. Returns one
 * warning per action that is not allowed; none when the simulation cannot run (the admin may
 * lack iam:SimulatePrincipalPolicy: the probe still tries one call).
 */
export async function simulateDeviceAccess(options: {
  iam: IAMClient;
  userArn: string;
  bucket: string;
  device: string;
  bucketPolicy?: string;
  partition?: string;
}): Promise<string[]> {
  const p = options.partition ?? 'aws';
  const prefix = devicePrefix(options.device);
  const warnings: string[] = [];
  for (const entry of ACCESS_MANIFEST) {
    const resource =
      entry.resource === 'bucket'
        ? `arn:${p}:s3:::${options.bucket}`
        : `arn:${p}:s3:::${options.bucket}/${prefix}config`;
    const context =
      entry.action === 's3:ListBucket'
        ? [{ ContextKeyName: 's3:prefix', ContextKeyValues: [prefix], ContextKeyType: 'string' as const }]
        : entry.action === 's3:PutObject'
          ? [
              {
                ContextKeyName: 's3:if-none-match',
                ContextKeyValues: ['*'],
                ContextKeyType: 'string' as const,
              },
            ]
          : [];
    let out: SimulatePrincipalPolicyCommandOutput;
    try {
      out = await options.iam.send(
        new SimulatePrincipalPolicyCommand({
          PolicySourceArn: options.userArn,
          ActionNames: [entry.action],
          ResourceArns: [resource],
          ...(options.bucketPolicy
            ? {
                ResourcePolicy: options.bucketPolicy,
                ResourceOwner: `arn:${p}:iam::${options.userArn.split(':')[4]}:root`,
              }
            : {}),
          ContextEntries: context,
        }),
      );
    } catch (error) {
      if (/AccessDenied|NoSuchEntity|InvalidInput/.test(awsErrorName(error) ?? '')) return [];
      throw error;
    }
    for (const result of out.EvaluationResults ?? []) {
      if (result.EvalDecision === undefined || result.EvalDecision === 'allowed') continue;
      const scp = result.OrganizationsDecisionDetail?.AllowedByOrganizations === false;
      warnings.push(
        `${entry.action} on ${resource} would be ${result.EvalDecision}${scp ? ' by an organization SCP' : options.bucketPolicy ? ' (the bucket policy or an SCP)' : ''}: the device's first such call would quarantine it. Fix the ${scp ? 'SCP' : 'policy'} before the first push.`,
      );
    }
  }
  return warnings;
}
