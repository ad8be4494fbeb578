import { describe, expect, it } from 'vitest';
import { noncurrentExpiryConfiguration, noncurrentExpiryRule } from '../../src/bucket/lifecycle.js';

describe('noncurrentExpiryRule', () => {
  it('expires noncurrent versions after N days and never touches current objects', () => {
    const rule = noncurrentExpiryRule({ noncurrentDays: 30 });
    expect(rule).toMatchObject({
      Status: 'Enabled',
      Filter: { Prefix: '' },
      NoncurrentVersionExpiration: { NoncurrentDays: 30 },
      Expiration: { ExpiredObjectDeleteMarker: true },
    });
    // No Days/Date expiry of current versions: only prune and forget decide what goes.
    expect(rule.Expiration?.Days).toBeUndefined();
    expect(rule.Expiration?.Date).toBeUndefined();
    expect(rule.Transitions).toBeUndefined();
  });

  it('scopes to a prefix when asked, and wraps into a configuration', () => {
    const config = noncurrentExpiryConfiguration({ noncurrentDays: 7, prefix: 'devices/' });
    expect(config.Rules).toHaveLength(1);
    expect(config.Rules?.[0]?.Filter).toEqual({ Prefix: 'devices/' });
  });

  it('refuses a day count S3 would reject', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => noncurrentExpiryRule({ noncurrentDays: bad })).toThrow(RangeError);
    }
  });
});
