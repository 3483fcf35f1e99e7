/** The masquerade concern of a container with these addresses, as bridge and ptp reload it. */
import type { Attachment } from '../cni/invocation';
import type { IPConfig } from '../cni/result/types';
import type { Runner } from '../exec/runner';
import type { Backend } from '../firewall/backend';
import {
  checkMasquerade,
  inspectMasquerade,
  setupMasquerade,
  stageMasquerade,
  teardownMasquerade,
} from '../firewall/ip-masq';
import type { Concern } from './types';

export function masqueradeConcern(
  runner: Runner,
  backend: Backend | undefined,
  a: Attachment,
  ips: readonly IPConfig[],
): Concern {
  return {
    what: 'masquerade',
    inspect: (snap) => inspectMasquerade(runner, backend, a, ips, snap),
    check: () => checkMasquerade(runner, backend, a, ips),
    restore: () => setupMasquerade(runner, backend, a, ips),
    stage: (batch) => stageMasquerade(batch, runner, backend, a, ips),
    undo: () => teardownMasquerade(runner, a),
  };
}
