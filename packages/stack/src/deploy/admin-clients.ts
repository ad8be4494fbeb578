import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
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

/**
 * The owner's S3 client (bucket setup, guard status, destroy). A class of its own, so the
 * admin's bucket calls and the device's object calls are never the same client — and a
 * test can stand in for the admin side alone (aws-sdk-client-mock on this class).
 */
export class AdminS3Client extends S3Client {}

export interface AdminClients {
  cloudFormation: CloudFormationClient;
  cloudTrail: CloudTrailClient;
  cloudWatch: CloudWatchClient;
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
    cloudWatch: new CloudWatchClient(config),
    logs: new CloudWatchLogsClient(config),
    iam: new IAMClient(config),
    s3: new AdminS3Client(config),
  };
}
