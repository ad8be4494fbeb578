import { ACCOUNT_ID_SUB } from '../guard-pattern.js';
import { type CfnValue, join, ref, split, sub } from './cfn.js';

/**
 * The CloudWatch console's hash-fragment encoding: each value is URI-encoded twice and
 * every `%` then written as `$` (so `/` becomes `$252F`, `{` becomes `$257B`).
 */
export function consoleFragmentEncode(value: string): string {
  return encodeURIComponent(encodeURIComponent(value)).replaceAll('%', '$');
}

/**
 * The same encoding, done by CloudFormation at deploy time for a log group name that is
 * only known then (a parameter). Log group names are `[\.\-_/#A-Za-z0-9]+`: only `/` and
 * `#` need encoding, which `Fn::Split` + `Fn::Join` can do.
 */
export function consoleFragmentEncodeLogGroup(logGroupName: CfnValue): CfnValue {
  const slashes = join(consoleFragmentEncode('/'), split('/', logGroupName));
  return join(consoleFragmentEncode('#'), split('#', slashes));
}

/**
 * Deep link to the log group's events, filtered with `filterPattern` (known when the
 * template is generated, except for `${AWS::AccountId}`, which is filled in at deploy time:
 * 12 digits need no encoding), in the stack's region.
 */
export function logEventsConsoleUrl(logGroupName: CfnValue, filterPattern: string): CfnValue {
  const pieces = filterPattern.split(ACCOUNT_ID_SUB).map(consoleFragmentEncode);
  const encodedPattern: CfnValue[] = pieces.flatMap((piece, i) =>
    i === 0 ? [piece] : [ref('AWS::AccountId'), piece],
  );
  const base = sub(
    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
    'https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region=${AWS::Region}#logsV2:log-groups/log-group/',
  );
  // `?` and `=` of the fragment's query are encoded once, the values twice.
  return join('', [
    base,
    consoleFragmentEncodeLogGroup(logGroupName),
    '/log-events$3FfilterPattern$3D',
    ...encodedPattern,
  ]);
}
