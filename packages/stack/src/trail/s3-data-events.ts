import {
  type AdvancedEventSelector,
  type AdvancedFieldSelector,
  type CloudTrailClient,
  type EventSelector,
  GetEventSelectorsCommand,
  PutEventSelectorsCommand,
} from '@aws-sdk/client-cloudtrail';
import { awsErrorMessage, awsErrorName, StackError } from '../deploy/stack-error.js';

/** What S3 data events cost, to print before turning them on. */
export const S3_DATA_EVENTS_COST_TEXT =
  'CloudTrail charges $0.10 per 100,000 data events delivered. backupctl logs data events for the backup bucket only: ' +
  'a laptop pushing hourly makes a few thousand a month (pennies). Skip this and the guard still sees management ' +
  "events (GetCallerIdentity, IAM, EC2, ListBuckets …), but not a denied read of another device's prefix.";

export const S3_DATA_EVENT_SELECTOR_NAME = 'backupctl: S3 data events of the backup bucket';

/**
 * An advanced event selector for the objects of one bucket only (`arn:…:s3:::BUCKET`).
 * Data events are object-level calls (Get/Put/Head/List objects); a trail logs none by
 * default.
 */
export function s3DataEventSelector(bucketArn: string): AdvancedEventSelector {
  if (!/^arn:[\w-]+:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucketArn)) {
    throw new TypeError(`not an S3 bucket ARN: ${bucketArn}`);
  }
  return {
    Name: S3_DATA_EVENT_SELECTOR_NAME,
    FieldSelectors: [
      { Field: 'eventCategory', Equals: ['Data'] },
      { Field: 'resources.type', Equals: ['AWS::S3::Object'] },
      { Field: 'resources.ARN', StartsWith: [`${bucketArn}/`] },
    ],
  };
}

/**
 * A trail uses either basic or advanced selectors, never both. To add ours to a trail
 * with basic selectors (every trail starts with one: all management events), they are
 * first rewritten as the equivalent advanced selectors, so nothing it logged is lost.
 */
export function toAdvancedSelectors(selectors: EventSelector[]): AdvancedEventSelector[] {
  const out: AdvancedEventSelector[] = [];
  for (const [i, s] of selectors.entries()) {
    const readOnly: AdvancedFieldSelector[] =
      s.ReadWriteType === 'ReadOnly'
        ? [{ Field: 'readOnly', Equals: ['true'] }]
        : s.ReadWriteType === 'WriteOnly'
          ? [{ Field: 'readOnly', Equals: ['false'] }]
          : [];
    if (s.IncludeManagementEvents !== false) {
      const excluded = s.ExcludeManagementEventSources ?? [];
      out.push({
        Name: `Management events (from basic selector ${i + 1})`,
        FieldSelectors: [
          { Field: 'eventCategory', Equals: ['Management'] },
          ...readOnly,
          ...(excluded.length > 0 ? [{ Field: 'eventSource', NotEquals: excluded }] : []),
        ],
      });
    }
    for (const resource of s.DataResources ?? []) {
      const type = resource.Type ?? '';
      // A bare `arn:aws:s3` (or `arn:aws:lambda`) value means every resource of the type.
      const prefixes = (resource.Values ?? []).filter((v) => !/^arn:[\w-]+:[\w-]+(:::)?$/.test(v));
      out.push({
        Name: `Data events ${type} (from basic selector ${i + 1})`,
        FieldSelectors: [
          { Field: 'eventCategory', Equals: ['Data'] },
          { Field: 'resources.type', Equals: [type] },
          ...readOnly,
          ...(prefixes.length > 0 ? [{ Field: 'resources.ARN', StartsWith: prefixes }] : []),
        ],
      });
    }
  }
  return out;
}

export class EventSelectorsError extends StackError {
  constructor(operation: string, cause: unknown) {
    super(
      'TRAIL_SELECTORS_FAILED',
      `CloudTrail ${operation} failed: ${awsErrorName(cause) ?? 'Error'}: ${awsErrorMessage(cause)}`,
      {
        cause,
        resolution:
          'The admin credentials need cloudtrail:GetEventSelectors and cloudtrail:PutEventSelectors.',
      },
    );
  }
}

function sameSelector(a: AdvancedEventSelector, b: AdvancedEventSelector): boolean {
  const norm = (s: AdvancedEventSelector) =>
    JSON.stringify(
      [...(s.FieldSelectors ?? [])]
        .map((f) => ({ F: f.Field, E: f.Equals, S: f.StartsWith, N: f.NotEquals, NS: f.NotStartsWith }))
        .sort((x, y) => String(x.F).localeCompare(String(y.F))),
    );
  return norm(a) === norm(b);
}

/**
 * Adds the backup bucket's data-event selector to the trail, keeping every selector it
 * has. Returns `already` when an identical selector is there.
 */
export async function enableS3DataEvents(options: {
  cloudTrail: CloudTrailClient;
  trailName: string;
  bucketArn: string;
}): Promise<{ status: 'added' | 'already'; selectors: AdvancedEventSelector[] }> {
  const ours = s3DataEventSelector(options.bucketArn);
  let current: { EventSelectors?: EventSelector[]; AdvancedEventSelectors?: AdvancedEventSelector[] };
  try {
    current = await options.cloudTrail.send(new GetEventSelectorsCommand({ TrailName: options.trailName }));
  } catch (error) {
    throw new EventSelectorsError('GetEventSelectors', error);
  }
  const existing =
    current.AdvancedEventSelectors && current.AdvancedEventSelectors.length > 0
      ? current.AdvancedEventSelectors
      : // No selectors at all means CloudTrail's default: all management events. Keep them.
        toAdvancedSelectors(
          current.EventSelectors && current.EventSelectors.length > 0
            ? current.EventSelectors
            : [{ ReadWriteType: 'All', IncludeManagementEvents: true }],
        );
  if (existing.some((s) => sameSelector(s, ours))) return { status: 'already', selectors: existing };
  const selectors = [...existing, ours];
  try {
    await options.cloudTrail.send(
      new PutEventSelectorsCommand({ TrailName: options.trailName, AdvancedEventSelectors: selectors }),
    );
  } catch (error) {
    throw new EventSelectorsError('PutEventSelectors', error);
  }
  return { status: 'added', selectors };
}
