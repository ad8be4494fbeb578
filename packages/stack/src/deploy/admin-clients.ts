import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { IAMClient } from '@aws-sdk/client-iam';
import { S3Client } from '@aws-sdk/client-s3';
import { fromIni, fromNodeProviderChain } from '@aws-sdk/credential-providers';

/** A credentials provider as the SDK clients take it. */
export type AwsCredentialIdentityProvider = ReturnType<typeof fromNodeProviderChain>;

export interface AdminCredentialsOptions {
  /** A named profile of ~/.aws/config (static keys, SSO, assume-role, process…). */
  profile?: string;
  /** Already resolved credentials or a provider; wins over `profile`. */
  credentials?: AwsCredentialIdentityProvider;
}

/**
 * The owner's admin credentials: an explicit provider, a named profile (which covers
 * IAM Identity Center / SSO profiles), or the SDK's default chain (environment, shared
 * files, SSO, container and instance metadata).
 */
export function adminCredentials(options: AdminCredentialsOptions = {}): AwsCredentialIdentityProvider {
  if (options.credentials !== undefined) return options.credentials;
  if (options.profile !== undefined) return fromIni({ profile: options.profile });
  return fromNodeProviderChain();
}

export interface AdminClients {
  cloudFormation: CloudFormationClient;
  cloudTrail: CloudTrailClient;
  logs: CloudWatchLogsClient;
  iam: IAMClient;
  s3: S3Client;
}

/** The admin-side clients, all with the same credentials and region. */
export function adminClients(options: AdminCredentialsOptions & { region?: string } = {}): AdminClients {
  const config = {
    credentials: adminCredentials(options),
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.profile === undefined ? {} : { profile: options.profile }),
  };
  return {
    cloudFormation: new CloudFormationClient(config),
    cloudTrail: new CloudTrailClient(config),
    logs: new CloudWatchLogsClient(config),
    iam: new IAMClient(config),
    s3: new S3Client(config),
  };
}
