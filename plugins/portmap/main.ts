#!/usr/bin/env node
import { pluginMain } from '../../lib/cni/main';

pluginMain({}, 'CNI portmap plugin (tscni)');
