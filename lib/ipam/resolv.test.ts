import { describe, it, expect } from '@jest/globals';
import { parseResolvConf, readResolvConf } from './resolv';

describe('resolv.conf', () => {
  it('follows the reference line rules', () => {
    const text =
      '# c\n; c\nnameserver 10.0.0.53\n  nameserver fd00::53\ndomain a.example\ndomain b.example\nsearch x y\nsearch z\noptions ndots:2\nbogus\n';
    expect(parseResolvConf(text)).toEqual({
      nameservers: ['10.0.0.53', 'fd00::53'],
      domain: 'b.example',
      search: ['x', 'y', 'z'],
      options: ['ndots:2'],
    });
  });
  it('reports a missing file like Go', () => {
    expect(() => readResolvConf('/nonexistent/resolv')).toThrow('open /nonexistent/resolv: no such file or directory');
  });
});
