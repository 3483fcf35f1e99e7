/** The DHCP client's exchanges against an in-memory server: acquire, NAK, renew, rebind, reboot, release. */
import { describe, expect, it } from '@jest/globals';
import { FakeDhcpServer, FakeTransport, SERVER_IP, SERVER_MAC } from '../testutil/dhcp-server';
import { clientIdOption, DhcpClient, realClock, type Clock } from './client';
import { resultOf } from './lease';
import { prepareOptions } from './options';
import { ipToBytes, MessageType, messageTypeOf, Opt } from './wire';

const timing = { timeoutMs: 200, resendMaxMs: 400 };
const identity = (over: Partial<{ broadcast: boolean }> = {}) => ({
  clientId: clientIdOption('ctr/net/eth0'),
  options: prepareOptions('K8S_POD_NAME=pod-a', [{ option: 'host-name', fromArg: 'K8S_POD_NAME' }], []),
  broadcast: false,
  ...over,
});
const soon = (): number => Date.now() + 2000;

describe('DhcpClient', () => {
  it('acquires: DISCOVER and REQUEST broadcast from 0.0.0.0, the ACK from the chosen server', async () => {
    const server = new FakeDhcpServer();
    const t = new FakeTransport(server);
    const got = await new DhcpClient(t, identity(), timing).acquire(soon());
    expect(got.ack.yiaddr).toBe('10.9.0.10');
    expect(messageTypeOf(got.ack)).toBe(MessageType.Ack);
    expect([...got.serverMac]).toEqual([...SERVER_MAC]);
    expect(server.seen).toEqual([
      'DISCOVER 0.0.0.0>255.255.255.255 ciaddr=0.0.0.0',
      'REQUEST 0.0.0.0>255.255.255.255 ciaddr=0.0.0.0',
    ]);
    expect(resultOf(got.ack, 0)).toEqual({
      cniVersion: '1.0.0',
      ips: [{ address: '10.9.0.10/24', gateway: SERVER_IP }],
      routes: [{ dst: '0.0.0.0/0', gw: SERVER_IP }],
    });
  });

  it('sends the client ID, the parameter request list and provided options', async () => {
    let seen: Map<number, Uint8Array> | undefined;
    const server = new FakeDhcpServer({ answer: (m) => ((seen = m.options), true) });
    await new DhcpClient(new FakeTransport(server), identity(), timing).acquire(soon());
    expect(Buffer.from(seen?.get(Opt.ClientId) ?? []).toString('latin1')).toBe('\0ctr/net/eth0');
    expect([...(seen?.get(Opt.ParameterRequestList) ?? [])]).toEqual([3, 1, 6, 15, 119]);
    expect(Buffer.from(seen?.get(Opt.HostName) ?? []).toString()).toBe('pod-a');
  });

  it('resends an unanswered DISCOVER and gives up at the deadline', async () => {
    let n = 0;
    const server = new FakeDhcpServer({ answer: () => ++n > 1 });
    const fast: Clock = { ...realClock, random: () => 0.5 };
    const got = await new DhcpClient(
      new FakeTransport(server),
      identity(),
      { timeoutMs: 30, resendMaxMs: 30 },
      fast,
    ).acquire(Date.now() + 5000);
    expect(got.ack.yiaddr).toBe('10.9.0.10');
    expect(server.seen.filter((s) => s.startsWith('DISCOVER'))).toHaveLength(2);
    const silent = new FakeDhcpServer({ answer: () => false });
    await expect(
      new DhcpClient(new FakeTransport(silent), identity(), { timeoutMs: 20, resendMaxMs: 20 }).acquire(
        Date.now() + 150,
      ),
    ).rejects.toThrow('no DHCP lease on eth0: no answer from a DHCP server');
  });

  it('renews by unicast from the leased address; rebinds by broadcast; a NAK is reported', async () => {
    const server = new FakeDhcpServer();
    const c = new DhcpClient(new FakeTransport(server), identity(), timing);
    const got = await c.acquire(soon());
    const renewed = await c.renew('10.9.0.10', SERVER_IP, SERVER_MAC, soon());
    expect(renewed !== 'nak' && renewed?.ack.yiaddr).toBe('10.9.0.10');
    const rebound = await c.rebind('10.9.0.10', soon());
    expect(rebound !== 'nak' && rebound?.ack.yiaddr).toBe('10.9.0.10');
    expect(server.seen.slice(2)).toEqual([
      'REQUEST 10.9.0.10>10.9.0.1 unicast ciaddr=10.9.0.10',
      'REQUEST 10.9.0.10>255.255.255.255 ciaddr=10.9.0.10',
    ]);
    expect(got.ack.yiaddr).toBe('10.9.0.10');
    const nak = new DhcpClient(new FakeTransport(new FakeDhcpServer({ nakRenewals: true })), identity(), timing);
    expect(await nak.renew('10.9.0.10', SERVER_IP, SERVER_MAC, soon())).toBe('nak');
  });

  it('reboots onto the address it held; releases by unicast to the server', async () => {
    const server = new FakeDhcpServer();
    const c = new DhcpClient(new FakeTransport(server), identity(), timing);
    const again = await c.reboot('10.9.0.11', soon());
    expect(again !== 'nak' && again?.ack.yiaddr).toBe('10.9.0.11');
    c.release('10.9.0.11', SERVER_IP, SERVER_MAC);
    expect(server.leases.size).toBe(0);
    expect(server.seen.at(-1)).toBe('RELEASE 10.9.0.11>10.9.0.1 unicast ciaddr=10.9.0.11');
  });

  it('a lease with classless routes and DNS: routes replace the router, scope link for on-link ones', async () => {
    const server = new FakeDhcpServer({
      options: [
        [Opt.ClasslessRoute, Uint8Array.from([16, 10, 99, 10, 9, 0, 254, 32, 1, 2, 3, 4, 0, 0, 0, 0])],
        [Opt.DomainNameServer, Uint8Array.from([...ipToBytes('10.9.0.53'), ...ipToBytes('10.9.0.54')])],
        [Opt.DomainName, Buffer.from('example.test')],
      ],
    });
    const got = await new DhcpClient(new FakeTransport(server), identity(), timing).acquire(soon());
    expect(resultOf(got.ack, 100)).toEqual({
      cniVersion: '1.0.0',
      ips: [{ address: '10.9.0.10/24', gateway: SERVER_IP }],
      routes: [
        { dst: '10.99.0.0/16', gw: '10.9.0.254', priority: 100 },
        { dst: '1.2.3.4/32', gw: '0.0.0.0', scope: 253, priority: 100 },
      ],
      dns: { nameservers: ['10.9.0.53', '10.9.0.54'], domain: 'example.test' },
    });
  });
});
