/** The requests both firewall backends' golden tests render, so the two sets of goldens describe the same input. */
import type { ForwardingChange, PortForwardRequest } from '../firewall/types';
import { testAttachment } from './invocation';

export const goldenAttachment = testAttachment('podman', 'c0ffee', 'eth0');

/** Dual-stack container, every kind of mapping (any host IP, a v4 host IP, a v6 host IP, udp). */
export const portForwardRequest = (over: Partial<PortForwardRequest> = {}): PortForwardRequest => ({
  attachment: goldenAttachment,
  containers: [
    { address: '10.88.0.2', prefix: 16, family: 4 },
    { address: 'fd00:88::2', prefix: 64, family: 6 },
  ],
  mappings: [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '' },
    { hostPort: 8443, containerPort: 443, protocol: 'tcp', hostIP: '192.168.1.10' },
    { hostPort: 9443, containerPort: 443, protocol: 'tcp', hostIP: 'fd00:1::10' },
    { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '' },
  ],
  snat: true,
  masqAll: false,
  markMasqBit: 13,
  externalSetMarkChain: undefined,
  conditionsV4: [],
  conditionsV6: [],
  ...over,
});

/** A firewall-plugin change that does nothing until a test fills in what it accepts, forgets or isolates. */
export const forwardingChange = (over: Partial<ForwardingChange> = {}): ForwardingChange => ({
  accept: [],
  forget: [],
  isolate: [],
  unisolate: [],
  families: [4, 6],
  adminChain: 'CNI-ADMIN',
  owner: goldenAttachment,
  ...over,
});
