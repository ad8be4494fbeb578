import { readFileSync } from 'node:fs';
import { BackupctlError, ErrorCodes } from '../errors/index.js';

/**
 * The AWS client setup of a device, checked before the first request, and the SDK's own
 * setup errors (which have no HTTP status and name no next step) turned into coded errors.
 * Raw SDK texts such as "Could not load credentials from any providers" never reach a user.
 */

/** What the AWS SDK will read from the environment (see Environment.aws). */
export interface AwsSetupEnvironment {
  /** AWS_PROFILE. */
  profile?: string;
  /** AWS_REGION or AWS_DEFAULT_REGION. */
  region?: string;
  /** ~/.aws/config (or AWS_CONFIG_FILE) and ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE). */
  configFile: string;
  credentialsFile: string;
}

export interface AwsTarget {
  repository: string;
  endpoint?: string;
  region?: string;
}

/** Public AWS regions (2026). A region not listed is still accepted if well formed. */
export const KNOWN_AWS_REGIONS = [
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
  'ca-central-1',
  'ca-west-1',
  'mx-central-1',
  'sa-east-1',
  'eu-central-1',
  'eu-central-2',
  'eu-west-1',
  'eu-west-2',
  'eu-west-3',
  'eu-south-1',
  'eu-south-2',
  'eu-north-1',
  'il-central-1',
  'me-south-1',
  'me-central-1',
  'af-south-1',
  'ap-east-1',
  'ap-east-2',
  'ap-south-1',
  'ap-south-2',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-southeast-3',
  'ap-southeast-4',
  'ap-southeast-5',
  'ap-southeast-6',
  'ap-southeast-7',
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-northeast-3',
  'us-gov-east-1',
  'us-gov-west-1',
  'cn-north-1',
  'cn-northwest-1',
];

const REGION_FORMAT = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length] as number;
}

/** The known region nearest to a mistyped one (eu-west-l → eu-west-1), if any is near. */
export function suggestRegion(region: string): string | undefined {
  const normal = region.trim().toLowerCase().replace(/_/g, '-');
  let best: { r: string; d: number } | undefined;
  for (const r of KNOWN_AWS_REGIONS) {
    const d = Math.min(editDistance(normal, r), editDistance(normal, r.replaceAll('-', '')));
    if (!best || d < best.d) best = { r, d };
  }
  return best && best.d <= 3 ? best.r : undefined;
}

function regionError(region: string, why: string): BackupctlError {
  const suggestion = suggestRegion(region);
  return new BackupctlError(ErrorCodes.awsRegionInvalid, `the AWS region "${region}" ${why}`, {
    source: 'user',
    resolution: suggestion
      ? `Did you mean ${suggestion}? Set it with \`backupctl init --repo … --region ${suggestion}\` (or AWS_REGION=${suggestion}).`
      : 'Set a region such as eu-west-1 with `backupctl init --repo … --region REGION` (or AWS_REGION).',
    details: { region, ...(suggestion ? { suggestion } : {}) },
  });
}

/** Section names of an AWS shared config/credentials file: `[profile x]` and `[x]` both give `x`. */
export function iniProfiles(text: string): Map<string, Record<string, string>> {
  const profiles = new Map<string, Record<string, string>>();
  let current: Record<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[\s*(?:profile\s+)?([^\]]+?)\s*\]$/.exec(line);
    if (header) {
      const name = header[1] as string;
      current = profiles.get(name) ?? {};
      profiles.set(name, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (current && eq > 0) current[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return profiles;
}

function readProfiles(file: string): Map<string, Record<string, string>> {
  try {
    return iniProfiles(readFileSync(file, 'utf8'));
  } catch {
    return new Map();
  }
}

/**
 * Checks, without any request, what the AWS SDK would otherwise fail on with a raw text: a
 * profile that does not exist, no region, an endpoint without a scheme, a malformed region.
 */
export function checkAwsSetup(
  target: AwsTarget,
  aws: AwsSetupEnvironment | undefined,
  options: { explicitCredentials?: boolean } = {},
): void {
  if (target.endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(target.endpoint);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) {
      const guess = `https://${target.endpoint.replace(/^[a-z]+:\/\//i, '')}`;
      throw new BackupctlError(
        ErrorCodes.endpointInvalid,
        `the endpoint "${target.endpoint}" is not a URL: it needs http:// or https://`,
        {
          resolution: `Give the scheme, e.g. \`backupctl init --repo ${target.repository} --endpoint ${guess}\` (http:// only for a local test server).`,
          details: { endpoint: target.endpoint },
        },
      );
    }
  }
  if (!aws) return;
  const region = target.region ?? aws.region;
  if (region !== undefined && target.endpoint === undefined && !REGION_FORMAT.test(region)) {
    throw regionError(region, 'is not a region name (like eu-west-1)');
  }
  const config = readProfiles(aws.configFile);
  const credentials = readProfiles(aws.credentialsFile);
  // With AWS_PROFILE set the SDK reads only that profile (not AWS_ACCESS_KEY_ID): it must exist.
  if (
    aws.profile &&
    !options.explicitCredentials &&
    !config.has(aws.profile) &&
    !credentials.has(aws.profile)
  ) {
    const known = [...new Set([...config.keys(), ...credentials.keys()])];
    throw new BackupctlError(
      ErrorCodes.awsProfileMissing,
      `AWS_PROFILE names the profile "${aws.profile}", which is in neither ${aws.configFile} nor ${aws.credentialsFile}`,
      {
        resolution: known.length
          ? `Use one of the profiles there (${known.join(', ')}), or unset AWS_PROFILE.`
          : 'Create it (`aws configure --profile NAME`), or unset AWS_PROFILE.',
        details: { profile: aws.profile, known },
      },
    );
  }
  if (region === undefined && target.endpoint === undefined) {
    const profileRegion = config.get(aws.profile ?? 'default')?.region;
    if (!profileRegion) {
      throw new BackupctlError(
        ErrorCodes.awsRegionMissing,
        'no AWS region is configured for this repository',
        {
          resolution:
            "Give the bucket's region: `backupctl init --repo … --region eu-west-1` (or set AWS_REGION, or `region =` in the AWS profile).",
        },
      );
    } else if (!REGION_FORMAT.test(profileRegion)) {
      throw regionError(
        profileRegion,
        `(from the AWS profile "${aws.profile ?? 'default'}") is not a region name`,
      );
    }
  }
}

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  hostname?: unknown;
}

/**
 * The SDK's client-side setup failures, by name and (where the SDK gives nothing else) its
 * fixed message text, as coded errors. undefined: not a setup failure.
 */
export function explainSetupError(error: unknown, target?: AwsTarget): BackupctlError | undefined {
  if (BackupctlError.is(error) || typeof error !== 'object' || error === null) return undefined;
  const e = error as ErrorLike;
  const name = typeof e.name === 'string' ? e.name : '';
  const message = typeof e.message === 'string' ? e.message : '';
  if (name === 'CredentialsProviderError' || /Could not load credentials from any providers/.test(message)) {
    return new BackupctlError(ErrorCodes.awsCredentialsMissing, 'no AWS credentials found for this device', {
      source: 'environment',
      resolution:
        'Store the device key with `backupctl init` (it goes to the keychain), or set AWS_PROFILE to a profile in ~/.aws/credentials; under systemd use `backupctl schedule install --system --credentials systemd`.',
      cause: error,
    });
  }
  if (/^Region is missing$/.test(message)) {
    return new BackupctlError(
      ErrorCodes.awsRegionMissing,
      'no AWS region is configured for this repository',
      {
        resolution:
          "Give the bucket's region: `backupctl init --repo … --region eu-west-1` (or set AWS_REGION).",
        cause: error,
      },
    );
  }
  const notAccepted = /^Region not accepted: region="([^"]*)"/.exec(message);
  if (notAccepted) {
    const err = regionError(notAccepted[1] as string, 'is not a region name (like eu-west-1)');
    return new BackupctlError(err.code, err.message, {
      resolution: err.resolution,
      details: err.details,
      cause: error,
    });
  }
  if (name === 'EndpointError' || /was not a valid URI/.test(message)) {
    return new BackupctlError(
      ErrorCodes.endpointInvalid,
      `the endpoint${target?.endpoint ? ` "${target.endpoint}"` : ''} is not a valid URL`,
      {
        resolution: 'Give the full URL with its scheme, e.g. --endpoint https://s3.example.com',
        cause: error,
      },
    );
  }
  // A well-formed but unknown region: AWS has no such host (s3.eu-west-9.amazonaws.com).
  if (e.code === 'ENOTFOUND' && !target?.endpoint) {
    const host = /ENOTFOUND (\S+)/.exec(message)?.[1] ?? (typeof e.hostname === 'string' ? e.hostname : '');
    const region = /(?:^|\.)s3[.-]([a-z0-9-]+)\.amazonaws\.com/.exec(host)?.[1];
    if (region && !KNOWN_AWS_REGIONS.includes(region)) {
      const err = regionError(region, `does not exist (there is no ${host})`);
      return new BackupctlError(err.code, err.message, {
        resolution: err.resolution,
        details: err.details,
        cause: error,
      });
    }
  }
  return undefined;
}
