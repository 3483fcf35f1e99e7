#!/usr/bin/env python3
"""tscni's Docker-style network with names against netavark + aardvark-dns 1.4 (make bench-dns).

Sets up and tears down the same container (a bridge network with a published port and DNS) N
times with each: ours is bridge + portmap + firewall + dnsname (dnsmasq), theirs `netavark
setup/teardown` with aardvark-dns. Ours is driven two ways: `plugins`, each plugin exec'd in turn
with prevResult as libcni does it inside podman's CNI backend (the runtime's own path: four
processes where netavark is one), and `tscni add/del` (the CLI, cnitool's analogue: one process
more). One resident container per side keeps each resolver
running, so the figures are a container joining a network that already has one (the first
container's start-up of the resolver is reported apart, as "cold"). Then 1,000 sequential A
queries for the resident's name from a container to each resolver: p50 and p99. Last, dnsname by
itself against Debian's containers/dnsname 1.3.1 per verb (ADD, CHECK, DEL), with VERSION as the
floor: what starting the process costs before the verb does anything.

`--baseline DIR` adds another tscni build (a bin/ directory kept from before a change) as one
more side of every comparison, interleaved with the others, for before/after figures from one
run on the same machine conditions.

Everything runs in private network, mount and PID namespaces made by unshare (the script re-runs
itself there); /run and the state directories are tmpfs or temp dirs; no packet leaves them.
Prints a table; `--json` prints the raw report instead.
"""
import json, os, shutil, subprocess, sys, tempfile, time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(REPO, 'bin')
NETAVARK = '/usr/lib/podman/netavark'
AARDVARK = '/usr/lib/podman/aardvark-dns'
REFERENCE = '/usr/lib/cni/dnsname'


def sh(*argv, env=None, input=None, check=True):
    r = subprocess.run(argv, env=env, input=input, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({r.returncode}): {r.stdout}{r.stderr}")
    return r


def timed(*argv, env=None, input=None):
    t0 = time.perf_counter()
    sh(*argv, env=env, input=input)
    return (time.perf_counter() - t0) * 1000


def query(ns, server, name, n):
    """n sequential A queries from inside netns `ns`; returns latencies in microseconds."""
    code = r'''
import socket, struct, sys, time, json
server, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
q = b''.join(bytes([len(p)]) + p.encode() for p in name.split('.')) + b'\0'
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
out = []
for i in range(n):
    pkt = struct.pack('>HHHHHH', i & 0xffff, 0x0100, 1, 0, 0, 0) + q + struct.pack('>HH', 1, 1)
    t0 = time.perf_counter(); s.sendto(pkt, (server, 53)); r = s.recv(512)
    out.append((time.perf_counter() - t0) * 1e6)
    if struct.unpack('>H', r[6:8])[0] < 1: raise SystemExit('no answer for ' + name)
print(json.dumps(out))
'''
    return json.loads(sh('ip', 'netns', 'exec', ns, sys.executable, '-c', code, server, name, str(n)).stdout)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def rss_kib(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def interleaved(sides, n, step):
    """n rounds of step(side) for every side, the order reversed every other round."""
    for i in range(n):
        for side in (sides if i % 2 == 0 else list(reversed(sides))):
            step(side, i)


class Tscni:
    """One tscni build on a network of its own (bridge, subnet, host ports, state directories)."""

    def __init__(self, tmp, key, bindir, index):
        self.key, self.bindir = key, bindir
        self.net = f'bench{index}'
        self.subnet = f'10.96.{10 + index}'
        self.port = 8100 + 10 * index
        d = os.path.join(tmp, key)
        conf = os.path.join(d, 'conf')
        os.makedirs(conf)
        with open(os.path.join(conf, f'{self.net}.conflist'), 'w') as f:
            json.dump({'cniVersion': '1.0.0', 'name': self.net, 'plugins': [
                {'type': 'bridge', 'bridge': f'tsbench{index}', 'isGateway': True, 'ipMasq': True, 'hairpinMode': True,
                 'ipam': {'type': 'host-local', 'dataDir': os.path.join(d, 'ipam'),
                          'ranges': [[{'subnet': f'{self.subnet}.0/24'}]], 'routes': [{'dst': '0.0.0.0/0'}]}},
                {'type': 'portmap', 'capabilities': {'portMappings': True}},
                {'type': 'firewall', 'dataDir': os.path.join(d, 'fw')},
                {'type': 'dnsname', 'domainName': 'dns.podman', 'capabilities': {'aliases': True}},
            ]}, f)
        self.xdg = os.path.join(d, 'xdg')
        self.base = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'NETCONFPATH': conf, 'CNI_PATH': bindir,
                     'CNI_CACHE_DIR': os.path.join(d, 'cache'), 'XDG_RUNTIME_DIR': self.xdg,
                     'TSCNI_STATE_DIR': os.path.join(d, 'state'), 'TSCNI_RUN_DIR': os.path.join(d, 'run')}
        for ns in ('res', 'c'):
            sh('ip', 'netns', 'add', self.ns(ns))

    def ns(self, which):
        return f'{self.key}-{which}'

    def verb(self, verb, which, name, port):
        env = {**self.base, 'CNI_ARGS': f'IgnoreUnknown=1;K8S_POD_NAME={name}',
               'CAP_ARGS': json.dumps({'portMappings': [{'hostPort': port, 'containerPort': 80, 'protocol': 'tcp'}],
                                       'aliases': {self.net: [name + '-alias']}})}
        return timed(os.path.join(self.bindir, 'tscni'), verb, self.net, f'/run/netns/{self.ns(which)}', env=env)

    def resolver_pid(self):
        return int(open(os.path.join(self.xdg, 'containers/cni/dnsname', self.net, 'pidfile')).read())


class Plugins(Tscni):
    """The same chain with each plugin exec'd as libcni runs a conflist (podman's CNI backend):
    name, cniVersion and the capabilities each plugin declares injected, ADD in order with the
    previous result, DEL in reverse with the ADD's result."""

    def __init__(self, tmp, key, bindir, index):
        super().__init__(tmp, key, bindir, index)
        with open(os.path.join(self.base['NETCONFPATH'], f'{self.net}.conflist')) as f:
            self.conflist = json.load(f)
        self.results = {}

    def verb(self, verb, which, name, port):
        caps = {'portMappings': [{'hostPort': port, 'containerPort': 80, 'protocol': 'tcp'}],
                'aliases': {self.net: [name + '-alias']}}
        netns = f'/run/netns/{self.ns(which)}'
        env = {**self.base, 'CNI_CONTAINERID': f'bench-{name}', 'CNI_NETNS': netns, 'CNI_IFNAME': 'eth0',
               'CNI_ARGS': f'IgnoreUnknown=1;K8S_POD_NAME={name}', 'CNI_PATH': self.bindir}
        plugins = self.conflist['plugins']
        prev = self.results.pop(name, None) if verb == 'del' else None
        t0 = time.perf_counter()
        for plugin in (plugins if verb == 'add' else list(reversed(plugins))):
            conf = {**plugin, 'name': self.conflist['name'], 'cniVersion': self.conflist['cniVersion']}
            rc = {c: caps[c] for c, on in plugin.get('capabilities', {}).items() if on and c in caps}
            if rc:
                conf['runtimeConfig'] = rc
            if prev is not None:
                conf['prevResult'] = prev
            r = sh(os.path.join(self.bindir, plugin['type']), env={**env, 'CNI_COMMAND': verb.upper()},
                   input=json.dumps(conf))
            if verb == 'add':
                prev = json.loads(r.stdout)
        if verb == 'add':
            self.results[name] = prev
        return (time.perf_counter() - t0) * 1000


class Netavark:
    def __init__(self, tmp):
        self.key = 'netavark'
        self.conf = os.path.join(tmp, 'netavark')
        os.makedirs(self.conf)
        self.info = {'benchnav': {'name': 'benchnav', 'id': 'b' * 64, 'driver': 'bridge', 'network_interface': 'nvbench0',
                                  'subnets': [{'subnet': '10.96.2.0/24', 'gateway': '10.96.2.1'}], 'ipv6_enabled': False,
                                  'internal': False, 'dns_enabled': True, 'ipam_options': {'driver': 'host-local'}}}
        for ns in ('res', 'c'):
            sh('ip', 'netns', 'add', self.ns(ns))

    def ns(self, which):
        return f'nv-{which}'

    def verb(self, verb, which, name, ip, port):
        opts = json.dumps({'container_id': (name.encode().hex() * 64)[:64], 'container_name': name,
                           'networks': {'benchnav': {'interface_name': 'eth0', 'static_ips': [ip], 'aliases': [name + '-alias']}},
                           'network_info': self.info,
                           'port_mappings': [{'host_ip': '', 'container_port': 80, 'host_port': port, 'range': 1, 'protocol': 'tcp'}]})
        return timed(NETAVARK, '--config', self.conf, '--rootless', 'false', '--aardvark-binary', AARDVARK,
                     verb, f'/run/netns/{self.ns(which)}', env={'PATH': '/usr/sbin:/usr/bin:/sbin:/bin'}, input=opts)

    def resolver_pid(self):
        return int(open(os.path.join(self.conf, 'aardvark-dns', 'aardvark.pid')).read())


def dnsname_alone(tmp, n, builds):
    """dnsname by itself, each tscni build against Debian's containers/dnsname (reference): the
    same config and prevResult on a bridge of each side's own, a resident container keeping each
    resolver running, then n rounds of ADD, CHECK, DEL of another container, interleaved.
    Spawn-to-exit times, p50 and p90 per verb, and how many calls failed."""
    sides = {key: os.path.join(d, 'dnsname') for key, d in builds.items()}
    sides['reference'] = REFERENCE
    sh('ip', 'netns', 'add', 'alone')
    nets = {}
    for i, side in enumerate(sides):
        br, net = f'dnalone{i}', f'10.96.{40 + i}'
        nets[side] = (br, net)
        sh('ip', 'link', 'add', br, 'type', 'bridge')
        sh('ip', 'addr', 'add', f'{net}.1/24', 'dev', br)
        sh('ip', 'link', 'set', br, 'up')

    def call(side, verb, name, last):
        br, net = nets[side]
        prev = {'cniVersion': '1.0.0',
                'interfaces': [{'name': br}, {'name': 'veth' + name[:8]}, {'name': 'eth0', 'sandbox': '/run/netns/alone'}],
                'ips': [{'address': f'{net}.{last}/24', 'gateway': f'{net}.1', 'interface': 2}]}
        conf = {'cniVersion': '1.0.0', 'name': f'alone-{side}', 'type': 'dnsname', 'domainName': 'dns.podman',
                'capabilities': {'aliases': True}, 'runtimeConfig': {'aliases': {f'alone-{side}': [name + '-alias']}},
                'prevResult': prev}
        env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'CNI_COMMAND': verb, 'CNI_CONTAINERID': name * 4,
               'CNI_NETNS': '/run/netns/alone', 'CNI_IFNAME': 'eth0', 'CNI_PATH': os.path.dirname(sides[side]),
               'CNI_ARGS': f'IgnoreUnknown=1;K8S_POD_NAME={name}', 'XDG_RUNTIME_DIR': os.path.join(tmp, 'alone-' + side)}
        t0 = time.perf_counter()
        r = subprocess.run([sides[side]], env=env, input=json.dumps(conf), capture_output=True, text=True)
        return (time.perf_counter() - t0) * 1000, r.returncode == 0

    for side in sides:
        call(side, 'ADD', 'resident', 2)
    verbs = ('VERSION', 'ADD', 'CHECK', 'DEL')
    times = {side: {v: [] for v in verbs} for side in sides}
    failed = {side: {v: 0 for v in verbs} for side in sides}

    def step(side, _):
        for verb in verbs:
            ms, ok = call(side, verb, 'web', 3)
            times[side][verb].append(ms)
            failed[side][verb] += 0 if ok else 1

    interleaved(list(sides), n, step)
    return {side: {v: {'p50': pct(xs, 50), 'p90': pct(xs, 90), 'failed': failed[side][v]} for v, xs in per.items()}
            for side, per in times.items()}


def inner(n, baseline):
    tmp = tempfile.mkdtemp(prefix='tscni-bench-dns-')
    sh('mount', '-t', 'tmpfs', 'tmpfs', '/run')
    os.makedirs('/run/netns')
    sh('ip', 'link', 'set', 'lo', 'up')
    sh('sysctl', '-qw', 'net.ipv4.ip_forward=1')
    builds = {'tscni': BIN, **({'baseline': baseline} if baseline else {})}
    ours = {}
    for key, d in builds.items():
        ours[key] = Plugins(tmp, key, d, len(ours))
        ours[f'{key}-cli'] = Tscni(tmp, f'{key}-cli', d, len(ours))
    nv = Netavark(tmp)
    keys = [*ours, nv.key]

    cold = {}
    for key, t in ours.items():
        cold[key] = t.verb('add', 'res', 'resident', t.port + 1)
    cold[nv.key] = nv.verb('setup', 'res', 'resident', '10.96.2.2', 9002)
    rows = {k: {'add': [], 'del': []} for k in keys}

    def cycle(key, _):
        if key == nv.key:
            rows[key]['add'].append(nv.verb('setup', 'c', 'web', '10.96.2.3', 8002))
            rows[key]['del'].append(nv.verb('teardown', 'c', 'web', '10.96.2.3', 8002))
            return
        t = ours[key]
        rows[key]['add'].append(t.verb('add', 'c', 'web', t.port))
        rows[key]['del'].append(t.verb('del', 'c', 'web', t.port))

    interleaved(keys, n, cycle)
    for t in ours.values():
        t.verb('add', 'c', 'web', t.port)
    nv.verb('setup', 'c', 'web', '10.96.2.3', 8002)
    lat = {key: query(t.ns('c'), f'{t.subnet}.1', 'resident', 1000) for key, t in ours.items()}
    lat[nv.key] = query(nv.ns('c'), '10.96.2.1', 'resident', 1000)
    rss = {key: rss_kib(t.resolver_pid()) for key, t in ours.items()}
    rss[nv.key] = rss_kib(nv.resolver_pid())
    alone = dnsname_alone(tmp, n, builds)
    report = {'iterations': n, 'cold_first_container_ms': cold,
              'add_ms': {k: {'p50': pct(v['add'], 50), 'p90': pct(v['add'], 90)} for k, v in rows.items()},
              'del_ms': {k: {'p50': pct(v['del'], 50), 'p90': pct(v['del'], 90)} for k, v in rows.items()},
              'query_us': {k: {'p50': pct(v, 50), 'p99': pct(v, 99)} for k, v in lat.items()},
              'resolver_rss_kib': rss,
              'dnsname_alone_ms': alone}
    shutil.rmtree(tmp, ignore_errors=True)
    return report


def table(r):
    keys = list(r['add_ms'])
    out = [f"chain (bridge + portmap + firewall + dnsname) against netavark + aardvark-dns, {r['iterations']} rounds;",
           "tscni: the plugins exec'd as podman's CNI backend runs them; tscni-cli: `tscni add/del`",
           '| | ' + ' | '.join(keys) + ' |', '|---' * (len(keys) + 1) + '|']
    row = lambda label, cells: out.append(f'| {label} | ' + ' | '.join(cells) + ' |')
    row('ADD / setup p50 (p90) ms', [f"{r['add_ms'][k]['p50']:.0f} ({r['add_ms'][k]['p90']:.0f})" for k in keys])
    row('DEL / teardown p50 (p90) ms', [f"{r['del_ms'][k]['p50']:.0f} ({r['del_ms'][k]['p90']:.0f})" for k in keys])
    row('first container (resolver starts) ms', [f"{r['cold_first_container_ms'][k]:.0f}" for k in keys])
    row('A query p50 / p99 µs', [f"{r['query_us'][k]['p50']:.0f} / {r['query_us'][k]['p99']:.0f}" for k in keys])
    row('resolver RSS MiB', [f"{r['resolver_rss_kib'][k] / 1024:.1f}" for k in keys])
    a = r['dnsname_alone_ms']
    sides = list(a)
    out += ['', 'dnsname alone against Debian\'s containers/dnsname 1.3.1 (reference), ms p50 (p90); failed calls',
            '| verb | ' + ' | '.join(sides) + ' |', '|---' * (len(sides) + 1) + '|']
    for v in ('VERSION', 'ADD', 'CHECK', 'DEL'):
        row(v, [f"{a[s][v]['p50']:.0f} ({a[s][v]['p90']:.0f})" + (f"; {a[s][v]['failed']} failed" if a[s][v]['failed'] else '')
                for s in sides])
    return '\n'.join(out)


def main():
    arg = lambda name, default=None: sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default
    n = int(arg('--iterations', '30'))
    baseline = arg('--baseline')
    if '--inner' in sys.argv:
        print(json.dumps(inner(n, baseline)))
        return
    for p in (NETAVARK, AARDVARK, REFERENCE, os.path.join(BIN, 'dnsname')):
        if not os.path.exists(p):
            raise SystemExit(f'{p} is missing (netavark, aardvark-dns, golang-github-containernetworking-plugin-dnsname '
                             'packages; make build)')
    if baseline and not os.path.exists(os.path.join(baseline, 'dnsname')):
        raise SystemExit(f'{baseline}/dnsname is missing: --baseline takes a bin/ directory of a tscni build')
    # PID 1 of the namespace is this script's inner run: when it ends, dnsmasq and aardvark-dns go too.
    argv = ['unshare', '--net', '--mount', '--pid', '--fork', '--propagation', 'private', '--mount-proc',
            sys.executable, os.path.abspath(__file__), '--inner', '--iterations', str(n)]
    if baseline:
        argv += ['--baseline', os.path.abspath(baseline)]
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        sys.exit(r.returncode)
    report = json.loads(r.stdout)
    print(json.dumps(report, indent=1) if '--json' in sys.argv else table(report))


if __name__ == '__main__':
    main()
