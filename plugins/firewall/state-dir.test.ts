/** The firewall's default records directory is ours: a link planted there is replaced (issue 20). */
import { describeStateDir } from '../../lib/testutil/state-dir';
import { RecordStore } from './records';

type Args = Parameters<RecordStore['write']>;
const attachment = { networkName: 'net', containerId: 'c1', ifName: 'eth0' } as Args[0];
const record: Args[1] = {
  backend: 'iptables',
  zone: '',
  adminChain: 'CNI-ADMIN',
  ips: ['10.0.0.2'],
  bridge: undefined,
  hostVeth: undefined,
};

describeStateDir('firewall', (dir, own) => new RecordStore(dir, own).write(attachment, record));
