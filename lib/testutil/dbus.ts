/**
 * A private message bus and a stand-in for firewalld on it (test-only module). The bus is a
 * `dbus-daemon` with a session-style configuration of its own, listening on a socket in the
 * test's directory (never the machine's system bus); it is ended by its PID. The stand-in owns
 * firewalld's bus name and emits its `Reloaded` signal, as `firewall-cmd --reload` makes
 * firewalld do.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient, type MessageBus } from '@homebridge/dbus-native';
import { requireProgram } from './programs';
import { waitFor } from './wait';

export class PrivateBus {
  private constructor(
    private readonly child: ChildProcess,
    readonly socket: string,
  ) {}

  /** `DBUS_SYSTEM_BUS_ADDRESS` for programs that should take this bus as the system bus. */
  get address(): string {
    return `unix:path=${this.socket}`;
  }

  static async start(dir: string): Promise<PrivateBus> {
    const socket = join(dir, 'bus.sock');
    const config = join(dir, 'bus.conf');
    writeFileSync(
      config,
      `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`,
    );
    const child = spawn(requireProgram('dbus-daemon'), [`--config-file=${config}`, '--nofork', '--print-address'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let printed = '';
    child.stdout?.on('data', (b: Buffer) => (printed += b.toString()));
    const bus = new PrivateBus(child, socket);
    try {
      await waitFor('the private bus to listen', () => printed.includes(socket) || child.exitCode !== null);
      if (child.exitCode !== null) throw new Error(`dbus-daemon exited with ${child.exitCode}`);
    } catch (e) {
      bus.stop();
      throw e;
    }
    return bus;
  }

  stop(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

const FIREWALLD = 'org.fedoraproject.FirewallD1';

/** Owns firewalld's name on a bus and sends its Reloaded signal on demand. */
export class FakeFirewalld {
  private constructor(private readonly bus: MessageBus) {}

  static async start(socket: string): Promise<FakeFirewalld> {
    const bus = createClient({ socket, authMethods: ['EXTERNAL'] });
    bus.connection.on('error', () => undefined);
    await new Promise<void>((resolve, reject) =>
      // DBUS_NAME_FLAG_DO_NOT_QUEUE; 1 = DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER
      bus.requestName(FIREWALLD, 4, (err, reply) =>
        err ? reject(err) : reply === 1 ? resolve() : reject(new Error(`RequestName answered ${reply}`)),
      ),
    );
    return new FakeFirewalld(bus);
  }

  reloaded(): void {
    this.bus.sendSignal('/org/fedoraproject/FirewallD1', FIREWALLD, 'Reloaded', '', []);
  }

  stop(): void {
    this.bus.connection.end();
  }
}
