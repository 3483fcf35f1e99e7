/** The nftables backend: the reference's masquerade table, and tables of our own, written with `nft -f`. */
import type { Runner } from '../../exec/runner';
import type { FirewallDriver } from '../types';
import type { TableProbe } from './nft';
import { NftContainerForwarding } from './container-forwarding';
import { NftMasquerade } from './masquerade';
import { NftPortForwarding } from './port-forwarding';

export class NftablesDriver implements FirewallDriver {
  readonly backend = 'nftables';
  readonly masquerade: NftMasquerade;
  readonly containerForwarding: NftContainerForwarding;
  readonly portForwarding: NftPortForwarding;

  /** `tableExists` defaults to a netlink request (tests pass a fake). */
  constructor(runner: Runner, tableExists?: TableProbe) {
    this.masquerade = new NftMasquerade(runner, tableExists);
    this.containerForwarding = new NftContainerForwarding(runner);
    this.portForwarding = new NftPortForwarding(runner, tableExists);
  }
}
