#!/usr/bin/env python3
"""tscni: 50 concurrent bridge ADDs (then DELs) in a private sandbox, TSCNI_DEBUG=1: where does a burst wait?
Usage: burst.py BIN_DIR [N]. Prints per-phase p50/max over the N processes."""
import json, os, re, statistics, subprocess, sys, tempfile, time
BIN = os.path.abspath(sys.argv[1]); N = int(sys.argv[2]) if len(sys.argv) > 2 else 50
tag = f"tscni-t-burst{os.getpid()}"
H = f"{tag}-h"; tmp = tempfile.mkdtemp(prefix=f"{tag}-")
def sh(*a, **k): return subprocess.run(list(a), check=True, capture_output=True, **k)
made = []
try:
    sh("ip", "netns", "add", H); made.append(H)
    sh("ip", "-n", H, "link", "set", "lo", "up")
    for i in range(N):
        c = f"{tag}-c{i}"; sh("ip", "netns", "add", c); made.append(c)
    conf = json.dumps({"cniVersion": "1.0.0", "name": "burst", "type": "bridge", "bridge": "cni0",
        "isGateway": True, "ipMasq": True,
        "ipam": {"type": "host-local", "subnet": "10.77.0.0/16", "dataDir": f"{tmp}/ipam"}})
    def launch(verb, i):
        env = {"PATH": os.environ["PATH"], "CNI_COMMAND": verb, "CNI_CONTAINERID": f"ctr{i}",
               "CNI_NETNS": f"/run/netns/{tag}-c{i}", "CNI_IFNAME": "eth0", "CNI_PATH": BIN,
               "TSCNI_DEBUG": "1", "TSCNI_STATE_DIR": f"{tmp}/state"}
        return subprocess.Popen(["nsenter", f"--net=/run/netns/{H}", f"{BIN}/bridge"], env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for verb in ("ADD", "DEL"):
        t0 = time.perf_counter()
        ps = [launch(verb, i) for i in range(N)]
        for p in ps: p.stdin.write(conf.encode()); p.stdin.close()
        outs = [(p.stdout.read(), p.stderr.read().decode(), p.wait()) for p in ps]
        wall = (time.perf_counter() - t0) * 1000
        fails = sum(1 for o in outs if o[2] != 0)
        phases = {}
        for _, err, _ in outs:
            lines = [l for l in err.splitlines() if l.startswith("tscni debug:")]
            for l in lines:
                m = re.match(r"tscni debug: \+(\d+) ms cpu ([\d.]+) ms (.*)", l)
                if not m: continue
                t, cpu, msg = int(m.group(1)), float(m.group(2)), m.group(3)
                lk = re.match(r"locked (.*) after ([\d.]+) ms", msg)
                if lk: phases.setdefault(f"wait for {lk.group(1)}", []).append(float(lk.group(2)))
                hd = re.match(r"unlocked (.*), held ([\d.]+) ms", msg)
                if hd: phases.setdefault(f"held {hd.group(1)}", []).append(float(hd.group(2)))
            if lines:
                m0 = re.match(r"tscni debug: \+(\d+) ms cpu ([\d.]+)", lines[0]); m1 = re.match(r"tscni debug: \+(\d+) ms cpu ([\d.]+)", lines[-1])
                phases.setdefault("first debug line (start-up, wall)", []).append(int(m0.group(1)))
                phases.setdefault("last debug line (wall)", []).append(int(m1.group(1)))
                phases.setdefault("cpu at last line", []).append(float(m1.group(2)))
        print(f"{verb}: {N} at once, wall {wall:.0f} ms, {fails} failed")
        for k, v in phases.items():
            print(f"  {k}: n={len(v)} p50 {statistics.median(v):.1f} max {max(v):.1f} sum {sum(v):.0f}")

finally:
    for n in made: subprocess.run(["ip", "netns", "del", n], capture_output=True)
    subprocess.run(["rm", "-rf", tmp])
