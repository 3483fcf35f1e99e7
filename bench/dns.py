#!/usr/bin/env python3
"""tscni's Docker-style network with names against netavark + aardvark-dns 1.4 (make bench-dns).

Sets up and tears down the same container (a bridge network with a published port and DNS) N
times with each: ours is `tscni add/del` of bridge + portmap + firewall + dnsname (dnsmasq), theirs
`netavark setup/teardown` with aardvark-dns. One resident container per side keeps each resolver
running, so the figures are a container joining a network that already has one (the first
container's start-up of the resolver is reported apart, as "cold"). Then 1,000 sequential A
queries for the resident's name from a container to each resolver: p50 and p99.

Everything runs in private network, mount and PID namespaces made by unshare (the script re-runs
itself there); /run and the state directories are tmpfs or temp dirs; no packet leaves them.
"""
import json, os, shutil, socket, statistics, struct, subprocess, sys, tempfile, time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(REPO, 'bin')
NETAVARK = '/usr/lib/podman/netavark'
AARDVARK = '/usr/lib/podman/aardvark-dns'


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


def inner(n):
    tmp = tempfile.mkdtemp(prefix='tscni-bench-dns-')
    sh('mount', '-t', 'tmpfs', 'tmpfs', '/run')
    os.makedirs('/run/netns')
    sh('ip', 'link', 'set', 'lo', 'up')
    sh('sysctl', '-qw', 'net.ipv4.ip_forward=1')
    conf = os.path.join(tmp, 'conf')
    os.makedirs(conf)
    ours = {
        'cniVersion': '1.0.0', 'name': 'benchnet',
        'plugins': [
            {'type': 'bridge', 'bridge': 'tsbench0', 'isGateway': True, 'ipMasq': True, 'hairpinMode': True,
             'ipam': {'type': 'host-local', 'dataDir': os.path.join(tmp, 'ipam'),
                      'ranges': [[{'subnet': '10.96.1.0/24'}]], 'routes': [{'dst': '0.0.0.0/0'}]}},
            {'type': 'portmap', 'capabilities': {'portMappings': True}},
            {'type': 'firewall', 'dataDir': os.path.join(tmp, 'fw')},
            {'type': 'dnsname', 'domainName': 'dns.podman', 'capabilities': {'aliases': True}},
        ]}
    with open(os.path.join(conf, 'benchnet.conflist'), 'w') as f:
        json.dump(ours, f)
    base = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'NETCONFPATH': conf, 'CNI_PATH': BIN,
            'CNI_CACHE_DIR': os.path.join(tmp, 'cache'), 'XDG_RUNTIME_DIR': os.path.join(tmp, 'xdg'),
            'TSCNI_STATE_DIR': os.path.join(tmp, 'state'), 'TSCNI_RUN_DIR': os.path.join(tmp, 'run')}

    def env_for(name, port):
        return {**base, 'CNI_ARGS': f'IgnoreUnknown=1;K8S_POD_NAME={name}',
                'CAP_ARGS': json.dumps({'portMappings': [{'hostPort': port, 'containerPort': 80, 'protocol': 'tcp'}],
                                        'aliases': {'benchnet': [name + '-alias']}})}

    def tscni(verb, ns, name, port):
        return timed(os.path.join(BIN, 'tscni'), verb, 'benchnet', f'/run/netns/{ns}', env=env_for(name, port))

    nv_conf = os.path.join(tmp, 'netavark')
    os.makedirs(nv_conf)
    net_id = 'b' * 64
    info = {'benchnav': {'name': 'benchnav', 'id': net_id, 'driver': 'bridge', 'network_interface': 'nvbench0',
                         'subnets': [{'subnet': '10.96.2.0/24', 'gateway': '10.96.2.1'}], 'ipv6_enabled': False,
                         'internal': False, 'dns_enabled': True, 'ipam_options': {'driver': 'host-local'}}}

    def nv_opts(name, ip, port):
        return json.dumps({'container_id': (name.encode().hex() * 64)[:64], 'container_name': name,
                           'networks': {'benchnav': {'interface_name': 'eth0', 'static_ips': [ip], 'aliases': [name + '-alias']}},
                           'network_info': info,
                           'port_mappings': [{'host_ip': '', 'container_port': 80, 'host_port': port, 'range': 1, 'protocol': 'tcp'}]})

    nv_env = {'PATH': base['PATH']}

    def netavark(verb, ns, name, ip, port):
        return timed(NETAVARK, '--config', nv_conf, '--rootless', 'false', '--aardvark-binary', AARDVARK,
                     verb, f'/run/netns/{ns}', env=nv_env, input=nv_opts(name, ip, port))

    for ns in ['ours-res', 'ours-c', 'nv-res', 'nv-c']:
        sh('ip', 'netns', 'add', ns)
    cold = {'tscni': tscni('add', 'ours-res', 'resident', 9001),
            'netavark': netavark('setup', 'nv-res', 'resident', '10.96.2.2', 9002)}
    rows = {'tscni': {'add': [], 'del': []}, 'netavark': {'add': [], 'del': []}}
    for i in range(n):
        rows['tscni']['add'].append(tscni('add', 'ours-c', 'web', 8001))
        rows['netavark']['add'].append(netavark('setup', 'nv-c', 'web', '10.96.2.3', 8002))
        rows['tscni']['del'].append(tscni('del', 'ours-c', 'web', 8001))
        rows['netavark']['del'].append(netavark('teardown', 'nv-c', 'web', '10.96.2.3', 8002))
    rows['tscni']['add'].append(tscni('add', 'ours-c', 'web', 8001))
    rows['netavark']['add'].append(netavark('setup', 'nv-c', 'web', '10.96.2.3', 8002))
    lat = {'tscni': query('ours-c', '10.96.1.1', 'resident', 1000),
           'netavark': query('nv-c', '10.96.2.1', 'resident', 1000)}
    pids = {'tscni': int(open(os.path.join(base['XDG_RUNTIME_DIR'], 'containers/cni/dnsname/benchnet/pidfile')).read()),
            'netavark': int(open(os.path.join(nv_conf, 'aardvark-dns', 'aardvark.pid')).read())}
    report = {'iterations': n, 'cold_first_container_ms': cold,
              'add_ms': {k: {'p50': pct(v['add'], 50), 'p90': pct(v['add'], 90)} for k, v in rows.items()},
              'del_ms': {k: {'p50': pct(v['del'], 50), 'p90': pct(v['del'], 90)} for k, v in rows.items()},
              'query_us': {k: {'p50': pct(v, 50), 'p99': pct(v, 99)} for k, v in lat.items()},
              'resolver_rss_kib': {k: rss_kib(p) for k, p in pids.items()}}
    print(json.dumps(report, indent=1))
    shutil.rmtree(tmp, ignore_errors=True)


def main():
    n = int(sys.argv[sys.argv.index('--iterations') + 1]) if '--iterations' in sys.argv else 30
    if '--inner' in sys.argv:
        return inner(n)
    for p in (NETAVARK, AARDVARK, os.path.join(BIN, 'dnsname')):
        if not os.path.exists(p):
            raise SystemExit(f'{p} is missing (netavark, aardvark-dns packages; make build)')
    # PID 1 of the namespace is this script's inner run: when it ends, dnsmasq and aardvark-dns go too.
    r = subprocess.run(['unshare', '--net', '--mount', '--pid', '--fork', '--propagation', 'private', '--mount-proc',
                        sys.executable, os.path.abspath(__file__), '--inner', '--iterations', str(n)])
    sys.exit(r.returncode)


if __name__ == '__main__':
    main()
