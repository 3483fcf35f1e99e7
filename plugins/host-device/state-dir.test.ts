/** host-device's default `$TSCNI_STATE_DIR/host-device` is ours: a link planted there is replaced (issue 20). */
import { describeStateDir } from '../../lib/testutil/state-dir';
import { DeviceRecords } from './records';

describeStateDir('host-device', (dir, own) =>
  new DeviceRecords(dir, own).write({
    network: 'net',
    containerId: 'c1',
    ifName: 'eth0',
    netns: '/run/netns/x',
    netnsInode: 1,
    dpdk: false,
    hostName: 'eth1',
    mac: '02:00:00:00:00:01',
    alias: '',
    up: true,
  }),
);
