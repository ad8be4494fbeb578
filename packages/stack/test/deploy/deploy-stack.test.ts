import {
  CloudFormationClient,
  CloudFormationServiceException,
  CreateChangeSetCommand,
  DeleteChangeSetCommand,
  DeleteStackCommand,
  DescribeChangeSetCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
  type StackEvent,
} from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  ChangeSetError,
  CloudFormationCallError,
  type DeployProgress,
  deleteStack,
  deployStack,
  readStackOutputs,
  StackBusyError,
  StackDeleteError,
  StackDeployError,
  StackError,
} from '../../src/deploy/index.js';

const cfnMock = mockClient(CloudFormationClient);
const cfn = new CloudFormationClient({ region: 'eu-central-1' });
const STACK = 'backupctl-guard';
const STACK_ID = `arn:aws:cloudformation:eu-central-1:111122223333:stack/${STACK}/abc`;
const CHANGE_SET_ID = `arn:aws:cloudformation:eu-central-1:111122223333:changeSet/cs/1`;

/** CloudFormation's own answer for a missing stack. */
function missingStack(): Error {
  return new CloudFormationServiceException({
    name: 'ValidationError',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    message: `Stack with id ${STACK} does not exist`,
  });
}

/**
 * A scripted stack: each DescribeStacks by id advances through `statuses`; each
 * DescribeStackEvents poll reveals the next batch of `eventBatches` (newest first, two
 * a page, as CloudFormation pages them).
 */
function scriptStack(opts: {
  initial?: string;
  statuses: string[];
  eventBatches: Omit<StackEvent, 'StackId' | 'StackName' | 'EventId' | 'Timestamp'>[][];
  outputs?: Record<string, string>;
  /** An older event, from a previous deployment. */
  previous?: Partial<StackEvent>;
}) {
  let published: StackEvent[] = [
    {
      EventId: 'old-1',
      LogicalResourceId: STACK,
      ResourceStatus: (opts.initial ?? 'REVIEW_IN_PROGRESS') as StackEvent['ResourceStatus'],
      StackId: STACK_ID,
      StackName: STACK,
      Timestamp: new Date(0),
    },
  ];
  if (opts.previous)
    published.push({
      EventId: 'old-0',
      StackId: STACK_ID,
      StackName: STACK,
      Timestamp: new Date(0),
      ...opts.previous,
    });
  let batch = 0;
  let statusIndex = 0;
  let n = 0;
  cfnMock.on(DescribeStacksCommand).callsFake((input: { StackName?: string }) => {
    if (input.StackName === STACK && opts.initial === undefined) throw missingStack();
    if (input.StackName === STACK)
      return {
        Stacks: [
          { StackName: STACK, StackId: STACK_ID, StackStatus: opts.initial, CreationTime: new Date() },
        ],
      };
    const status = opts.statuses[Math.min(statusIndex++, opts.statuses.length - 1)]!;
    return {
      Stacks: [
        {
          StackName: STACK,
          StackId: STACK_ID,
          StackStatus: status,
          CreationTime: new Date(),
          Outputs: Object.entries(opts.outputs ?? {}).map(([OutputKey, OutputValue]) => ({
            OutputKey,
            OutputValue,
          })),
        },
      ],
    };
  });
  let fenced = false;
  cfnMock.on(DescribeStackEventsCommand).callsFake((input: { NextToken?: string }) => {
    if (fenced && input.NextToken === undefined && batch < opts.eventBatches.length) {
      const fresh = opts.eventBatches[batch++]!.map((e) => ({
        ...e,
        EventId: `e${++n}`,
        StackId: STACK_ID,
        StackName: STACK,
        Timestamp: new Date(n * 1000),
      }));
      published = [...fresh.reverse(), ...published];
    }
    fenced = true;
    const start = input.NextToken === undefined ? 0 : Number(input.NextToken);
    const page = published.slice(start, start + 2);
    return { StackEvents: page, ...(start + 2 < published.length ? { NextToken: String(start + 2) } : {}) };
  });
}

function changeSetOk() {
  cfnMock.on(CreateChangeSetCommand).resolves({ Id: CHANGE_SET_ID, StackId: STACK_ID });
  cfnMock
    .on(DescribeChangeSetCommand)
    .resolvesOnce({ Status: 'CREATE_PENDING' })
    .resolves({ Status: 'CREATE_COMPLETE', Changes: [{ Type: 'Resource' }, { Type: 'Resource' }] });
  cfnMock.on(ExecuteChangeSetCommand).resolves({});
}

const fast = { pollIntervalMs: 0, sleep: async () => {} };

beforeEach(() => {
  cfnMock.reset();
});

function collect(): { progress: DeployProgress[]; onProgress: (p: DeployProgress) => void } {
  const progress: DeployProgress[] = [];
  return { progress, onProgress: (p) => progress.push(p) };
}

describe('deployStack', () => {
  it('creates a new stack through a CREATE change set, reporting events as they come', async () => {
    scriptStack({
      statuses: ['CREATE_IN_PROGRESS', 'CREATE_IN_PROGRESS', 'CREATE_COMPLETE'],
      eventBatches: [
        [
          {
            LogicalResourceId: STACK,
            ResourceType: 'AWS::CloudFormation::Stack',
            ResourceStatus: 'CREATE_IN_PROGRESS',
          },
          {
            LogicalResourceId: 'GuardTopic',
            ResourceType: 'AWS::SNS::Topic',
            ResourceStatus: 'CREATE_IN_PROGRESS',
          },
        ],
        [
          {
            LogicalResourceId: 'GuardTopic',
            ResourceType: 'AWS::SNS::Topic',
            ResourceStatus: 'CREATE_COMPLETE',
          },
          {
            LogicalResourceId: 'QuarantineRole',
            ResourceType: 'AWS::IAM::Role',
            ResourceStatus: 'CREATE_COMPLETE',
          },
          {
            LogicalResourceId: STACK,
            ResourceType: 'AWS::CloudFormation::Stack',
            ResourceStatus: 'CREATE_COMPLETE',
          },
        ],
      ],
      outputs: { QuarantineFunctionArn: 'arn:fn' },
    });
    changeSetOk();
    const { progress, onProgress } = collect();

    const result = await deployStack({
      cloudFormation: cfn,
      stackName: STACK,
      templateBody: '{}',
      parameters: { NotificationEmail: 'a@b.c' },
      onProgress,
      ...fast,
    });

    expect(result).toEqual({
      status: 'created',
      stackId: STACK_ID,
      outputs: { QuarantineFunctionArn: 'arn:fn' },
    });
    const create = cfnMock.commandCalls(CreateChangeSetCommand)[0]!.args[0].input;
    expect(create).toMatchObject({
      StackName: STACK,
      ChangeSetType: 'CREATE',
      TemplateBody: '{}',
      Capabilities: ['CAPABILITY_NAMED_IAM'],
      Parameters: [{ ParameterKey: 'NotificationEmail', ParameterValue: 'a@b.c' }],
    });
    expect(cfnMock.commandCalls(ExecuteChangeSetCommand)).toHaveLength(1);
    expect(progress[0]).toEqual({
      type: 'change-set-created',
      stackName: STACK,
      changeSetType: 'CREATE',
      changes: 2,
    });
    const events = progress.flatMap((p) =>
      p.type === 'stack-event' ? [`${p.event.logicalId} ${p.event.status}`] : [],
    );
    expect(events).toEqual([
      `${STACK} CREATE_IN_PROGRESS`,
      'GuardTopic CREATE_IN_PROGRESS',
      'GuardTopic CREATE_COMPLETE',
      'QuarantineRole CREATE_COMPLETE',
      `${STACK} CREATE_COMPLETE`,
    ]);
  });

  it('updates an existing stack through an UPDATE change set', async () => {
    scriptStack({
      initial: 'CREATE_COMPLETE',
      statuses: ['UPDATE_IN_PROGRESS', 'UPDATE_COMPLETE'],
      eventBatches: [
        [
          {
            LogicalResourceId: STACK,
            ResourceType: 'AWS::CloudFormation::Stack',
            ResourceStatus: 'UPDATE_COMPLETE',
          },
        ],
      ],
    });
    changeSetOk();
    const result = await deployStack({ cloudFormation: cfn, stackName: STACK, templateBody: '{}', ...fast });
    expect(result.status).toBe('updated');
    expect(cfnMock.commandCalls(CreateChangeSetCommand)[0]!.args[0].input.ChangeSetType).toBe('UPDATE');
  });

  it.each([
    "The submitted information didn't contain changes. Submit different information to create a change set.",
    'No updates are to be performed.',
  ])('an update without changes is a no-op: %s', async (reason) => {
    scriptStack({
      initial: 'UPDATE_COMPLETE',
      statuses: ['UPDATE_COMPLETE'],
      eventBatches: [],
      outputs: { A: 'b' },
    });
    cfnMock.on(CreateChangeSetCommand).resolves({ Id: CHANGE_SET_ID, StackId: STACK_ID });
    cfnMock.on(DescribeChangeSetCommand).resolves({ Status: 'FAILED', StatusReason: reason });
    cfnMock.on(DeleteChangeSetCommand).resolves({});
    const result = await deployStack({ cloudFormation: cfn, stackName: STACK, templateBody: '{}', ...fast });
    expect(result).toEqual({ status: 'no-change', stackId: STACK_ID, outputs: { A: 'b' } });
    expect(cfnMock.commandCalls(ExecuteChangeSetCommand)).toHaveLength(0);
    expect(cfnMock.commandCalls(DeleteChangeSetCommand)).toHaveLength(1);
  });

  it('a change set that fails for another reason is a ChangeSetError', async () => {
    scriptStack({ initial: 'UPDATE_COMPLETE', statuses: ['UPDATE_COMPLETE'], eventBatches: [] });
    cfnMock.on(CreateChangeSetCommand).resolves({ Id: CHANGE_SET_ID, StackId: STACK_ID });
    cfnMock
      .on(DescribeChangeSetCommand)
      .resolves({ Status: 'FAILED', StatusReason: 'Template format error' });
    const error = await deployStack({
      cloudFormation: cfn,
      stackName: STACK,
      templateBody: '{}',
      ...fast,
    }).catch((e) => e);
    expect(error).toBeInstanceOf(ChangeSetError);
    expect(error.code).toBe('CHANGE_SET_FAILED');
  });

  it('a failed create names the first failing resource and the rollback (ROLLBACK_COMPLETE)', async () => {
    scriptStack({
      statuses: ['CREATE_IN_PROGRESS', 'ROLLBACK_IN_PROGRESS', 'ROLLBACK_COMPLETE'],
      eventBatches: [
        [
          {
            LogicalResourceId: 'DeviceUser',
            ResourceType: 'AWS::IAM::User',
            ResourceStatus: 'CREATE_FAILED',
            ResourceStatusReason: 'laptop already exists in stack arn:other',
          },
          {
            LogicalResourceId: 'GuardAlarm',
            ResourceType: 'AWS::CloudWatch::Alarm',
            ResourceStatus: 'CREATE_FAILED',
            ResourceStatusReason: 'Resource creation cancelled',
          },
        ],
        [
          {
            LogicalResourceId: STACK,
            ResourceType: 'AWS::CloudFormation::Stack',
            ResourceStatus: 'ROLLBACK_IN_PROGRESS',
            ResourceStatusReason: 'The following resource(s) failed to create: [DeviceUser, GuardAlarm].',
          },
          {
            LogicalResourceId: STACK,
            ResourceType: 'AWS::CloudFormation::Stack',
            ResourceStatus: 'ROLLBACK_COMPLETE',
          },
        ],
      ],
    });
    changeSetOk();
    const error = await deployStack({
      cloudFormation: cfn,
      stackName: STACK,
      templateBody: '{}',
      ...fast,
    }).catch((e) => e);
    expect(error).toBeInstanceOf(StackDeployError);
    expect(StackError.is(error)).toBe(true);
    expect(error.code).toBe('STACK_DEPLOY_FAILED');
    expect(error.stackStatus).toBe('ROLLBACK_COMPLETE');
    expect(error.failedResource).toEqual({
      logicalId: 'DeviceUser',
      type: 'AWS::IAM::User',
      status: 'CREATE_FAILED',
      reason: 'laptop already exists in stack arn:other',
    });
    expect(error.message).toContain('DeviceUser (AWS::IAM::User) CREATE_FAILED: laptop already exists');
    expect(error.details.rolledBack).toBe(true);
    expect(error.resolution).toContain('rolled back');
  });

  it('a failed update reports UPDATE_ROLLBACK_COMPLETE and ignores events from before it started', async () => {
    scriptStack({
      initial: 'UPDATE_COMPLETE',
      previous: {
        LogicalResourceId: 'OldThing',
        ResourceType: 'AWS::SNS::Topic',
        ResourceStatus: 'UPDATE_FAILED',
        ResourceStatusReason: 'an old failure',
      },
      statuses: ['UPDATE_IN_PROGRESS', 'UPDATE_ROLLBACK_COMPLETE'],
      eventBatches: [
        [
          {
            LogicalResourceId: 'QuarantineFunction',
            ResourceType: 'AWS::Lambda::Function',
            ResourceStatus: 'UPDATE_FAILED',
            ResourceStatusReason: 'The runtime parameter of nodejs20.x is no longer supported',
          },
          {
            LogicalResourceId: STACK,
            ResourceType: 'AWS::CloudFormation::Stack',
            ResourceStatus: 'UPDATE_ROLLBACK_COMPLETE',
          },
        ],
      ],
    });
    changeSetOk();
    const error = await deployStack({
      cloudFormation: cfn,
      stackName: STACK,
      templateBody: '{}',
      ...fast,
    }).catch((e) => e);
    expect(error).toBeInstanceOf(StackDeployError);
    expect(error.stackStatus).toBe('UPDATE_ROLLBACK_COMPLETE');
    expect(error.failedResource.logicalId).toBe('QuarantineFunction');
  });

  it('deletes a stack left in ROLLBACK_COMPLETE, then creates it', async () => {
    let deleted = false;
    cfnMock.on(DescribeStacksCommand).callsFake((input: { StackName?: string }) => {
      if (!deleted)
        return {
          Stacks: [
            {
              StackName: STACK,
              StackId: STACK_ID,
              StackStatus: 'ROLLBACK_COMPLETE',
              CreationTime: new Date(),
            },
          ],
        };
      if (input.StackName === STACK) throw missingStack();
      return {
        Stacks: [
          { StackName: STACK, StackId: STACK_ID, StackStatus: 'CREATE_COMPLETE', CreationTime: new Date() },
        ],
      };
    });
    cfnMock.on(DeleteStackCommand).callsFake(() => {
      deleted = true;
      return {};
    });
    cfnMock.on(DescribeStackEventsCommand).resolves({ StackEvents: [] });
    changeSetOk();
    // After the delete, DescribeStacks by id reports DELETE_COMPLETE first.
    let byId = 0;
    cfnMock.on(DescribeStacksCommand, { StackName: STACK_ID }).callsFake(() => ({
      Stacks: [
        {
          StackName: STACK,
          StackId: STACK_ID,
          StackStatus: byId++ === 0 ? 'DELETE_COMPLETE' : 'CREATE_COMPLETE',
          CreationTime: new Date(),
        },
      ],
    }));
    const { progress, onProgress } = collect();
    const result = await deployStack({
      cloudFormation: cfn,
      stackName: STACK,
      templateBody: '{}',
      onProgress,
      ...fast,
    });
    expect(result.status).toBe('created');
    expect(progress[0]).toEqual({
      type: 'deleting-failed-stack',
      stackName: STACK,
      status: 'ROLLBACK_COMPLETE',
    });
    expect(cfnMock.commandCalls(CreateChangeSetCommand)[0]!.args[0].input.ChangeSetType).toBe('CREATE');
  });

  it('refuses to touch a stack that is busy', async () => {
    cfnMock.on(DescribeStacksCommand).resolves({
      Stacks: [{ StackName: STACK, StackStatus: 'UPDATE_IN_PROGRESS', CreationTime: new Date() }],
    });
    await expect(
      deployStack({ cloudFormation: cfn, stackName: STACK, templateBody: '{}', ...fast }),
    ).rejects.toBeInstanceOf(StackBusyError);
  });

  it('wraps an AWS error (e.g. expired credentials) in a typed error that keeps the cause', async () => {
    const expired = new CloudFormationServiceException({
      name: 'ExpiredToken',
      $fault: 'client',
      $metadata: { httpStatusCode: 403 },
      message: 'The security token included in the request is expired',
    });
    cfnMock.on(DescribeStacksCommand).rejects(expired);
    const error = await deployStack({
      cloudFormation: cfn,
      stackName: STACK,
      templateBody: '{}',
      ...fast,
    }).catch((e) => e);
    expect(error).toBeInstanceOf(CloudFormationCallError);
    expect(error.code).toBe('CLOUDFORMATION_CALL_FAILED');
    expect(error.awsErrorName).toBe('ExpiredToken');
    expect(error.cause).toBe(expired);
  });
});

describe('deleteStack', () => {
  it('deletes and waits for DELETE_COMPLETE, following the stack by id', async () => {
    scriptStack({
      initial: 'CREATE_COMPLETE',
      statuses: ['DELETE_IN_PROGRESS', 'DELETE_COMPLETE'],
      eventBatches: [
        [
          {
            LogicalResourceId: STACK,
            ResourceType: 'AWS::CloudFormation::Stack',
            ResourceStatus: 'DELETE_COMPLETE',
          },
        ],
      ],
    });
    cfnMock.on(DeleteStackCommand).resolves({});
    const { progress, onProgress } = collect();
    expect(await deleteStack({ cloudFormation: cfn, stackName: STACK, onProgress, ...fast })).toEqual({
      status: 'deleted',
    });
    expect(cfnMock.commandCalls(DeleteStackCommand)[0]!.args[0].input).toEqual({ StackName: STACK_ID });
    expect(progress.map((p) => p.type === 'stack-event' && p.event.status)).toEqual(['DELETE_COMPLETE']);
  });

  it('a missing stack is absent, not an error', async () => {
    cfnMock.on(DescribeStacksCommand).rejects(missingStack());
    expect(await deleteStack({ cloudFormation: cfn, stackName: STACK, ...fast })).toEqual({
      status: 'absent',
    });
    expect(cfnMock.commandCalls(DeleteStackCommand)).toHaveLength(0);
  });

  it('DELETE_FAILED is a StackDeleteError naming the resource', async () => {
    scriptStack({
      initial: 'CREATE_COMPLETE',
      statuses: ['DELETE_IN_PROGRESS', 'DELETE_FAILED'],
      eventBatches: [
        [
          {
            LogicalResourceId: 'DeviceUser',
            ResourceType: 'AWS::IAM::User',
            ResourceStatus: 'DELETE_FAILED',
            ResourceStatusReason: 'Cannot delete entity, must delete access keys first.',
          },
        ],
      ],
    });
    cfnMock.on(DeleteStackCommand).resolves({});
    const error = await deleteStack({ cloudFormation: cfn, stackName: STACK, ...fast }).catch((e) => e);
    expect(error).toBeInstanceOf(StackDeleteError);
    expect(error.code).toBe('STACK_DELETE_FAILED');
    expect(error.message).toContain('must delete access keys first');
  });
});

describe('readStackOutputs', () => {
  it('returns outputs as a record, and a typed error for a missing stack', async () => {
    cfnMock.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: STACK,
          StackStatus: 'CREATE_COMPLETE',
          CreationTime: new Date(),
          Outputs: [{ OutputKey: 'K', OutputValue: 'V' }],
        },
      ],
    });
    expect(await readStackOutputs(cfn, STACK)).toEqual({ K: 'V' });
    cfnMock.reset();
    cfnMock.on(DescribeStacksCommand).rejects(missingStack());
    await expect(readStackOutputs(cfn, STACK)).rejects.toMatchObject({ code: 'STACK_NOT_FOUND' });
  });
});
