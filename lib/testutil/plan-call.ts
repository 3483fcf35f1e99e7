/**
 * One verb of a plugin run against a recording kernel, for golden plan tests (test-only module):
 * a plan directory (lib/testutil/fake-kernel.ts planDir) stands for the container's namespace
 * file and the CNI_PATH (with empty `host-local` and `dhcp` files for the runner to "run"); the
 * output, the plan text and the timeline come back.
 */
import type { Invocation } from '../cni/invocation';
import type { Result } from '../cni/result/types';
import type { Kernel } from '../net/kernel';
import { fakeKernel, planDir, stableLine, type FakeKernelOptions } from './fake-kernel';
import { callVerb, type VerbOutput } from './verbs';

/** A plugin's verbs, each taking the kernel as its second argument (as production's do). */
export interface KernelVerbs {
  add?: (inv: Invocation, kernel: Kernel) => Promise<Result>;
  del?: (inv: Invocation, kernel: Kernel) => Promise<void>;
  check?: (inv: Invocation, kernel: Kernel) => Promise<void>;
  gc?: (inv: Invocation, kernel: Kernel) => Promise<void>;
  status?: (inv: Invocation, kernel: Kernel) => Promise<void>;
}

export interface PlanRun {
  readonly out: VerbOutput;
  /** The golden text (FakeKernel.plan), CNI_PATH as `<cni-path>`. */
  readonly plan: string;
  /** Every call in the order made (FakeKernel.timeline), stable like the plan. */
  readonly timeline: string[];
  /** The path CNI_NETNS named (gone once the call returns). */
  readonly netns: string;
}

export async function runPlan(
  verbs: KernelVerbs,
  command: string,
  /** The config, or a function of the netns path (for a prevResult that names it). */
  config: object | ((netns: string) => object),
  o: FakeKernelOptions = {},
): Promise<PlanRun> {
  const pd = planDir(['host-local', 'dhcp']);
  try {
    const fk = fakeKernel(o);
    const k = fk.kernel;
    const { add, del, check, gc, status } = verbs;
    const out = await callVerb(
      {
        add: add && ((inv) => add(inv, k)),
        del: del && ((inv) => del(inv, k)),
        check: check && ((inv) => check(inv, k)),
        gc: gc && ((inv) => gc(inv, k)),
        status: status && ((inv) => status(inv, k)),
      },
      command,
      typeof config === 'function' ? config(pd.netns) : config,
      { netns: pd.netns, env: pd.env },
    );
    const timeline = fk.timeline.map((l) => stableLine(l).split(pd.dir).join('<cni-path>'));
    return { out, plan: fk.plan({ cniPath: pd.dir }), timeline, netns: pd.netns };
  } finally {
    pd.remove();
  }
}
