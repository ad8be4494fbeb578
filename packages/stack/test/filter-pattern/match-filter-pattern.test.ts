import { describe, expect, it } from 'vitest';
import { matchesFilterPattern, parseFilterPattern } from '../../src/filter-pattern/index.js';

const matches = (pattern: string, event: unknown): boolean =>
  matchesFilterPattern(parseFilterPattern(pattern), event);

// AWS, CloudWatch Logs User Guide, "Filter pattern syntax for metric filters …",
// section "Using filter patterns to match terms in JSON log events": the example event
// and the patterns AWS says match it.
const awsExample = {
  eventType: 'UpdateTrail',
  sourceIPAddress: '111.111.111.111',
  arrayKey: ['value', 'another value'],
  objectList: [
    { name: 'a', id: 1 },
    { name: 'b', id: 2 },
  ],
  SomeObject: null,
  ThisFlag: true,
};

// AWS, same page, "JSON compound conditions": the example event.
const awsCompound = {
  user: { id: 1, email: 'John.Stiles@example.com' },
  users: [
    { id: 2, email: 'John.Doe@example.com' },
    { id: 3, email: 'Jane.Doe@example.com' },
  ],
  actions: ['GET', 'PUT', 'DELETE'],
  coordinates: [
    [0, 1, 2],
    [4, 5, 6],
    [7, 8, 9],
  ],
};

describe('AWS documented JSON examples (Filter pattern syntax, JSON log events)', () => {
  it.each([
    ['{ $.eventType = "UpdateTrail" }'],
    ['{ $.sourceIPAddress != 123.123.* }'],
    ['{ $.arrayKey[0] = "value" }'],
    ['{ $.objectList[1].id = 2 }'],
    ['{ $.SomeObject IS NULL }'],
    ['{ $.SomeOtherObject NOT EXISTS }'],
    ['{ $.ThisFlag IS TRUE }'],
  ])('AWS example %s matches the documented event', (pattern) => {
    expect(matches(pattern, awsExample)).toBe(true);
  });

  it.each([
    ['{ $.eventType = "PutTrail" }'],
    ['{ $.sourceIPAddress != 111.111.* }'],
    ['{ $.arrayKey[1] = "value" }'],
    ['{ $.objectList[0].id = 2 }'],
    ['{ $.eventType IS NULL }'],
    ['{ $.SomeObject NOT EXISTS }'],
    ['{ $.ThisFlag IS FALSE }'],
  ])('the documented example negated, %s, does not match', (pattern) => {
    expect(matches(pattern, awsExample)).toBe(false);
  });

  it('AWS: "If arrayKey is not an array this will be false"', () => {
    expect(matches('{ $.arrayKey[0] = "value" }', { arrayKey: 'value' })).toBe(false);
    expect(matches('{ $.objectList[1].id = 2 }', { objectList: { 1: { id: 2 } } })).toBe(false);
  });

  it('AWS: objectList items that are not objects or lack id give false', () => {
    expect(matches('{ $.objectList[1].id = 2 }', { objectList: [1, 2] })).toBe(false);
    expect(matches('{ $.objectList[1].id = 2 }', { objectList: [{}, { name: 'b' }] })).toBe(false);
  });

  it('AWS compound example 1: { ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") } matches', () => {
    expect(matches('{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }', awsCompound)).toBe(
      true,
    );
  });

  it('AWS compound example 2: { ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" } does not match', () => {
    expect(
      matches('{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }', awsCompound),
    ).toBe(false);
  });

  it('AWS compound example 3: && binds tighter than || (no parentheses) — matches', () => {
    expect(
      matches(
        '{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch && $.actions[2] = nomatch }',
        awsCompound,
      ),
    ).toBe(true);
  });

  it('AWS compound example 4: parentheses first — does not match', () => {
    expect(
      matches(
        '{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch) && $.actions[2] = nomatch }',
        awsCompound,
      ),
    ).toBe(false);
  });

  it('AWS: nested array index $.coordinates[1][2]', () => {
    expect(matches('{ $.coordinates[1][2] = 6 }', awsCompound)).toBe(true);
    expect(matches('{ $.coordinates[1][3] NOT EXISTS }', awsCompound)).toBe(true);
  });

  it('AWS OR example: { $.foo = bar || $.foo = baz } matches both events, each single pattern only one', () => {
    expect(matches('{$.foo = bar}', { foo: 'bar' })).toBe(true);
    expect(matches('{$.foo = bar}', { foo: 'baz' })).toBe(false);
    expect(matches('{$.foo = baz }', { foo: 'baz' })).toBe(true);
    expect(matches('{$.foo = bar || $.foo = baz }', { foo: 'bar' })).toBe(true);
    expect(matches('{$.foo = bar || $.foo = baz }', { foo: 'baz' })).toBe(true);
  });

  it('AWS special consideration: both { $.users = 1 } and { $.users != 1 } fail when users is an array', () => {
    expect(matches('{ $.users = 1 }', { users: [1, 2, 3] })).toBe(false);
    expect(matches('{ $.users != 1 }', { users: [1, 2, 3] })).toBe(false);
    expect(matches('{ $.users != 1 }', { users: { a: 1 } })).toBe(false);
  });

  it.each([
    ['{ $.latency >= 500 }', { latency: 500 }, true],
    ['{ $.latency >= 500 }', { latency: 499.9 }, false],
    ['{ $.numbers[0] < 10e3 }', { numbers: [9999] }, true],
    ['{ $.numbers[0] < 10e3 }', { numbers: [10000] }, false],
    ['{ $.numbers[0] < 10e-3 }', { numbers: [0.009] }, true],
    ['{ $.numbers[0] < 10e-3 }', { numbers: [0.01] }, false],
    [
      '{ $.processes[4].averageRuntime <= 55.5 }',
      { processes: [0, 0, 0, 0, { averageRuntime: 55.5 }] },
      true,
    ],
    [
      '{ $.processes[4].averageRuntime <= 55.5 }',
      { processes: [0, 0, 0, 0, { averageRuntime: 55.6 }] },
      false,
    ],
    ['{ $.errorCode = 400 }', { errorCode: 400 }, true],
    ['{ $.errorCode = 400 }', { errorCode: 400.0 }, true],
    ['{ $.errorCode = 400 }', { errorCode: 401 }, false],
    ['{ $.errorCode != 500 }', { errorCode: 400 }, true],
    ['{ $.errorCode != 500 }', { errorCode: 500 }, false],
    ['{ $.latency > +1000 }', { latency: 1001 }, true],
    ['{ $.latency > +1000 }', { latency: 1000 }, false],
    ['{ $.latency > -1 }', { latency: 0 }, true],
  ])('AWS numeric comparison example %s on %j → %s', (pattern, event, expected) => {
    expect(matches(pattern, event)).toBe(expected);
  });

  it('AWS: { $.latency = * } matches any latency value, not its absence', () => {
    expect(matches('{ $.latency = * }', { latency: 12 })).toBe(true);
    expect(matches('{ $.latency = * }', { latency: 'slow' })).toBe(true);
    expect(matches('{ $.latency = * }', {})).toBe(false);
    expect(matches('{ $.latency = * }', { latency: null })).toBe(false);
  });
});

describe('wildcards (AWS: "*Event" matches PutEvent, "Event*" EventId, "Ev*ent" only the string Ev*ent)', () => {
  it('suffix wildcard *Event', () => {
    expect(matches('{ $.n = *Event }', { n: 'PutEvent' })).toBe(true);
    expect(matches('{ $.n = *Event }', { n: 'GetEvent' })).toBe(true);
    expect(matches('{ $.n = *Event }', { n: 'EventId' })).toBe(false);
  });

  it('prefix wildcard Event*', () => {
    expect(matches('{ $.n = Event* }', { n: 'EventId' })).toBe(true);
    expect(matches('{ $.n = Event* }', { n: 'EventName' })).toBe(true);
    expect(matches('{ $.n = Event* }', { n: 'PutEvent' })).toBe(false);
  });

  it('a * in the middle is literal: Ev*ent matches only "Ev*ent"', () => {
    expect(matches('{ $.n = Ev*ent }', { n: 'Event' })).toBe(false);
    expect(matches('{ $.n = Ev*ent }', { n: 'Ev-ent' })).toBe(false);
    expect(matches('{ $.n = Ev*ent }', { n: 'Ev*ent' })).toBe(true);
    expect(matches('{ $.n = "arn:aws*:iam::*:user/x" }', { n: 'arn:aws:iam::1:user/x' })).toBe(false);
  });

  it('leading and trailing * make a contains-match, and the wildcard may match nothing', () => {
    expect(matches('{ $.n = "*AccessDenied*" }', { n: 'VpceAccessDenied' })).toBe(true);
    expect(matches('{ $.n = "*AccessDenied*" }', { n: 'AccessDeniedException' })).toBe(true);
    expect(matches('{ $.n = "*AccessDenied*" }', { n: 'AccessDenied' })).toBe(true);
    expect(matches('{ $.n = "*AccessDenied*" }', { n: 'Access Denied' })).toBe(false);
  });

  it('matching is case-sensitive', () => {
    expect(matches('{ $.n = "AccessDenied*" }', { n: 'accessdenied' })).toBe(false);
    expect(matches('{ $.n = "UpdateTrail" }', { n: 'updatetrail' })).toBe(false);
  });

  it('!= with a wildcard: value present and not matching', () => {
    expect(matches('{ $.ip != 123.123.* }', { ip: '123.123.1.1' })).toBe(false);
    expect(matches('{ $.ip != 123.123.* }', { ip: '10.0.0.1' })).toBe(true);
  });

  it('without a wildcard, = is an exact match, not a substring or prefix', () => {
    expect(matches('{ $.n = AccessDenied }', { n: 'AccessDeniedException' })).toBe(false);
    expect(matches('{ $.n = AccessDenied }', { n: 'VpceAccessDenied' })).toBe(false);
  });
});

describe('missing, null and non-value properties', () => {
  it('a missing property matches neither = nor !=', () => {
    expect(matches('{ $.errorCode = "AccessDenied" }', { eventName: 'x' })).toBe(false);
    expect(matches('{ $.errorCode != "AccessDenied" }', { eventName: 'x' })).toBe(false);
    expect(matches('{ $.a.b != "x" }', { a: {} })).toBe(false);
    expect(matches('{ $.a.b != 1 }', { a: 'string' })).toBe(false);
  });

  it('null matches neither = nor != but IS NULL; it exists', () => {
    expect(matches('{ $.a = "null" }', { a: null })).toBe(false);
    expect(matches('{ $.a != "x" }', { a: null })).toBe(false);
    expect(matches('{ $.a IS NULL }', { a: null })).toBe(true);
    expect(matches('{ $.a IS NULL }', {})).toBe(false);
    expect(matches('{ $.a NOT EXISTS }', { a: null })).toBe(false);
  });

  it('IS TRUE / IS FALSE want JSON booleans, not strings', () => {
    expect(matches('{ $.f IS TRUE }', { f: 'true' })).toBe(false);
    expect(matches('{ $.f IS FALSE }', { f: false })).toBe(true);
    expect(matches('{ $.f IS FALSE }', { f: 0 })).toBe(false);
    expect(matches('{ $.f IS FALSE }', {})).toBe(false);
  });

  it('a selector does not follow inherited properties', () => {
    expect(matches('{ $.toString NOT EXISTS }', {})).toBe(true);
    expect(matches('{ $.constructor = * }', {})).toBe(false);
  });

  it('array index past the end does not exist', () => {
    expect(matches('{ $.a[2] NOT EXISTS }', { a: [1, 2] })).toBe(true);
    expect(matches('{ $.a[1] = 2 }', { a: [1, 2] })).toBe(true);
  });
});

describe('numbers and strings across types', () => {
  it('a number operand compares with a numeric string (CloudTrail account ids are strings)', () => {
    expect(matches('{ $.recipientAccountId = 123456789012 }', { recipientAccountId: '123456789012' })).toBe(
      true,
    );
    expect(matches('{ $.recipientAccountId = 123456789012 }', { recipientAccountId: '123456789013' })).toBe(
      false,
    );
    expect(matches('{ $.n > 5 }', { n: '10' })).toBe(true);
  });

  it('a number operand against a non-numeric string: = false, != true, < false', () => {
    expect(matches('{ $.c = 400 }', { c: 'AccessDenied' })).toBe(false);
    expect(matches('{ $.c != 400 }', { c: 'AccessDenied' })).toBe(true);
    expect(matches('{ $.c < 400 }', { c: 'AccessDenied' })).toBe(false);
  });

  it('a quoted string against a number compares with the number as written in JSON', () => {
    expect(matches('{ $.id = "1" }', { id: 1 })).toBe(true);
    expect(matches('{ $.id = "1*" }', { id: 15 })).toBe(true);
    expect(matches('{ $.id = "2" }', { id: 1 })).toBe(false);
  });

  it('a quoted number is a string: "1.0" does not equal 1', () => {
    expect(matches('{ $.v = "1.0" }', { v: '1' })).toBe(false);
    expect(matches('{ $.v = 1.0 }', { v: '1' })).toBe(true);
  });
});

describe('events as text', () => {
  it('parses a JSON message', () => {
    expect(matches('{ $.eventType = "UpdateTrail" }', JSON.stringify(awsExample))).toBe(true);
  });

  it('a non-JSON message or a non-object matches no JSON pattern, not even NOT EXISTS', () => {
    expect(matches('{ $.a NOT EXISTS }', '[ERROR] not json')).toBe(false);
    expect(matches('{ $.a NOT EXISTS }', '[1,2]')).toBe(false);
    expect(matches('{ $.a NOT EXISTS }', 42)).toBe(false);
    expect(matches('{ $.a NOT EXISTS }', null)).toBe(false);
    expect(matches('{ $.a NOT EXISTS }', {})).toBe(true);
  });

  it('accepts the pattern as text too', () => {
    expect(matchesFilterPattern('{ $.a = 1 }', { a: 1 })).toBe(true);
  });
});

describe('precedence and grouping', () => {
  // a=true, b=false, c=false
  const ev = { a: 1, b: 0, c: 0 };
  it('a || b && c is a || (b && c)', () => {
    expect(matches('{ $.a = 1 || $.b = 1 && $.c = 1 }', ev)).toBe(true);
    expect(matches('{ ($.a = 1 || $.b = 1) && $.c = 1 }', ev)).toBe(false);
  });

  it('b && c || a is (b && c) || a', () => {
    expect(matches('{ $.b = 1 && $.c = 1 || $.a = 1 }', ev)).toBe(true);
    expect(matches('{ $.b = 1 && ($.c = 1 || $.a = 1) }', ev)).toBe(false);
  });

  it('nested parentheses', () => {
    expect(matches('{ ((($.a = 1))) && (($.b = 0) || ($.c = 1)) }', ev)).toBe(true);
  });
});
