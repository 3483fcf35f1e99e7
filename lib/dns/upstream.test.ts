/** The resolvers a network's resolver forwards to: the host's, without loopback stubs. */
import { describe, expect, it } from '@jest/globals';
import { HOST_RESOLV_CONF, RESOLVED_RESOLV_CONF, upstreamServers } from './upstream';

const files =
  (byPath: Record<string, string>) =>
  (path: string): string =>
    byPath[path] ?? '';

describe('upstreamServers', () => {
  it("takes the host's nameservers, skipping loopback ones", () => {
    const read = files({ [HOST_RESOLV_CONF]: 'nameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver ::1\n' });
    expect(upstreamServers(read)).toEqual(['192.0.2.53']);
  });
  it("with only a loopback stub, takes what systemd-resolved's own file names", () => {
    const read = files({
      [HOST_RESOLV_CONF]: 'nameserver 127.0.0.53\noptions edns0\n',
      [RESOLVED_RESOLV_CONF]: 'nameserver 198.51.100.53\nnameserver 127.0.0.1\nnameserver 2001:db8::53\n',
    });
    expect(upstreamServers(read)).toEqual(['198.51.100.53', '2001:db8::53']);
  });
  it('none without a resolv.conf, or with a stub and nothing behind it', () => {
    expect(upstreamServers(files({}))).toEqual([]);
    expect(upstreamServers(files({ [HOST_RESOLV_CONF]: 'nameserver 127.0.0.1\n' }))).toEqual([]);
  });
});
