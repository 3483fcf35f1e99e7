/** The iptables backend: the reference's chains, written with iptables-restore. */
import type { Runner } from '../../exec/runner';
import type { FirewallDriver } from '../types';
import { IptablesContainerForwarding } from './container-forwarding';
import { IptablesMasquerade } from './masquerade';
import { IptablesPortForwarding } from './port-forwarding';

export class IptablesDriver implements FirewallDriver {
  readonly backend = 'iptables';
  readonly masquerade: IptablesMasquerade;
  readonly containerForwarding: IptablesContainerForwarding;
  readonly portForwarding: IptablesPortForwarding;

  constructor(runner: Runner) {
    this.masquerade = new IptablesMasquerade(runner);
    this.containerForwarding = new IptablesContainerForwarding(runner);
    this.portForwarding = new IptablesPortForwarding(runner);
  }
}
