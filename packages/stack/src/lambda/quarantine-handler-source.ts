/**
 * The quarantine Lambda, as the exact CommonJS text that the guard template inlines in
 * `Code.ZipFile` (CloudFormation writes it to `index.js`; handler `index.handler`).
 *
 * Why a string: this one text is both what is deployed and what the tests execute (they
 * evaluate it with `vm` and a `require` that hands out the real AWS SDK v3 packages,
 * mocked with aws-sdk-client-mock). There is no second copy to drift and no build step
 * between the tested code and the deployed code. It uses only the SDK v3 clients that
 * the Lambda Node.js runtime bundles (client-iam, client-cloudwatch-logs, client-sns).
 *
 * Structure: `exports.quarantine(event, deps)` is the logic with injected clients,
 * environment, clock and logger; `exports.handler` only builds the real dependencies.
 *
 * Order matters: attach `AWSDenyAll` FIRST. If that fails, notify (best effort) and
 * throw, so Lambda's asynchronous retries (and the on-failure destination) take over.
 * Looking up the events and notifying come after and can never undo or prevent the
 * quarantine: their failures are logged and reported in the message, not thrown.
 *
 * Environment: TOPIC_ARN, TRAIL_LOG_GROUP, GUARD_PATTERN (the metric filter's pattern),
 * DENY_ALL_ARN (partition-correct ARN of AWSDenyAll), LOOKBACK_MINUTES (optional).
 */
export const QUARANTINE_HANDLER_SOURCE = String.raw`'use strict';
const { IAMClient, AttachUserPolicyCommand } = require('@aws-sdk/client-iam');
const { CloudWatchLogsClient, FilterLogEventsCommand } = require('@aws-sdk/client-cloudwatch-logs');
const { SNSClient, PublishCommand } = require('@aws-sdk/client-sns');

const USER_NAME = /^[\w+=,.@-]{1,64}$/;
const MAX_EVENTS = 50;
const MAX_PAGES = 5;

function userOf(event) {
  const metrics = (event.alarmData && event.alarmData.configuration && event.alarmData.configuration.metrics) || [];
  for (const m of metrics) {
    const d = m && m.metricStat && m.metricStat.metric && m.metricStat.metric.dimensions;
    if (d && typeof d.User === 'string') return d.User;
  }
  return undefined;
}

async function findEvents(deps, user) {
  const env = deps.env;
  const inner = env.GUARD_PATTERN.trim().replace(/^\{/, '').replace(/\}$/, '');
  const now = deps.now();
  const input = {
    logGroupName: env.TRAIL_LOG_GROUP,
    filterPattern: '{ (' + inner + ') && $.userIdentity.userName = "' + user + '" }',
    startTime: now - Number(env.LOOKBACK_MINUTES || 60) * 60000,
    endTime: now,
  };
  const found = [];
  let nextToken;
  for (let page = 0; page < MAX_PAGES && found.length < MAX_EVENTS; page++) {
    const out = await deps.logs.send(new FilterLogEventsCommand({ ...input, nextToken }));
    for (const e of out.events || []) if (found.length < MAX_EVENTS) found.push(e.message);
    nextToken = out.nextToken;
    if (!nextToken) break;
  }
  return found;
}

function describe(message) {
  let r;
  try { r = JSON.parse(message); } catch { return '- (unparsed) ' + String(message).slice(0, 300); }
  return '- ' + r.eventTime + ' ' + r.eventSource + ' ' + r.eventName + ' ' + (r.errorCode || 'no error') +
    ' from ' + r.sourceIPAddress + ' in ' + r.awsRegion + ' (' + r.userAgent + ')';
}

async function notify(deps, subject, lines) {
  try {
    await deps.sns.send(new PublishCommand({ TopicArn: deps.env.TOPIC_ARN, Subject: subject.slice(0, 99), Message: lines.join('\n') }));
    return true;
  } catch (err) {
    deps.log.error('notification failed', { error: err.name, message: err.message });
    return false;
  }
}

function recovery(user, alarm, policyArn) {
  return [
    'To recover, with the owner\'s admin credentials:',
    '  backupctl recover --user ' + user + ' --profile <admin>',
    'or by hand:',
    '  1. Inspect the events above (and in the trail\'s log group).',
    '  2. Delete the user\'s access keys: aws iam list-access-keys --user-name ' + user + ', then aws iam delete-access-key.',
    '  3. aws iam detach-user-policy --user-name ' + user + ' --policy-arn ' + policyArn,
    '  4. aws cloudwatch set-alarm-state --alarm-name ' + alarm + ' --state-value OK --state-reason recovered',
    '  5. Run backupctl init --force on the device to store a new key.',
  ];
}

exports.quarantine = async function quarantine(event, deps) {
  const data = (event && event.alarmData) || {};
  const state = data.state && data.state.value;
  const alarm = data.alarmName || '(unknown alarm)';
  if (state !== 'ALARM') {
    deps.log.info('not an ALARM state change, nothing to do', { alarm, state });
    return { action: 'ignored', reason: 'state ' + state };
  }
  const user = userOf(event);
  if (!user || !USER_NAME.test(user)) {
    deps.log.error('alarm carries no valid User dimension', { alarm, user });
    await notify(deps, 'backupctl guard: alarm without a user', [
      'The guard alarm ' + alarm + ' fired but carries no valid User dimension (' + user + '). Nobody was quarantined.',
      'Check the alarm\'s Dimensions: it must be User=<IAM user name>.',
    ]);
    return { action: 'ignored', reason: 'no-user' };
  }
  const policyArn = deps.env.DENY_ALL_ARN;
  try {
    await deps.iam.send(new AttachUserPolicyCommand({ UserName: user, PolicyArn: policyArn }));
  } catch (err) {
    deps.log.error('quarantine FAILED', { user, error: err.name, message: err.message });
    await notify(deps, 'backupctl guard: FAILED to quarantine ' + user, [
      'The guard alarm ' + alarm + ' fired for IAM user ' + user + ' but attaching ' + policyArn + ' failed: ' + err.name + ': ' + err.message,
      'Lambda retries; if this persists, disable the user\'s access keys by hand now.',
    ]);
    throw err;
  }
  deps.log.info('quarantined', { user, policyArn });
  let lines;
  let lookup = 'ok';
  try {
    const found = await findEvents(deps, user);
    lines = found.length ? found.map(describe) : ['(none found yet: CloudTrail may still be delivering; see the trail\'s log group)'];
  } catch (err) {
    lookup = 'failed';
    deps.log.error('event lookup failed', { user, error: err.name, message: err.message });
    lines = ['(the lookup failed: ' + err.name + ': ' + err.message + ')'];
  }
  const notified = await notify(deps, 'backupctl guard: quarantined ' + user, [
    'IAM user ' + user + ' made a denied or identity call and has been quarantined:',
    policyArn + ' is attached, so every request of its key is now denied.',
    'Alarm: ' + alarm + ' (' + (event.region || '') + ', account ' + (event.accountId || '') + ')',
    '',
    'Offending calls (time, service, call, error, source IP, region, user agent):',
    ...lines,
    '',
    ...recovery(user, alarm, policyArn),
  ]);
  return { action: 'quarantined', user, lookup, notified };
};

exports.handler = async function handler(event) {
  const log = {
    info: (msg, data) => console.info(JSON.stringify({ msg, ...data })),
    error: (msg, data) => console.error(JSON.stringify({ msg, ...data })),
  };
  return exports.quarantine(event, {
    iam: new IAMClient({ maxAttempts: 5 }),
    logs: new CloudWatchLogsClient({}),
    sns: new SNSClient({}),
    env: process.env,
    now: () => Date.now(),
    log,
  });
};
`;
