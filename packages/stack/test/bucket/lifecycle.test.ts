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

  it('scopes to a prefix when asked, and joins the bucket’s other rules (Put replaces them all)', () => {
    const abort = {
      ID: 'backupctl-abort-incomplete-multipart-uploads',
      Status: 'Enabled' as const,
      Filter: { Prefix: '' },
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
    };
    const config = noncurrentExpiryConfiguration({ noncurrentDays: 7, prefix: 'devices/' }, [abort]);
    expect(config.Rules?.map((r) => r.ID)).toEqual([abort.ID, 'backupctl-expire-noncurrent']);
    expect(config.Rules?.[1]?.Filter).toEqual({ Prefix: 'devices/' });
    // Applied twice, the rule is replaced, not duplicated.
    const again = noncurrentExpiryConfiguration({ noncurrentDays: 30 }, config.Rules);
    expect(again.Rules?.map((r) => r.ID)).toEqual([abort.ID, 'backupctl-expire-noncurrent']);
    expect(again.Rules?.[1]?.NoncurrentVersionExpiration?.NoncurrentDays).toBe(30);
  });

  it('refuses a day count S3 would reject', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => noncurrentExpiryRule({ noncurrentDays: bad })).toThrow(RangeError);
    }
  });
});
