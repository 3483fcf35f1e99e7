/** Which bus messages wake the watcher: firewalld's Reloaded, and its name gaining an owner. */
import { describe, expect, it } from '@jest/globals';
import { FIREWALLD_NAME, firewalldSignal } from './firewalld-signals';

const path = '/org/fedoraproject/FirewallD1';

describe('firewalldSignal', () => {
  it('Reloaded on firewalld’s path and interface', () => {
    expect(firewalldSignal({ type: 4, path, interface: FIREWALLD_NAME, member: 'Reloaded' })).toBe(
      'firewalld reloaded',
    );
    expect(firewalldSignal({ type: 4, path: '/x', interface: FIREWALLD_NAME, member: 'Reloaded' })).toBeUndefined();
    expect(firewalldSignal({ type: 1, path, interface: FIREWALLD_NAME, member: 'Reloaded' })).toBeUndefined();
  });

  it('NameOwnerChanged: only when firewalld’s name gets an owner', () => {
    const owner = (body: unknown[]) =>
      firewalldSignal({ type: 4, interface: 'org.freedesktop.DBus', member: 'NameOwnerChanged', body });
    expect(owner([FIREWALLD_NAME, '', ':1.5'])).toBe('firewalld started');
    expect(owner([FIREWALLD_NAME, ':1.5', ''])).toBeUndefined();
    expect(owner(['org.other', '', ':1.5'])).toBeUndefined();
  });
});
