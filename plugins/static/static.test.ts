/**
 * static through the dispatcher (no root): results at every version family, the address sources
 * and their precedence (config, CNI_ARGS IP/GATEWAY, args.cni.ips, runtimeConfig.ips), the
 * version gate on several addresses per family, the reference's messages, CHECK and DEL.
 */
import { describe, expect, it } from '@jest/globals';
import type { PluginFuncs } from '../../lib/cni/plugin';
import { callVerb } from '../../lib/testutil/verbs';
import { add } from './add';
import { check } from './check';
import { del } from './del';

const funcs: PluginFuncs = { add, del, check };
const conf = (ipam: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  cniVersion: '1.0.0',
  name: 'st',
  type: 'macvlan',
  ipam: { type: 'static', ...ipam },
  ...extra,
});
const DUAL = {
  addresses: [{ address: '10.10.0.5/24', gateway: '10.10.0.254' }, { address: '3ffe:ffff:0:01ff::1/64' }],
  routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.10.5.1' }, { dst: '3ffe:ffff:0:01ff::1/64' }],
  dns: { nameservers: ['8.8.8.8'], domain: 'example.com', search: ['example.com'] },
};
const addWith = (c: object, cniArgs = ''): ReturnType<typeof callVerb> =>
  callVerb(funcs, 'ADD', c, { env: { CNI_ARGS: cniArgs } });

describe('static ADD', () => {
  it('1.x: addresses with gateways, routes and DNS, no interfaces', async () => {
    const out = await addWith(conf(DUAL));
    expect(out.code).toBe(0);
    expect(out.json).toEqual({
      cniVersion: '1.0.0',
      ips: [{ address: '10.10.0.5/24', gateway: '10.10.0.254' }, { address: '3ffe:ffff:0:1ff::1/64' }],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.10.5.1' }, { dst: '3ffe:ffff:0:1ff::1/64' }],
      dns: { nameservers: ['8.8.8.8'], domain: 'example.com', search: ['example.com'] },
    });
  });

  it('0.4.0 adds `version`; 0.2.0 has ip4/ip6 with the routes of each family', async () => {
    const v4 = await addWith({ ...conf(DUAL), cniVersion: '0.4.0' });
    expect((v4.json['ips'] as unknown[])[0]).toEqual({ version: '4', address: '10.10.0.5/24', gateway: '10.10.0.254' });
    const v2 = await addWith({ ...conf(DUAL), cniVersion: '0.2.0' });
    expect(v2.json).toMatchObject({
      cniVersion: '0.2.0',
      ip4: { ip: '10.10.0.5/24', gateway: '10.10.0.254', routes: [{ dst: '0.0.0.0/0' }, expect.anything()] },
      ip6: { ip: '3ffe:ffff:0:1ff::1/64', routes: [{ dst: '3ffe:ffff:0:1ff::1/64' }] },
    });
  });

  it('before 0.3.0, one address per family; from 0.3.0 any number', async () => {
    const two = { addresses: [{ address: '10.0.0.1/24' }, { address: '10.0.0.2/24' }] };
    expect((await addWith({ ...conf(two), cniVersion: '0.2.0' })).json).toMatchObject({
      code: 7,
      msg: 'CNI version 0.2.0 does not support more than 1 address per family',
    });
    expect((await addWith({ ...conf(two), cniVersion: '0.3.0' })).code).toBe(0);
  });

  it('keeps both gateways of an ECMP default route', async () => {
    const ecmp = {
      addresses: [{ address: '10.10.0.1/24', gateway: '10.10.0.254' }],
      routes: [
        { dst: '0.0.0.0/0', gw: '10.10.0.254' },
        { dst: '0.0.0.0/0', gw: '10.10.0.253' },
      ],
    };
    expect((await addWith(conf(ecmp))).json['routes']).toEqual(ecmp.routes);
  });

  it('CNI_ARGS IP= adds comma-separated CIDRs after the config; GATEWAY= goes to those it lies in', async () => {
    const out = await addWith(
      conf({ addresses: [{ address: '10.1.1.5/24' }] }),
      'IgnoreUnknown=1;K8S_POD_NAME=p;IP=10.1.1.7/24, 10.2.2.2/16,fd00::7/64;GATEWAY=10.1.1.1, 10.2.0.1',
    );
    expect(out.json['ips']).toEqual([
      { address: '10.1.1.5/24' },
      { address: '10.1.1.7/24', gateway: '10.1.1.1' },
      { address: '10.2.2.2/16', gateway: '10.2.0.1' },
      { address: 'fd00::7/64' },
    ]);
  });

  it('args.cni.ips replaces every other source; runtimeConfig.ips replaces that', async () => {
    const c = conf({ addresses: [{ address: '10.1.1.5/24', gateway: '10.1.1.1' }] });
    const args = { ...c, args: { cni: { ips: ['10.4.4.4/24'] } } };
    expect((await addWith(args, 'IP=10.2.2.2/24')).json['ips']).toEqual([{ address: '10.4.4.4/24' }]);
    const rc = { ...args, runtimeConfig: { ips: ['10.3.3.3/24', 'fd00::3/64'] } };
    expect((await addWith(rc)).json['ips']).toEqual([{ address: '10.3.3.3/24' }, { address: 'fd00::3/64' }]);
    // Empty lists do not replace anything.
    const empty = { ...c, args: { cni: { ips: [] } }, runtimeConfig: { ips: [] } };
    expect((await addWith(empty)).json['ips']).toEqual([{ address: '10.1.1.5/24', gateway: '10.1.1.1' }]);
  });

  it('no addresses: an empty result (the interface plugin decides what that means)', async () => {
    expect((await addWith(conf({}))).json).toEqual({ cniVersion: '1.0.0' });
  });

  it.each<[Record<string, unknown>, string, string]>([
    [
      { addresses: [{ address: '10.1.1.5' }] },
      '',
      "the 'address' field is expected to be in CIDR notation, got: '10.1.1.5'",
    ],
    [{ addresses: [{ gateway: '10.1.1.1' }] }, '', "the 'address' field is expected to be in CIDR notation, got: ''"],
    [{ addresses: [{ address: '10.1.1.5/24', gateway: 'zz' }] }, '', 'invalid IP address: zz'],
    [{}, 'IP=10.2.2.2', "the 'ip' field is expected to be in CIDR notation, got: '10.2.2.2'"],
    [{}, 'IP=10.2.2.2/24;GATEWAY=1.2.3', 'invalid gateway address: 1.2.3'],
    [{ routes: [{ dst: '10.0.0.0' }] }, '', 'invalid CIDR address: 10.0.0.0'],
  ])('%j with CNI_ARGS %j → code 7 %s', async (ipam, args, msg) => {
    expect((await addWith(conf(ipam), args)).json).toMatchObject({ code: 7, msg });
  });

  it('bad requested IPs, unknown CNI_ARGS, no ipam: the reference messages', async () => {
    expect((await addWith(conf({}, { runtimeConfig: { ips: ['10.3.3.3'] } }))).json).toMatchObject({
      code: 7,
      msg: "an entry in the 'ips' field is NOT in CIDR notation, got: '10.3.3.3'",
    });
    expect((await addWith(conf({}), 'FOO=1')).json).toMatchObject({ code: 999, msg: 'ARGS: unknown args ["FOO=1"]' });
    expect((await addWith({ cniVersion: '1.0.0', name: 'st', type: 'static' })).json).toMatchObject({
      code: 7,
      msg: "IPAM config missing 'ipam' key",
    });
    expect((await addWith(conf({ addresses: 'x' }))).json).toMatchObject({ code: 7 });
  });
});

describe('static CHECK and DEL', () => {
  const prev = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'eth0', sandbox: '/x' }],
    ips: [
      { interface: 0, address: '10.10.0.5/24', gateway: '10.10.0.254' },
      { interface: 0, address: '3ffe:ffff:0:1ff::1/64' },
    ],
  };
  const chk = (c: object): ReturnType<typeof callVerb> => callVerb(funcs, 'CHECK', c);

  it('passes when prevResult holds every address with its gateway', async () => {
    expect((await chk({ ...conf(DUAL), prevResult: prev })).code).toBe(0);
  });

  it('fails on a missing prevResult, another gateway, or an address prevResult lacks', async () => {
    expect((await chk(conf(DUAL))).json).toMatchObject({ code: 7, msg: 'Required prevResult missing' });
    const otherGw = { addresses: [{ address: '10.10.0.5/24', gateway: '10.10.0.1' }] };
    expect((await chk({ ...conf(otherGw), prevResult: prev })).json).toMatchObject({
      code: 999,
      msg: 'static: Failed to match addr 10.10.0.5 on interface eth0',
    });
    const missing = { addresses: [{ address: '10.10.0.6/24' }] };
    expect((await chk({ ...conf(missing), prevResult: prev })).json).toMatchObject({
      code: 999,
      msg: 'static: address 10.10.0.6 is not in prevResult for interface eth0',
    });
  });

  it('DEL succeeds whatever the config says', async () => {
    expect((await callVerb(funcs, 'DEL', conf({ addresses: 'garbage' }))).code).toBe(0);
  });
});
