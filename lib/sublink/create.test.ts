/**
 * The netlink requests macvlan and ipvlan plan, over the recording fake (golden lines): the
 * container's link for every mode and option, in the container or through the host with a
 * namespace fd, the master's resolution (configured, default route, chained, VLAN
 * sub-interface), and the errors the kernel's refusals turn into. ipvlan and 802.1Q links do
 * not exist on every kernel; these lines are what would be sent to one that has them.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rtnl } from '../netlink';
import { RecordingSocket, cannedLink, reply, type CannedMessage, type Responder } from '../netlink/fake';
import { RTM_NEWROUTE } from '../netlink/constants';
import { attr, encodeAttrs, encodeRtMsg } from '../netlink/message';
import type { SubLinkConfig } from './config';
import { checkMtu, createChild, resolveMaster, type ChildSpec } from './create';

const fake = (...responders: Responder[]): { sock: RecordingSocket; rtnl: Rtnl } => {
  const sock = new RecordingSocket().respond(...responders);
  return { sock, rtnl: new Rtnl(sock) };
};

describe('the container link', () => {
  const base: ChildSpec = { kind: 'macvlan', name: 'eth0', parentIndex: 2, mode: 'bridge', netnsFd: 9 };
  it.each<[string, ChildSpec]>([
    ['RTM_NEWLINK create excl macvlan name=eth0 netns=fd:9 link=2 mode=bridge', base],
    [
      'RTM_NEWLINK create excl macvlan name=eth0 mtu=1400 mac=02:11:22:33:44:55 netns=fd:9 link=2 mode=private bcqueuelen=256',
      { ...base, mode: 'private', mtu: 1400, mac: '02:11:22:33:44:55', bcQueueLen: 256 },
    ],
    [
      'RTM_NEWLINK create excl macvlan name=net1 link=5 mode=vepa',
      { ...base, name: 'net1', parentIndex: 5, mode: 'vepa', netnsFd: undefined },
    ],
    ['RTM_NEWLINK create excl macvlan name=eth0 netns=fd:9 link=2 mode=passthru', { ...base, mode: 'passthru' }],
    ['RTM_NEWLINK create excl ipvlan name=eth0 netns=fd:9 link=2 mode=l2', { ...base, kind: 'ipvlan', mode: 'l2' }],
    [
      'RTM_NEWLINK create excl ipvlan name=eth0 mtu=9000 netns=fd:9 link=2 mode=l3',
      { ...base, kind: 'ipvlan', mode: 'l3', mtu: 9000 },
    ],
    ['RTM_NEWLINK create excl ipvlan name=eth0 netns=fd:9 link=2 mode=l3s', { ...base, kind: 'ipvlan', mode: 'l3s' }],
  ])('%s', (line, spec) => {
    const { sock, rtnl } = fake();
    createChild(rtnl, spec);
    expect(sock.requests).toEqual([line]);
  });

  it('an ipvlan never carries a MAC (it has its master’s)', () => {
    const { sock, rtnl } = fake();
    createChild(rtnl, { ...base, kind: 'ipvlan', mode: 'l2', mac: '02:00:00:00:00:01' });
    expect(sock.requests[0]).not.toContain('mac=');
  });

  it.each([
    ['EEXIST', 'failed to create macvlan: interface "eth0" already exists in the container'],
    ['EOPNOTSUPP', 'failed to create macvlan: this kernel has no macvlan links (CONFIG_MACVLAN)'],
    ['EINVAL', 'failed to create macvlan'],
  ])('a kernel %s becomes "%s"', (errno, msg) => {
    const { rtnl } = fake(reply.error(errno));
    expect(() => createChild(rtnl, base)).toThrow(msg);
  });

  it('an ipvlan on a kernel without ipvlan says so', () => {
    const { rtnl } = fake(reply.error('EOPNOTSUPP', 'Unknown device type'));
    expect(() => createChild(rtnl, { ...base, kind: 'ipvlan', mode: 'l2' })).toThrow(
      'failed to create ipvlan: this kernel has no ipvlan links (CONFIG_IPVLAN)',
    );
  });

  it('MTU: 0 up to the master’s, with the reference’s message', () => {
    const master = { index: 2, name: 'eth0', mtu: 1500 } as Parameters<typeof checkMtu>[1];
    expect(() => checkMtu(0, master)).not.toThrow();
    expect(() => checkMtu(1500, master)).not.toThrow();
    expect(() => checkMtu(9000, master)).toThrow('invalid MTU 9000, must be [0, master MTU(1500)]');
    expect(() => checkMtu(-1, master)).toThrow('invalid MTU -1, must be [0, master MTU(1500)]');
  });
});

describe('the master', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tscni-sublink-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const cfg = (over: Partial<SubLinkConfig> = {}): SubLinkConfig => ({
    kind: 'ipvlan',
    master: 'eth0',
    vlan: 0,
    mode: 'l2',
    mtu: 0,
    mac: undefined,
    bcQueueLen: undefined,
    linkInContainer: false,
    ipamType: 'host-local',
    dns: undefined,
    ...over,
  });
  const user = { network: 'n', containerId: 'c', ifName: 'eth0' };
  const vlanOpts = (): { dir: string; nsKey: string; token: () => string } => ({
    dir,
    nsKey: '1',
    token: () => 'aaaaaaaaaaaa',
  });
  const defaultRoute = (oif: number): CannedMessage => ({
    type: RTM_NEWROUTE,
    payload: new Uint8Array([
      ...encodeRtMsg({ family: 2, dstLen: 0, table: 254, type: 1 }),
      ...encodeAttrs([attr.u32(4 /* RTA_OIF */, oif)]),
    ]),
  });

  it('a configured master on the host', async () => {
    const host = fake(reply.messages(cannedLink({ index: 2, name: 'eth0' })));
    const ctr = fake();
    const m = await resolveMaster(cfg(), host.rtnl, ctr.rtnl, undefined, user, vlanOpts());
    expect(m).toMatchObject({ link: { index: 2 }, countedVlan: false });
    expect(host.sock.requests).toEqual(['RTM_GETLINK name=eth0']);
    expect(ctr.sock.requests).toEqual([]);
  });

  it('no master: the default route’s link', async () => {
    const host = fake(
      reply.dump([defaultRoute(3)]),
      reply.messages(cannedLink({ index: 3, name: 'ens3' })),
      reply.messages(cannedLink({ index: 3, name: 'ens3' })),
    );
    const m = await resolveMaster(cfg({ master: '' }), host.rtnl, fake().rtnl, undefined, user, vlanOpts());
    expect(m.link.name).toBe('ens3');
    expect(host.sock.requests).toEqual([
      'RTM_GETROUTE dump family=inet',
      'RTM_GETLINK index=3',
      'RTM_GETLINK name=ens3',
    ]);
  });

  it('no master and no default route is the reference’s error', async () => {
    const host = fake(reply.dump([]), reply.dump([]));
    await expect(resolveMaster(cfg({ master: '' }), host.rtnl, fake().rtnl, undefined, user)).rejects.toThrow(
      'no default route interface found',
    );
  });

  it('chained ipvlan without master: the previous result’s only interface', async () => {
    const host = fake(reply.messages(cannedLink({ index: 4, name: 'net0' })));
    const prev = { cniVersion: '1.0.0', interfaces: [{ name: 'net0' }] };
    const m = await resolveMaster(cfg({ master: '' }), host.rtnl, fake().rtnl, prev, user, vlanOpts());
    expect(m.link.index).toBe(4);
    const two = { cniVersion: '1.0.0', interfaces: [{ name: 'a' }, { name: 'b' }] };
    await expect(resolveMaster(cfg({ master: '' }), fake().rtnl, fake().rtnl, two, user)).rejects.toThrow(
      'chained master failure. PrevResult lacks a single named interface',
    );
  });

  it('linkInContainer: looked up in the container only, and a missing one is an error there', async () => {
    const ctr = fake(reply.messages(cannedLink({ index: 2, name: 'eth9' })), reply.error('ENODEV'));
    const host = fake();
    const c = cfg({ master: 'eth9', linkInContainer: true });
    expect((await resolveMaster(c, host.rtnl, ctr.rtnl, undefined, user)).link.index).toBe(2);
    await expect(resolveMaster(c, host.rtnl, ctr.rtnl, undefined, user)).rejects.toThrow(
      `failed to lookup master "eth9" in the container's namespace: link not found`,
    );
    expect(host.sock.requests).toEqual([]);
  });

  it('the vlan key: <master>.<vlan> created on the master and counted', async () => {
    const host = fake(
      reply.error('ENODEV'),
      reply.error('ENODEV'),
      reply.messages(cannedLink({ index: 2, name: 'eth0' })),
      reply.ack(),
      reply.messages(cannedLink({ index: 8, name: 'eth0.20' })),
      reply.ack(),
      reply.messages(cannedLink({ index: 8, name: 'eth0.20' })),
    );
    const m = await resolveMaster(cfg({ vlan: 20 }), host.rtnl, fake().rtnl, undefined, user, vlanOpts());
    expect(m).toMatchObject({ link: { index: 8 }, countedVlan: true });
    expect(host.sock.requests).toEqual([
      'RTM_GETLINK name=eth0.20',
      'RTM_GETLINK name=eth0.20',
      'RTM_GETLINK name=eth0',
      'RTM_NEWLINK create excl vlan name=eth0.20 link=2 id=20',
      'RTM_GETLINK name=eth0.20',
      expect.stringMatching(/^RTM_SETLINK index=8 up alias="tscni: .*\(id aaaaaaaaaaaa\)"$/),
      'RTM_GETLINK index=8',
    ]);
  });

  it('a missing master named <parent>.<vid> becomes a sub-interface; a missing plain name is an error', async () => {
    const host = fake(reply.error('ENODEV'), reply.error('ENODEV'), reply.error('ENODEV'));
    await expect(
      resolveMaster(cfg({ master: 'eth1.30' }), host.rtnl, fake().rtnl, undefined, user, vlanOpts()),
    ).rejects.toThrow('its VLAN parent "eth1" does not exist either');
    const plain = fake(reply.error('ENODEV'));
    await expect(resolveMaster(cfg({ master: 'nope0' }), plain.rtnl, fake().rtnl, undefined, user)).rejects.toThrow(
      'failed to lookup master "nope0": link not found',
    );
    const bad = fake(reply.error('ENODEV'));
    await expect(resolveMaster(cfg({ master: 'eth0.5000' }), bad.rtnl, fake().rtnl, undefined, user)).rejects.toThrow(
      'invalid VLAN ID 5000 (must be between 1 and 4094)',
    );
  });

  it('an existing <parent>.<vid> that is not ours is used as it is, without the lock or a count', async () => {
    const host = fake(reply.messages(cannedLink({ index: 6, name: 'eth0.10', kind: 'vlan' })));
    const m = await resolveMaster(cfg({ master: 'eth0.10' }), host.rtnl, fake().rtnl, undefined, user, vlanOpts());
    expect(m).toMatchObject({ link: { index: 6 }, countedVlan: false });
    expect(host.sock.requests).toEqual(['RTM_GETLINK name=eth0.10']);
  });
});
