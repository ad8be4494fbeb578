import {
  type CloudFormationClient,
  CreateChangeSetCommand,
  DeleteChangeSetCommand,
  DeleteStackCommand,
  DescribeChangeSetCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
  type Stack,
  type StackEvent,
} from '@aws-sdk/client-cloudformation';
import { awsErrorMessage, awsErrorName, StackError } from './stack-error.js';

/** Stable codes of the errors thrown here. Never rename one. */
export const DeployErrorCodes = {
  deployFailed: 'STACK_DEPLOY_FAILED',
  deleteFailed: 'STACK_DELETE_FAILED',
  changeSetFailed: 'CHANGE_SET_FAILED',
  stackBusy: 'STACK_BUSY',
  timeout: 'STACK_TIMEOUT',
  awsCallFailed: 'CLOUDFORMATION_CALL_FAILED',
  stackNotFound: 'STACK_NOT_FOUND',
} as const;

export interface FailedResource {
  logicalId: string;
  type: string;
  status: string;
  reason: string;
}

/** The deployment failed; the stack was rolled back (or could not be). */
export class StackDeployError extends StackError {
  constructor(
    readonly stackName: string,
    readonly stackStatus: string,
    readonly failedResource: FailedResource | undefined,
  ) {
    const what = failedResource
      ? `${failedResource.logicalId} (${failedResource.type}) ${failedResource.status}: ${failedResource.reason}`
      : `stack status ${stackStatus}`;
    const rolledBack = /ROLLBACK_COMPLETE$/.test(stackStatus);
    super(DeployErrorCodes.deployFailed, `Deploying ${stackName} failed: ${what}`, {
      source: 'environment',
      resolution: rolledBack
        ? `The stack was rolled back (${stackStatus}); nothing changed. Fix the cause above and deploy again.`
        : `The stack is in ${stackStatus}. Inspect it in the CloudFormation console before deploying again.`,
      details: { stackName, stackStatus, failedResource, rolledBack },
    });
  }
}

export class StackDeleteError extends StackError {
  constructor(
    readonly stackName: string,
    readonly stackStatus: string,
    readonly failedResource: FailedResource | undefined,
  ) {
    const what = failedResource ? `${failedResource.logicalId}: ${failedResource.reason}` : stackStatus;
    super(DeployErrorCodes.deleteFailed, `Deleting ${stackName} failed: ${what}`, {
      resolution: 'Remove what blocks the deletion (see above) and delete again.',
      details: { stackName, stackStatus, failedResource },
    });
  }
}

export class ChangeSetError extends StackError {
  constructor(stackName: string, reason: string) {
    super(
      DeployErrorCodes.changeSetFailed,
      `CloudFormation refused the change set for ${stackName}: ${reason}`,
      {
        source: 'toolkit',
        resolution: 'The template or its parameters are invalid; this is a bug of backupctl if it persists.',
        details: { stackName, reason },
      },
    );
  }
}

export class StackBusyError extends StackError {
  constructor(stackName: string, status: string) {
    super(DeployErrorCodes.stackBusy, `${stackName} is busy (${status})`, {
      resolution: 'Wait until the running operation ends, then try again.',
      details: { stackName, status },
    });
  }
}

export class StackTimeoutError extends StackError {
  constructor(stackName: string, status: string, waitedMs: number) {
    super(DeployErrorCodes.timeout, `${stackName} still ${status} after ${Math.round(waitedMs / 1000)} s`, {
      resolution: 'The operation goes on in AWS; check the stack in the CloudFormation console.',
      details: { stackName, status },
    });
  }
}

/** A CloudFormation API call failed (credentials, permissions, throttling, …). */
export class CloudFormationCallError extends StackError {
  readonly awsErrorName: string | undefined;
  constructor(operation: string, stackName: string, cause: unknown) {
    const name = awsErrorName(cause);
    super(
      DeployErrorCodes.awsCallFailed,
      `CloudFormation ${operation} for ${stackName} failed: ${name ?? 'Error'}: ${awsErrorMessage(cause)}`,
      {
        cause,
        resolution:
          'Check that the admin credentials are valid and allowed to manage CloudFormation stacks, IAM users, CloudWatch, Lambda, SNS and Logs.',
        details: { operation, stackName, awsErrorName: name },
      },
    );
    this.awsErrorName = name;
  }
}

export type DeployProgress =
  | { type: 'change-set-created'; stackName: string; changeSetType: 'CREATE' | 'UPDATE'; changes: number }
  | { type: 'stack-event'; stackName: string; event: StackEventSummary }
  | { type: 'deleting-failed-stack'; stackName: string; status: string };

export interface StackEventSummary {
  timestamp: Date | undefined;
  logicalId: string;
  type: string;
  status: string;
  reason: string | undefined;
}

export interface DeployStackOptions {
  /** A CloudFormation client with the owner's admin credentials. */
  cloudFormation: CloudFormationClient;
  stackName: string;
  templateBody: string;
  parameters?: Record<string, string>;
  tags?: Record<string, string>;
  onProgress?: (progress: DeployProgress) => void;
  /** Time between polls (default 5 s; tests pass 0). */
  pollIntervalMs?: number;
  /** Give up waiting after this long (default 30 min). */
  timeoutMs?: number;
  /** For tests: the sleep between polls. */
  sleep?: (ms: number) => Promise<void>;
  /** For tests: change set names. */
  changeSetName?: string;
}

export type DeployStackResult =
  | { status: 'created' | 'updated'; stackId: string; outputs: Record<string, string> }
  | { status: 'no-change'; stackId: string; outputs: Record<string, string> };

const CAPABILITIES = ['CAPABILITY_NAMED_IAM'] as const;
const IN_PROGRESS = /_IN_PROGRESS$/;
const FAILED = /_FAILED$/;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Waiter {
  sleep: (ms: number) => Promise<void>;
  interval: number;
  deadline: number;
  start: number;
}

function waiter(options: {
  pollIntervalMs?: number;
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
}): Waiter {
  const start = Date.now();
  return {
    sleep: options.sleep ?? defaultSleep,
    interval: options.pollIntervalMs ?? 5000,
    start,
    deadline: start + (options.timeoutMs ?? 30 * 60_000),
  };
}

async function call<T>(operation: string, stackName: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw new CloudFormationCallError(operation, stackName, error);
  }
}

/** DescribeStacks, or undefined when the stack does not exist. */
export async function describeStack(
  cfn: CloudFormationClient,
  stackName: string,
): Promise<Stack | undefined> {
  try {
    const out = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    return out.Stacks?.[0];
  } catch (error) {
    // CloudFormation answers a missing stack with a ValidationError "Stack with id X does not exist".
    if (awsErrorName(error) === 'ValidationError' && /does not exist/.test(awsErrorMessage(error)))
      return undefined;
    throw new CloudFormationCallError('DescribeStacks', stackName, error);
  }
}

/** The outputs of a stack as a plain record. */
export async function readStackOutputs(
  cfn: CloudFormationClient,
  stackName: string,
): Promise<Record<string, string>> {
  const stack = await describeStack(cfn, stackName);
  if (stack === undefined) {
    throw new StackError(DeployErrorCodes.stackNotFound, `Stack ${stackName} does not exist`, {
      source: 'user',
      resolution: 'Deploy it first: `backupctl init --bucket NAME` (admin credentials).',
      details: { stackName },
    });
  }
  return outputsOf(stack);
}

function outputsOf(stack: Stack): Record<string, string> {
  const outputs: Record<string, string> = {};
  for (const output of stack.Outputs ?? []) {
    if (output.OutputKey !== undefined && output.OutputValue !== undefined)
      outputs[output.OutputKey] = output.OutputValue;
  }
  return outputs;
}

function summarize(event: StackEvent): StackEventSummary {
  return {
    timestamp: event.Timestamp,
    logicalId: event.LogicalResourceId ?? '',
    type: event.ResourceType ?? '',
    status: event.ResourceStatus ?? '',
    reason: event.ResourceStatusReason,
  };
}

/**
 * Follows a stack's events: each poll returns the events newer than the fence (the
 * newest event when following started), oldest first.
 */
class EventFollower {
  private readonly seen = new Set<string>();
  readonly events: StackEvent[] = [];
  private fence: string | undefined;

  constructor(
    private readonly cfn: CloudFormationClient,
    private readonly stackName: string,
  ) {}

  async setFence(): Promise<void> {
    const out = await call('DescribeStackEvents', this.stackName, () =>
      this.cfn.send(new DescribeStackEventsCommand({ StackName: this.stackName })),
    );
    this.fence = out.StackEvents?.[0]?.EventId;
  }

  async poll(): Promise<StackEvent[]> {
    const fresh: StackEvent[] = [];
    let nextToken: string | undefined;
    outer: do {
      const out = await call('DescribeStackEvents', this.stackName, () =>
        this.cfn.send(new DescribeStackEventsCommand({ StackName: this.stackName, NextToken: nextToken })),
      );
      for (const event of out.StackEvents ?? []) {
        const id = event.EventId ?? '';
        if (id === this.fence || this.seen.has(id)) break outer;
        fresh.push(event);
      }
      nextToken = out.NextToken;
    } while (nextToken !== undefined);
    fresh.reverse();
    for (const event of fresh) this.seen.add(event.EventId ?? '');
    this.events.push(...fresh);
    return fresh;
  }

  /** The first resource that failed, other than the stack itself when a resource did. */
  firstFailure(): FailedResource | undefined {
    const failures = this.events.filter((e) => FAILED.test(e.ResourceStatus ?? '') && e.ResourceStatusReason);
    const resource = failures.find((e) => e.ResourceType !== 'AWS::CloudFormation::Stack') ?? failures[0];
    if (resource === undefined) return undefined;
    return {
      logicalId: resource.LogicalResourceId ?? '',
      type: resource.ResourceType ?? '',
      status: resource.ResourceStatus ?? '',
      reason: resource.ResourceStatusReason ?? '',
    };
  }
}

async function waitForStack(
  cfn: CloudFormationClient,
  stackId: string,
  stackName: string,
  follower: EventFollower,
  wait: Waiter,
  onProgress: DeployStackOptions['onProgress'],
): Promise<Stack> {
  for (;;) {
    for (const event of await follower.poll()) {
      onProgress?.({ type: 'stack-event', stackName, event: summarize(event) });
    }
    const stack = await describeStack(cfn, stackId);
    if (stack === undefined)
      throw new CloudFormationCallError('DescribeStacks', stackName, new Error('stack vanished'));
    const status = stack.StackStatus ?? '';
    if (!IN_PROGRESS.test(status)) {
      // One more poll: the final events may have landed after the last one.
      for (const event of await follower.poll()) {
        onProgress?.({ type: 'stack-event', stackName, event: summarize(event) });
      }
      return stack;
    }
    if (Date.now() > wait.deadline) throw new StackTimeoutError(stackName, status, Date.now() - wait.start);
    await wait.sleep(wait.interval);
  }
}

/** "Nothing to do" as CloudFormation says it (it has no error code for it). */
function isNoChange(reason: string | undefined): boolean {
  return (
    reason !== undefined &&
    (/didn't contain changes/i.test(reason) || /No updates are to be performed/i.test(reason))
  );
}

/**
 * Creates or updates a stack through a change set and waits for the result, reporting
 * each stack event as it comes. A template without changes is a `no-change` result, not
 * an error. A stack left in ROLLBACK_COMPLETE by a failed first deployment cannot be
 * updated: it is deleted and created afresh.
 */
export async function deployStack(options: DeployStackOptions): Promise<DeployStackResult> {
  const { cloudFormation: cfn, stackName, onProgress } = options;
  const wait = waiter(options);

  let existing = await describeStack(cfn, stackName);
  if (
    existing !== undefined &&
    IN_PROGRESS.test(existing.StackStatus ?? '') &&
    existing.StackStatus !== 'REVIEW_IN_PROGRESS'
  ) {
    throw new StackBusyError(stackName, existing.StackStatus ?? '');
  }
  if (existing?.StackStatus === 'ROLLBACK_COMPLETE' || existing?.StackStatus === 'ROLLBACK_FAILED') {
    onProgress?.({ type: 'deleting-failed-stack', stackName, status: existing.StackStatus });
    await deleteStack({ ...options, stackName });
    existing = undefined;
  }
  const changeSetType =
    existing === undefined || existing.StackStatus === 'REVIEW_IN_PROGRESS' ? 'CREATE' : 'UPDATE';
  const changeSetName = options.changeSetName ?? `backupctl-${Date.now()}`;

  const created = await call('CreateChangeSet', stackName, () =>
    cfn.send(
      new CreateChangeSetCommand({
        StackName: stackName,
        ChangeSetName: changeSetName,
        ChangeSetType: changeSetType,
        TemplateBody: options.templateBody,
        Capabilities: [...CAPABILITIES],
        Parameters: Object.entries(options.parameters ?? {}).map(([ParameterKey, ParameterValue]) => ({
          ParameterKey,
          ParameterValue,
        })),
        Tags: Object.entries(options.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
      }),
    ),
  );
  const stackId = created.StackId ?? stackName;
  const changeSetId = created.Id ?? changeSetName;

  // Wait for the change set.
  let changes = 0;
  for (;;) {
    const cs = await call('DescribeChangeSet', stackName, () =>
      cfn.send(new DescribeChangeSetCommand({ StackName: stackId, ChangeSetName: changeSetId })),
    );
    if (cs.Status === 'CREATE_COMPLETE') {
      changes = cs.Changes?.length ?? 0;
      break;
    }
    if (cs.Status === 'FAILED') {
      if (isNoChange(cs.StatusReason)) {
        await call('DeleteChangeSet', stackName, () =>
          cfn.send(new DeleteChangeSetCommand({ StackName: stackId, ChangeSetName: changeSetId })),
        );
        const stack = await describeStack(cfn, stackId);
        return { status: 'no-change', stackId, outputs: stack ? outputsOf(stack) : {} };
      }
      throw new ChangeSetError(stackName, cs.StatusReason ?? 'no reason given');
    }
    if (Date.now() > wait.deadline)
      throw new StackTimeoutError(stackName, `change set ${cs.Status}`, Date.now() - wait.start);
    await wait.sleep(wait.interval);
  }
  onProgress?.({ type: 'change-set-created', stackName, changeSetType, changes });

  const follower = new EventFollower(cfn, stackId);
  await follower.setFence();
  await call('ExecuteChangeSet', stackName, () =>
    cfn.send(new ExecuteChangeSetCommand({ StackName: stackId, ChangeSetName: changeSetId })),
  );
  const stack = await waitForStack(cfn, stackId, stackName, follower, wait, onProgress);
  const status = stack.StackStatus ?? '';
  if (status === 'CREATE_COMPLETE' || status === 'UPDATE_COMPLETE') {
    return { status: changeSetType === 'CREATE' ? 'created' : 'updated', stackId, outputs: outputsOf(stack) };
  }
  throw new StackDeployError(stackName, status, follower.firstFailure());
}

export interface DeleteStackOptions {
  cloudFormation: CloudFormationClient;
  stackName: string;
  onProgress?: (progress: DeployProgress) => void;
  pollIntervalMs?: number;
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** Deletes a stack and waits; a stack that does not exist is `absent`, not an error. */
export async function deleteStack(options: DeleteStackOptions): Promise<{ status: 'deleted' | 'absent' }> {
  const { cloudFormation: cfn, stackName, onProgress } = options;
  const wait = waiter(options);
  const existing = await describeStack(cfn, stackName);
  if (existing === undefined || existing.StackStatus === 'DELETE_COMPLETE') return { status: 'absent' };
  if (IN_PROGRESS.test(existing.StackStatus ?? '') && existing.StackStatus !== 'REVIEW_IN_PROGRESS') {
    throw new StackBusyError(stackName, existing.StackStatus ?? '');
  }
  // After deletion the name no longer resolves: follow the stack by its id.
  const stackId = existing.StackId ?? stackName;
  const follower = new EventFollower(cfn, stackId);
  await follower.setFence();
  await call('DeleteStack', stackName, () => cfn.send(new DeleteStackCommand({ StackName: stackId })));
  const stack = await waitForStack(cfn, stackId, stackName, follower, wait, onProgress);
  if (stack.StackStatus === 'DELETE_COMPLETE') return { status: 'deleted' };
  throw new StackDeleteError(stackName, stack.StackStatus ?? '', follower.firstFailure());
}
