/**
 * A minimal CRI client (what kubelet does for a pod's network): RunPodSandbox, containers in it,
 * ExecSync, StopPodSandbox, RemovePodSandbox over containerd's gRPC socket. Field numbers are
 * CRI runtime/v1's (see grpc.ts).
 */
import { GrpcUnixClient, PbFields, PbWriter } from './grpc';

const SERVICE = '/runtime.v1.RuntimeService/';
const PROTOCOL = { TCP: 0, UDP: 1, SCTP: 2 } as const;

export interface CriPortMapping {
  protocol: keyof typeof PROTOCOL;
  containerPort: number;
  hostPort: number;
  hostIp?: string;
}

export interface PodConfig {
  name: string;
  uid: string;
  namespace: string;
  hostname?: string;
  portMappings: CriPortMapping[];
  labels?: Record<string, string>;
  /** e.g. kubernetes.io/ingress-bandwidth, which containerd turns into the `bandwidth` capability. */
  annotations?: Record<string, string>;
  cgroupParent?: string;
}

export interface ContainerSpec {
  name: string;
  image: string;
  command: string[];
  args?: string[];
}

export interface PodStatus {
  id: string;
  /** SANDBOX_READY = 0, SANDBOX_NOTREADY = 1. */
  state: number;
  ip: string;
  additionalIps: string[];
  /** Verbose info (containerd puts a JSON document under "info"). */
  info: Record<string, string>;
}

function podConfig(c: PodConfig): PbWriter {
  return new PbWriter()
    .message(1, new PbWriter().bytes(1, c.name).bytes(2, c.uid).bytes(3, c.namespace))
    .bytes(2, c.hostname ?? c.name)
    .messages(
      5,
      c.portMappings.map((p) =>
        new PbWriter().uint(1, PROTOCOL[p.protocol]).uint(2, p.containerPort).uint(3, p.hostPort).bytes(4, p.hostIp),
      ),
    )
    .map(6, c.labels)
    .map(7, c.annotations)
    .message(8, new PbWriter().bytes(1, c.cgroupParent));
}

export class CriClient {
  private readonly grpc: GrpcUnixClient;

  constructor(socketPath: string) {
    this.grpc = new GrpcUnixClient(socketPath);
  }

  private call(method: string, req: PbWriter, timeoutMs?: number): Promise<PbFields> {
    return this.grpc.call(SERVICE + method, req.finish(), timeoutMs);
  }

  async version(): Promise<{ runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }> {
    const r = await this.call('Version', new PbWriter().bytes(1, 'v1'));
    return { runtimeName: r.str(2), runtimeVersion: r.str(3), runtimeApiVersion: r.str(4) };
  }

  async runPodSandbox(c: PodConfig): Promise<string> {
    return (await this.call('RunPodSandbox', new PbWriter().message(1, podConfig(c)), 120_000)).str(1);
  }

  async podSandboxStatus(id: string): Promise<PodStatus> {
    const r = await this.call('PodSandboxStatus', new PbWriter().bytes(1, id).uint(2, true));
    const s = r.msg(1);
    const net = s?.msg(5);
    return {
      id: s?.str(1) ?? '',
      state: s?.num(3) ?? -1,
      ip: net?.str(1) ?? '',
      additionalIps: (net?.msgs(2) ?? []).map((p) => p.str(1)),
      info: r.map(2),
    };
  }

  async listPodSandboxIds(): Promise<string[]> {
    const r = await this.call('ListPodSandbox', new PbWriter());
    return r.msgs(1).map((p) => p.str(1));
  }

  async stopPodSandbox(id: string): Promise<void> {
    await this.call('StopPodSandbox', new PbWriter().bytes(1, id), 120_000);
  }

  async removePodSandbox(id: string): Promise<void> {
    await this.call('RemovePodSandbox', new PbWriter().bytes(1, id), 120_000);
  }

  async createContainer(podId: string, pod: PodConfig, spec: ContainerSpec): Promise<string> {
    const config = new PbWriter()
      .message(1, new PbWriter().bytes(1, spec.name))
      .message(2, new PbWriter().bytes(1, spec.image))
      .strings(3, spec.command)
      .strings(4, spec.args);
    const req = new PbWriter().bytes(1, podId).message(2, config).message(3, podConfig(pod));
    return (await this.call('CreateContainer', req, 120_000)).str(1);
  }

  async startContainer(id: string): Promise<void> {
    await this.call('StartContainer', new PbWriter().bytes(1, id), 120_000);
  }

  async stopContainer(id: string, timeoutSec = 0): Promise<void> {
    await this.call('StopContainer', new PbWriter().bytes(1, id).uint(2, timeoutSec), 120_000);
  }

  async removeContainer(id: string): Promise<void> {
    await this.call('RemoveContainer', new PbWriter().bytes(1, id), 120_000);
  }

  /** Runs a command in a container and waits for it (CRI ExecSync). */
  async execSync(
    id: string,
    cmd: string[],
    timeoutSec = 20,
  ): Promise<{ stdout: string; stderr: string; code: number }> {
    const r = await this.call(
      'ExecSync',
      new PbWriter().bytes(1, id).strings(2, cmd).uint(3, timeoutSec),
      (timeoutSec + 10) * 1000,
    );
    return { stdout: r.bytes(1).toString(), stderr: r.bytes(2).toString(), code: r.num(3) };
  }

  close(): void {
    this.grpc.close();
  }
}
