/** The one-line summary beside a JSON value in the web app (run input, step output…). */
import { describe, expect, it } from 'vitest';
import { jsonSummary } from '../../web/app/utils/json-summary.ts';

describe('jsonSummary', () => {
  it('counts fields and items in the singular and the plural', () => {
    expect(jsonSummary({ n: 1 })).toBe('1 field');
    expect(jsonSummary({ n: 1, doubled: 2 })).toBe('2 fields');
    expect(jsonSummary({})).toBe('0 fields');
    expect(jsonSummary([1])).toBe('1 item');
    expect(jsonSummary([1, 2, 3])).toBe('3 items');
  });

  it('says empty for nothing and names the type of a plain value', () => {
    expect(jsonSummary(null)).toBe('empty');
    expect(jsonSummary(undefined)).toBe('empty');
    expect(jsonSummary('text')).toBe('string');
    expect(jsonSummary(42)).toBe('number');
    expect(jsonSummary(false)).toBe('boolean');
  });
});
