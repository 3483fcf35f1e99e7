/** tuning's default /run/cni/tuning is ours: a link planted there is replaced (issue 20). */
import { describeStateDir } from '../../lib/testutil/state-dir';
import { diskStore } from './state';

describeStateDir('tuning', (dir, own) => diskStore(dir, own).write('c1_eth0.json', { network: 'net' }));
