/** The TAP ioctl layer without a kernel: struct ifreq bytes, flag words, the call sequence and its errors. */
import { describe, expect, it } from '@jest/globals';
import { CniError } from '../cni/errors';
import { fakeKernel } from '../testutil/fake-kernel';
import { createTap, encodeIfreq, IFF_MULTI_QUEUE, IFF_NO_PI, IFF_TAP, IFF_TUN_EXCL, tunFlagWords } from './tuntap';

describe('struct ifreq', () => {
  it('is 40 bytes: the name NUL-padded to 16, then the flags (little-endian short)', () => {
    const b = encodeIfreq('eth0', IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL | IFF_MULTI_QUEUE);
    expect(b.length).toBe(40);
    expect(Buffer.from(b.subarray(0, 18)).toString('hex')).toBe(`65746830${'00'.repeat(12)}0291`);
    expect([...b.subarray(18)].every((x) => x === 0)).toBe(true);
  });
  it('refuses a name the kernel would cut', () => {
    expect(() => encodeIfreq('a-name-of-16-bytes', IFF_TAP)).toThrow('longer than 15 bytes');
  });
  it('flags read as words', () => {
    expect(tunFlagWords(IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL)).toBe('tap,no_pi,excl');
  });
});

describe('createTap', () => {
  const create = (spec: Parameters<typeof createTap>[1], failures?: Record<string, string>): string[] => {
    const fk = fakeKernel({ tunFailures: failures });
    try {
      createTap(() => fk.kernel.openTun('/run/netns/x'), spec);
    } catch (e) {
      fk.tun.push(`=> ${(e as CniError).msg}`);
    }
    return fk.tun;
  };

  it('owner alone, group alone: only the ioctl asked for', () => {
    expect(create({ name: 'tap0', multiQueue: false, owner: 0 })).toEqual([
      'open /dev/net/tun [container]',
      'TUNSETIFF name=tap0 flags=tap,no_pi,excl',
      'TUNSETOWNER uid=0',
      'TUNSETPERSIST 1',
      'close',
    ]);
    expect(create({ name: 'tap0', multiQueue: true, group: 7 })).toContain('TUNSETGROUP gid=7');
  });

  it('a failure at any step still closes the file (the kernel then drops the device)', () => {
    expect(create({ name: 'tap0', multiQueue: false }, { TUNSETPERSIST: 'ENOMEM' })).toEqual([
      'open /dev/net/tun [container]',
      'TUNSETIFF name=tap0 flags=tap,no_pi,excl',
      'TUNSETPERSIST 1',
      'close',
      '=> failed to create tap',
    ]);
  });
});
