/**
 * The quarantine Lambda, as the exact CommonJS text that the guard template inlines in
 * `Code.ZipFile` (CloudFormation writes it to `index.js`; handler `index.handler`).
 *
 * Why a string: this one text is both what is deployed and what the tests execute (they
 * evaluate it with `vm` and a `require` that hands out the real AWS SDK v3 packages,
 * mocked with aws-sdk-client-mock). There is no second copy to drift and no build step
 * between the tested code and the deployed code. It uses only SDK v3 clients that the
 * Lambda Node.js runtime bundles (client-iam, client-cloudwatch, client-cloudwatch-logs,
 * client-sns).
 *
 * Structure: `exports.quarantine(event, deps)` is the logic with injected clients,
 * environment, clock and logger; `exports.handler` only builds the real dependencies.
 *
 * Two kinds of invocation:
 * - An alarm's state change (once per change, asynchronous). Before acting, the alarm's
 *   CURRENT state is read (DescribeAlarms): a retry that arrives after the alarm went back
 *   to OK (the owner recovered the device) must not quarantine it again. If the state
 *   cannot be read, it quarantines all the same (fail towards the quarantine).
 * - The sweep (`{"backupctl":"sweep"}`, every 5 minutes from an EventBridge schedule): for
 *   every guard alarm in ALARM, attach AWSDenyAll to its user unless it is attached already
 *   (ListAttachedUserPolicies). An alarm never invokes its action twice for one ALARM
 *   period, so this is what retries a quarantine whose attempts all failed, for as long as
 *   the alarm stays in ALARM (it stays there while the recent data breach, and `recover`
 *   waits for OK before it detaches the policy).
 *
 * Order matters: attach `AWSDenyAll` FIRST. If that fails with a transient error, notify
 * (best effort) and throw, so Lambda's asynchronous retries (twice) and then the sweep take
 * over. A user that no longer exists (NoSuchEntity) is not transient: reported, not
 * retried. Looking up the events and notifying come after the attach and can never undo or
 * prevent it: their failures are logged and reported in the message, not thrown.
 *
 * The e-mail quotes CloudTrail fields a thief controls (user agent, error message, …): each
 * is stripped of control characters (no forged lines) and cut to a bounded length.
 *
 * Environment: TOPIC_ARN, TRAIL_LOG_GROUP, GUARD_PATTERN (the metric filter's pattern),
 * DENY_ALL_ARN (partition-correct ARN of AWSDenyAll), ALARM_NAME_PREFIX, LOOKBACK_MINUTES
 * (optional).
 */
export const QUARANTINE_HANDLER_SOURCE = String.raw`'use strict';
const { IAMClient, AttachUserPolicyCommand, ListAttachedUserPoliciesCommand } = require('@aws-sdk/client-iam');
const { CloudWatchClient, DescribeAlarmsCommand } = require('@aws-sdk/client-cloudwatch');
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

// A field of a CloudTrail record, safe to quote: no control characters, bounded length.
function clean(value, max) {
  if (value === undefined || value === null) return '-';
  const text = String(value).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
  return text.length > max ? text.slice(0, max) + '...(cut)' : text;
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
  try { r = JSON.parse(message); } catch { return '- (unparsed) ' + clean(message, 300); }
  if (!r || typeof r !== 'object') return '- (unparsed) ' + clean(message, 300);
  const line = '- ' + clean(r.eventTime, 40) + ' ' + clean(r.eventSource, 60) + ' ' + clean(r.eventName, 80) + ' ' +
    (r.errorCode ? clean(r.errorCode, 60) : 'no error') + ' from ' + clean(r.sourceIPAddress, 64) +
    ' in ' + clean(r.awsRegion, 30) + ' (user agent: ' + clean(r.userAgent, 200) + ')';
  return r.errorMessage ? line + '\n    error: ' + clean(r.errorMessage, 300) : line;
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
    'To recover, with the owner\'s admin credentials, run on the device:',
    '  backupctl recover',
    'It shows these events and asks you to confirm, deletes the user\'s old access keys,',
    'waits for the alarm ' + alarm + ' to return to OK on its own, detaches ' + policyArn + ',',
    'stores a new access key in the device\'s secret store, checks that the key works (allowing',
    'for IAM\'s propagation delay) and clears the device\'s quarantine state. It can be re-run.',
    'Then check: backupctl status (on the device), backupctl guard status (all devices).',
    '',
    'If you did not make these calls yourself, the key is stolen: recover all the same, and look',
    'at what else the source IPs above did in your trail. By hand, the same steps are:',
    '  1. Delete the user\'s access keys: aws iam list-access-keys --user-name ' + user + ', then aws iam delete-access-key for each.',
    '  2. Wait until the alarm is OK by itself: aws cloudwatch describe-alarms --alarm-names ' + alarm + '.',
    '     Never force it with set-alarm-state: it re-evaluates the recent data and fires again.',
    '  3. aws iam detach-user-policy --user-name ' + user + ' --policy-arn ' + policyArn,
    '  4. Then on the device: backupctl recover (it finds steps 1-3 done, stores a new key and checks it).',
  ];
}

function transient(err) {
  return !(err && err.name === 'NoSuchEntity');
}

// The alarm's state now: 'ALARM', 'OK', 'INSUFFICIENT_DATA', or undefined when it cannot be read.
async function alarmStateNow(deps, alarm) {
  try {
    const out = await deps.cloudwatch.send(new DescribeAlarmsCommand({ AlarmNames: [alarm], AlarmTypes: ['MetricAlarm'] }));
    const found = (out.MetricAlarms || []).find((a) => a.AlarmName === alarm);
    return found ? found.StateValue : 'DELETED';
  } catch (err) {
    deps.log.error('alarm state unknown, quarantining all the same', { alarm, error: err.name, message: err.message });
    return undefined;
  }
}

async function attach(deps, user, alarm, policyArn) {
  try {
    await deps.iam.send(new AttachUserPolicyCommand({ UserName: user, PolicyArn: policyArn }));
    return { ok: true };
  } catch (err) {
    if (!transient(err)) {
      deps.log.error('user no longer exists, nothing to quarantine', { user, error: err.name });
      await notify(deps, 'backupctl guard: ' + user + ' no longer exists', [
        'The guard alarm ' + alarm + ' is in ALARM for IAM user ' + user + ', but IAM says the user no longer exists',
        '(' + err.name + '), so there is nothing to quarantine and this will not be retried.',
        'If you did not delete that user, look at who did in your trail.',
      ]);
      return { ok: false, gone: true };
    }
    deps.log.error('quarantine FAILED', { user, error: err.name, message: err.message });
    await notify(deps, 'backupctl guard: FAILED to quarantine ' + user, [
      'The guard alarm ' + alarm + ' is in ALARM for IAM user ' + user + ' but attaching ' + policyArn + ' failed: ' + clean(err.name, 80) + ': ' + clean(err.message, 300),
      'Lambda retries, then the guard retries every 5 minutes while the alarm is in ALARM.',
      'If this persists, delete the user\'s access keys by hand now: aws iam list-access-keys --user-name ' + user + ', then aws iam delete-access-key.',
    ]);
    throw err;
  }
}

async function report(deps, event, user, alarm, policyArn) {
  let lines;
  let lookup = 'ok';
  try {
    const found = await findEvents(deps, user);
    lines = found.length ? found.map(describe) : ['(none found yet: CloudTrail may still be delivering; see the trail\'s log group)'];
  } catch (err) {
    lookup = 'failed';
    deps.log.error('event lookup failed', { user, error: err.name, message: err.message });
    lines = ['(the lookup failed: ' + clean(err.name, 80) + ': ' + clean(err.message, 300) + ')'];
  }
  const notified = await notify(deps, 'backupctl guard: quarantined ' + user, [
    'IAM user ' + user + ' made a denied call or an identity call (GetCallerIdentity, GetSessionToken)',
    'and has been quarantined: ' + policyArn + ' is attached, so every request of its key is now denied.',
    'Alarm: ' + alarm + ' (' + clean(event.region || deps.env.AWS_REGION, 30) + ', account ' + clean(event.accountId, 12) + ')',
    '',
    'Offending calls (time, service, call, error, source IP, region, user agent):',
    ...lines,
    '',
    ...recovery(user, alarm, policyArn),
  ]);
  return { lookup, notified };
}

async function sweep(deps) {
  const policyArn = deps.env.DENY_ALL_ARN;
  const prefix = deps.env.ALARM_NAME_PREFIX || 'backupctl-guard-';
  const results = [];
  let nextToken;
  do {
    const out = await deps.cloudwatch.send(new DescribeAlarmsCommand({ AlarmNamePrefix: prefix, StateValue: 'ALARM', AlarmTypes: ['MetricAlarm'], NextToken: nextToken }));
    for (const a of out.MetricAlarms || []) {
      if (!String(a.AlarmName).startsWith(prefix)) continue;
      const d = (a.Dimensions || []).find((x) => x.Name === 'User');
      const user = d && d.Value;
      if (!user || !USER_NAME.test(user)) continue;
      let attached = false;
      try {
        const pols = await deps.iam.send(new ListAttachedUserPoliciesCommand({ UserName: user }));
        attached = (pols.AttachedPolicies || []).some((p) => p.PolicyArn === policyArn);
      } catch (err) {
        if (!transient(err)) { results.push({ user, action: 'gone' }); continue; }
      }
      if (attached) { results.push({ user, action: 'already' }); continue; }
      const r = await attach(deps, user, a.AlarmName, policyArn).catch(() => ({ ok: false }));
      if (!r.ok) { results.push({ user, action: r.gone ? 'gone' : 'failed' }); continue; }
      deps.log.info('quarantined by the sweep', { user, policyArn });
      const arn = String(a.AlarmArn || '').split(':');
      await report(deps, { region: arn[3] || deps.env.AWS_REGION, accountId: arn[4] || '' }, user, a.AlarmName, policyArn);
      results.push({ user, action: 'quarantined' });
    }
    nextToken = out.NextToken;
  } while (nextToken);
  if (results.some((r) => r.action === 'failed')) {
    const err = new Error('the sweep could not quarantine: ' + results.filter((r) => r.action === 'failed').map((r) => r.user).join(', '));
    err.name = 'QuarantineSweepFailed';
    throw err;
  }
  return { action: 'swept', results };
}

exports.quarantine = async function quarantine(event, deps) {
  if (event && event.backupctl === 'sweep') return sweep(deps);
  const data = (event && event.alarmData) || {};
  const state = data.state && data.state.value;
  const alarm = data.alarmName || '(unknown alarm)';
  if (state !== 'ALARM') {
    deps.log.info('not an ALARM state change, nothing to do', { alarm, state });
    return { action: 'ignored', reason: 'state ' + state };
  }
  const user = userOf(event);
  if (!user || !USER_NAME.test(user)) {
    deps.log.error('alarm carries no valid User dimension', { alarm, user: clean(user, 80) });
    await notify(deps, 'backupctl guard: alarm without a user', [
      'The guard alarm ' + clean(alarm, 255) + ' fired but carries no valid User dimension (' + clean(user, 80) + '). Nobody was quarantined.',
      'Check the alarm\'s Dimensions: it must be User=<IAM user name>.',
    ]);
    return { action: 'ignored', reason: 'no-user' };
  }
  const now = await alarmStateNow(deps, alarm);
  if (now !== undefined && now !== 'ALARM') {
    deps.log.info('the alarm is no longer in ALARM, nothing to do', { alarm, state: now });
    return { action: 'ignored', reason: 'alarm now ' + now };
  }
  const policyArn = deps.env.DENY_ALL_ARN;
  const attached = await attach(deps, user, alarm, policyArn);
  if (!attached.ok) return { action: 'ignored', reason: 'no-such-user' };
  deps.log.info('quarantined', { user, policyArn });
  const { lookup, notified } = await report(deps, event, user, alarm, policyArn);
  return { action: 'quarantined', user, lookup, notified };
};

exports.handler = async function handler(event) {
  const log = {
    info: (msg, data) => console.info(JSON.stringify({ msg, ...data })),
    error: (msg, data) => console.error(JSON.stringify({ msg, ...data })),
  };
  return exports.quarantine(event, {
    iam: new IAMClient({ maxAttempts: 5 }),
    cloudwatch: new CloudWatchClient({ maxAttempts: 5 }),
    logs: new CloudWatchLogsClient({}),
    sns: new SNSClient({}),
    env: process.env,
    now: () => Date.now(),
    log,
  });
};
`;
