/** The resolver's hosts file: names accepted, lines parsed and written, whose line is whose. */
import { describe, expect, it } from '@jest/globals';
import { formatHosts, isDnsName, ownedBy, parseHosts, type HostLine } from './hosts';

const ours = (ip: string, names: string[], containerId = 'c1', ifName = 'eth0'): HostLine => ({
  ip,
  names,
  owner: { containerId, ifName },
});

describe('isDnsName', () => {
  it.each(['web', 'web-1', 'my_service', 'a', 'web.dns.podman', '0db', `${'a'.repeat(63)}.b`, 'A1'])('takes %s', (n) =>
    expect(isDnsName(n)).toBe(true),
  );
  it.each([
    '',
    '-web',
    'web-',
    'a..b',
    '.web',
    'web.',
    'a b',
    'a\tb',
    'a\nb',
    'a#b',
    'web;rm',
    '../x',
    'wéb',
    `${'a'.repeat(64)}`,
    `${'a.'.repeat(126)}ab`, // 254 characters
  ])('refuses %j', (n) => expect(isDnsName(n)).toBe(false));
  it('takes a name of 253 characters', () => expect(isDnsName(`${'a.'.repeat(126)}a`)).toBe(true));
});

describe('parseHosts', () => {
  it("reads the reference's lines (no owner) and ours (owner from the comment)", () => {
    const text = [
      '10.88.7.2\tweb\twww',
      '10.88.7.3\tdb\t# tscni 0123abcd eth0',
      'fd00:88:7::3\tdb\t# tscni 0123abcd eth0',
    ].join('\n');
    expect(parseHosts(text)).toEqual([
      { ip: '10.88.7.2', names: ['web', 'www'], owner: undefined },
      ours('10.88.7.3', ['db'], '0123abcd'),
      ours('fd00:88:7::3', ['db'], '0123abcd'),
    ]);
  });
  it('skips blank lines, comments, bad addresses and lines with a bad name; spaces and CRLF are whitespace', () => {
    const text = [
      '',
      '# a comment',
      '   ',
      'not-an-ip\tweb',
      '10.88.7.300\tweb',
      '10.88.7.4',
      '10.88.7.5\tok\tbad!name',
      '10.88.7.6   spaced  alias\r',
      '\t10.88.7.7\tlead',
    ].join('\n');
    expect(parseHosts(text)).toEqual([
      { ip: '10.88.7.6', names: ['spaced', 'alias'], owner: undefined },
      { ip: '10.88.7.7', names: ['lead'], owner: undefined },
    ]);
  });
  it('writes addresses canonically', () => {
    expect(parseHosts('FD00:0088::0001\tweb\n')[0]?.ip).toBe('fd00:88::1');
  });
  it('a comment that is not ours, or ours without an interface name, owns nothing', () => {
    expect(parseHosts('10.88.7.2\tweb\t# added by hand\n10.88.7.3\tdb\t# tscni 0123abcd\n')).toEqual([
      { ip: '10.88.7.2', names: ['web'], owner: undefined },
      { ip: '10.88.7.3', names: ['db'], owner: undefined },
    ]);
  });
});

describe('formatHosts', () => {
  it("writes the reference's format, ours with the attachment comment, and reads back the same", () => {
    const lines = [ours('10.88.7.3', ['db', 'cache']), { ip: '10.88.7.2', names: ['web'], owner: undefined }];
    const text = formatHosts(lines);
    expect(text).toBe('10.88.7.3\tdb\tcache\t# tscni c1 eth0\n10.88.7.2\tweb\n');
    expect(parseHosts(text)).toEqual(lines);
  });
  it("keeps the name second on the line, where the reference's DEL looks for it", () => {
    // containers/dnsname removes a line when its second whitespace-separated field is the container name
    for (const line of formatHosts([ours('10.88.7.3', ['db', 'cache'])])
      .trim()
      .split('\n'))
      expect(line.split(/\s+/)[1]).toBe('db');
  });
  it('writes nothing for no lines', () => expect(formatHosts([])).toBe(''));
});

describe('ownedBy', () => {
  it('our lines by attachment, whatever the name', () => {
    const l = ours('10.88.7.3', ['db'], 'c1', 'eth0');
    expect(ownedBy(l, 'c1', 'eth0', undefined)).toBe(true);
    expect(ownedBy(l, 'c1', 'eth0', 'other')).toBe(true);
    expect(ownedBy(l, 'c1', 'eth1', 'db')).toBe(false);
    expect(ownedBy(l, 'c2', 'eth0', 'db')).toBe(false);
  });
  it("the reference's lines by the container name, never without one", () => {
    const l: HostLine = { ip: '10.88.7.2', names: ['web', 'www'], owner: undefined };
    expect(ownedBy(l, 'c1', 'eth0', 'web')).toBe(true);
    expect(ownedBy(l, 'c1', 'eth0', 'www')).toBe(false);
    expect(ownedBy(l, 'c1', 'eth0', undefined)).toBe(false);
  });
});
