/**
 * VLAN sub-interface lifetime over the recording netlink fake: the exact requests planned
 * (golden lines), the users counted in the state file, ownership by alias token, and the
 * recovery cases the module's design block lists.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CniError } from '../cni/errors';
import { Rtnl } from '../netlink';
import { RecordingSocket, cannedLink, reply, type Responder } from '../netlink/fake';
import {
  acquireVlan,
  gcVlans,
  parseVlanName,
  releaseVlans,
  vlanSpec,
  vlanUsers,
  type VlanOptions,
  type VlanUser,
} from './vlan';

const TOKEN = '0123456789ab';
const ALIAS = `tscni: VLAN sub-interface for CNI containers, removed with the last one (id ${TOKEN})`;
const A: VlanUser = { network: 'vlan10', containerId: 'ctr-a', ifName: 'eth0' };
const B: VlanUser = { network: 'vlan10', containerId: 'ctr-b', ifName: 'eth0' };
const C: VlanUser = { network: 'other', containerId: 'ctr-c', ifName: 'net1' };
const spec = vlanSpec('eth0', 10);

let dir = '';
let opts: VlanOptions;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tscni-vlan-'));
  opts = { dir, nsKey: '4026531840', token: () => TOKEN };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function fake(...responders: Responder[]): { sock: RecordingSocket; rtnl: Rtnl } {
  const sock = new RecordingSocket().respond(...responders);
  return { sock, rtnl: new Rtnl(sock) };
}
const ours = (): Responder => reply.messages(cannedLink({ index: 7, name: 'eth0.10', alias: ALIAS, kind: 'vlan' }));
const stateFile = (): string => join(dir, '4026531840-eth0.10.json');
const state = (): unknown => JSON.parse(readFileSync(stateFile(), 'utf8'));

describe('names', () => {
  it('reads <parent>.<vid> and checks the ID and the name length', () => {
    expect(parseVlanName('eth0.10')).toEqual({ parent: 'eth0', vid: 10, name: 'eth0.10' });
    expect(parseVlanName('br.lan.20')).toEqual({ parent: 'br.lan', vid: 20, name: 'br.lan.20' });
    expect(parseVlanName('eth0')).toBeUndefined();
    expect(parseVlanName('br.lan')).toBeUndefined();
    expect(() => parseVlanName('eth0.0')).toThrow('invalid VLAN ID 0 (must be between 1 and 4094)');
    expect(() => parseVlanName('eth0.4095')).toThrow('invalid VLAN ID 4095');
    expect(() => vlanSpec('enx001122334455', 10)).toThrow('invalid VLAN sub-interface name "enx001122334455.10"');
    const e = ((): unknown => {
      try {
        vlanSpec('eth0', 5000);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(CniError);
    expect((e as CniError).code).toBe(7);
  });
});

describe('acquire', () => {
  it('creates a missing sub-interface: 802.1Q link on the parent, up, our alias; counts the user', async () => {
    const { sock, rtnl } = fake(
      reply.error('ENODEV'),
      reply.messages(cannedLink({ index: 2, name: 'eth0' })),
      reply.ack(),
      reply.messages(cannedLink({ index: 7, name: 'eth0.10', kind: 'vlan' })),
      reply.ack(),
      ours(),
    );
    const got = await acquireVlan(rtnl, spec, A, opts);
    expect(sock.requests).toEqual([
      'RTM_GETLINK name=eth0.10',
      'RTM_GETLINK name=eth0',
      'RTM_NEWLINK create excl vlan name=eth0.10 link=2 id=10',
      'RTM_GETLINK name=eth0.10',
      `RTM_SETLINK index=7 up alias=${JSON.stringify(ALIAS)}`,
      'RTM_GETLINK index=7',
    ]);
    expect(got).toMatchObject({ owned: true, added: true, link: { index: 7, alias: ALIAS } });
    expect(state()).toEqual({ name: 'eth0.10', parent: 'eth0', vid: 10, token: TOKEN, users: [A] });
  });

  it('joins a sub-interface of ours: no kernel change, one more user; the same user counts once', async () => {
    await acquireVlan(fake(...created()).rtnl, spec, A, opts);
    const { sock, rtnl } = fake(ours(), ours());
    expect(await acquireVlan(rtnl, spec, B, opts)).toMatchObject({ owned: true, added: true });
    expect(sock.requests).toEqual(['RTM_GETLINK name=eth0.10', 'RTM_GETLINK index=7']);
    expect(await acquireVlan(fake(ours(), ours()).rtnl, spec, A, opts)).toMatchObject({ added: false });
    expect(vlanUsers('eth0.10', opts)).toEqual([A, B]);
  });

  it('uses a sub-interface someone else made as it is: not counted, never removed', async () => {
    const foreign = reply.messages(cannedLink({ index: 9, name: 'eth0.10', kind: 'vlan' }));
    const { sock, rtnl } = fake(foreign);
    expect(await acquireVlan(rtnl, spec, A, opts)).toMatchObject({ owned: false, added: false, link: { index: 9 } });
    expect(sock.requests).toEqual(['RTM_GETLINK name=eth0.10']);
    expect(existsSync(stateFile())).toBe(false);
    expect(await releaseVlans(fake().rtnl, A, opts)).toEqual([]);
  });

  it('a kernel without 802.1Q gives a clear error and records nothing', async () => {
    const { rtnl } = fake(
      reply.error('ENODEV'),
      reply.messages(cannedLink({ index: 2, name: 'eth0' })),
      reply.error('EOPNOTSUPP', 'Unknown device type'),
    );
    await expect(acquireVlan(rtnl, spec, A, opts)).rejects.toThrow(
      'failed to create VLAN sub-interface eth0.10: this kernel has no 802.1Q VLAN links (CONFIG_VLAN_8021Q)',
    );
    expect(existsSync(stateFile())).toBe(false);
  });

  it('a missing parent is named in the error', async () => {
    const { rtnl } = fake(reply.error('ENODEV'), reply.error('ENODEV'));
    await expect(acquireVlan(rtnl, spec, A, opts)).rejects.toThrow(
      'failed to lookup master "eth0.10": link not found, and its VLAN parent "eth0" does not exist either',
    );
  });

  it('a state file from an earlier link of that name (another token) is reset', async () => {
    writeFileSync(
      stateFile(),
      JSON.stringify({ name: 'eth0.10', parent: 'eth0', vid: 10, token: 'ffffffffffff', users: [B] }),
    );
    await acquireVlan(fake(ours(), ours()).rtnl, spec, A, opts);
    expect(vlanUsers('eth0.10', opts)).toEqual([A]);
  });

  it('a state file next to a link that is not ours any more is dropped', async () => {
    writeFileSync(stateFile(), JSON.stringify({ name: 'eth0.10', parent: 'eth0', vid: 10, token: TOKEN, users: [B] }));
    const foreign = reply.messages(cannedLink({ index: 9, name: 'eth0.10', kind: 'vlan' }));
    await acquireVlan(fake(foreign).rtnl, spec, A, opts);
    expect(existsSync(stateFile())).toBe(false);
  });
});

/** The replies for a creation (acquire of a missing sub-interface). */
function created(): Responder[] {
  return [
    reply.error('ENODEV'),
    reply.messages(cannedLink({ index: 2, name: 'eth0' })),
    reply.ack(),
    reply.messages(cannedLink({ index: 7, name: 'eth0.10', kind: 'vlan' })),
    reply.ack(),
    ours(),
  ];
}

describe('release and GC', () => {
  it('the last user takes the sub-interface with it; earlier ones leave it', async () => {
    await acquireVlan(fake(...created()).rtnl, spec, A, opts);
    await acquireVlan(fake(ours(), ours()).rtnl, spec, B, opts);
    const first = fake();
    expect(await releaseVlans(first.rtnl, A, opts)).toEqual([]);
    expect(first.sock.requests).toEqual([]);
    expect(vlanUsers('eth0.10', opts)).toEqual([B]);
    const last = fake(ours());
    expect(await releaseVlans(last.rtnl, B, opts)).toEqual(['eth0.10']);
    expect(last.sock.requests).toEqual(['RTM_GETLINK name=eth0.10', 'RTM_DELLINK index=7']);
    expect(existsSync(stateFile())).toBe(false);
  });

  it('a repeated DEL changes nothing', async () => {
    await acquireVlan(fake(...created()).rtnl, spec, A, opts);
    await acquireVlan(fake(ours(), ours()).rtnl, spec, B, opts);
    await releaseVlans(fake().rtnl, A, opts);
    const again = fake();
    expect(await releaseVlans(again.rtnl, A, opts)).toEqual([]);
    expect(again.sock.requests).toEqual([]);
    expect(vlanUsers('eth0.10', opts)).toEqual([B]);
  });

  it('an empty user set left by an interrupted DEL is finished by any later DEL', async () => {
    writeFileSync(stateFile(), JSON.stringify({ name: 'eth0.10', parent: 'eth0', vid: 10, token: TOKEN, users: [] }));
    const { sock, rtnl } = fake(ours());
    expect(await releaseVlans(rtnl, C, opts)).toEqual(['eth0.10']);
    expect(sock.requests).toEqual(['RTM_GETLINK name=eth0.10', 'RTM_DELLINK index=7']);
  });

  it('never deletes a link whose alias does not carry the state token', async () => {
    writeFileSync(
      stateFile(),
      JSON.stringify({ name: 'eth0.10', parent: 'eth0', vid: 10, token: 'ffffffffffff', users: [A] }),
    );
    const { sock, rtnl } = fake(ours());
    expect(await releaseVlans(rtnl, A, opts)).toEqual(['eth0.10']);
    expect(sock.requests).toEqual(['RTM_GETLINK name=eth0.10']);
  });

  it('GC drops users of its network that are not valid any more, and only those', async () => {
    await acquireVlan(fake(...created()).rtnl, spec, A, opts);
    await acquireVlan(fake(ours(), ours()).rtnl, spec, B, opts);
    await acquireVlan(fake(ours(), ours()).rtnl, spec, C, opts);
    await gcVlans(fake().rtnl, 'vlan10', (u) => u.containerId === 'ctr-b', opts);
    expect(vlanUsers('eth0.10', opts)).toEqual([B, C]);
    const { sock, rtnl } = fake(ours());
    await gcVlans(rtnl, 'other', () => false, opts);
    await gcVlans(rtnl, 'vlan10', () => false, opts);
    expect(sock.requests).toEqual(['RTM_GETLINK name=eth0.10', 'RTM_DELLINK index=7']);
    expect(existsSync(stateFile())).toBe(false);
  });

  it('with no state directory at all, DEL and GC touch nothing', async () => {
    const { sock, rtnl } = fake();
    const none = { ...opts, dir: join(dir, 'absent') };
    expect(await releaseVlans(rtnl, A, none)).toEqual([]);
    expect(await gcVlans(rtnl, 'vlan10', () => false, none)).toEqual([]);
    expect(sock.requests).toEqual([]);
    expect(existsSync(join(dir, 'absent'))).toBe(false);
  });
});
