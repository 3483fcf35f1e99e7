/** CNI_ARGS as the reference's types.LoadArgs reads it: known keys, IgnoreUnknown, malformed pairs. */
import { describe, expect, it } from '@jest/globals';
import { parseCniArgs } from './args';

describe('CNI_ARGS', () => {
  it('parses known keys case-sensitively', () => {
    expect(parseCniArgs('IP=10.0.0.5;MAC=0a:00:00:00:00:01', ['IP', 'MAC'])).toEqual({
      IP: '10.0.0.5',
      MAC: '0a:00:00:00:00:01',
    });
  });
  it('empty is nothing', () => expect(parseCniArgs('', ['IP'])).toEqual({}));
  it('rejects unknown keys unless IgnoreUnknown', () => {
    expect(() => parseCniArgs('ip=1.2.3.4', ['IP'])).toThrow('ARGS: unknown args ["ip=1.2.3.4"]');
    expect(parseCniArgs('IgnoreUnknown=1;K8S_POD_NAME=x;IP=1.2.3.4', ['IP'])).toEqual({ IP: '1.2.3.4' });
    expect(parseCniArgs('K8S_POD_NAME=x;IgnoreUnknown=true', ['IP'])).toEqual({});
  });
  it.each(['a=b=c', 'FOO', 'IP=1;'])('rejects the malformed pair in %j', (raw) => {
    expect(() => parseCniArgs(raw, ['IP'])).toThrow('ARGS: invalid pair');
  });
  it('rejects a bad boolean', () =>
    expect(() => parseCniArgs('IgnoreUnknown=yes', [])).toThrow('boolean unmarshal error'));
});
