/**
 * firewalld's word on the system bus that the rules under our containers are gone: its
 * `Reloaded` signal (sent once `firewall-cmd --reload` has flushed and rebuilt the ruleset — what
 * netavark's firewalld-reload service answers too), and its bus name gaining an owner (firewalld
 * started or restarted, which flushes as well). `tscni reload --watch` subscribes to both.
 *
 * D-Bus is spoken by @homebridge/dbus-native (a maintained pure-JavaScript client; the wire
 * format is not written by hand here). Only the watcher loads this module. Both match rules name
 * firewalld as the sender, so another client of the bus cannot make the watcher work.
 */
import { createClient, type DBusMessage, type MessageBus } from '@homebridge/dbus-native';

export const FIREWALLD_NAME = 'org.fedoraproject.FirewallD1';
const FIREWALLD_PATH = '/org/fedoraproject/FirewallD1';
const SIGNAL = 4;

export const MATCH_RELOADED = `type='signal',sender='${FIREWALLD_NAME}',interface='${FIREWALLD_NAME}',member='Reloaded',path='${FIREWALLD_PATH}'`;
export const MATCH_OWNER = `type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='${FIREWALLD_NAME}'`;

/** What a signal means for the watcher, or undefined when it means nothing. */
export function firewalldSignal(m: DBusMessage): string | undefined {
  if (m.type !== SIGNAL) return undefined;
  if (m.interface === FIREWALLD_NAME && m.member === 'Reloaded' && m.path === FIREWALLD_PATH)
    return 'firewalld reloaded';
  if (m.interface === 'org.freedesktop.DBus' && m.member === 'NameOwnerChanged') {
    const [name, , owner] = m.body ?? [];
    if (name === FIREWALLD_NAME && typeof owner === 'string' && owner !== '') return 'firewalld started';
  }
  return undefined;
}

export interface FirewalldWatch {
  close(): void;
}

const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Connects to the bus at `socketPath` and subscribes; resolves once both match rules are in
 * place. `onSignal` gets what happened; `onLost` the end of the connection (the bus went away).
 */
export function watchFirewalld(
  socketPath: string,
  onSignal: (why: string) => void,
  onLost: (e: Error) => void,
): Promise<FirewalldWatch> {
  return new Promise((resolve, reject) => {
    let bus: MessageBus;
    let ready = false;
    let pending = 2;
    let ended = false;
    const end = (e: Error): void => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      try {
        bus.connection.end();
      } catch {
        // already closed
      }
      if (ready) onLost(e);
      else if (pending > 0) reject(e);
    };
    const timer = setTimeout(
      () => end(new Error(`no answer from the bus at ${socketPath} in ${CONNECT_TIMEOUT_MS / 1000} s`)),
      CONNECT_TIMEOUT_MS,
    );
    try {
      bus = createClient({ socket: socketPath, authMethods: ['EXTERNAL'] });
    } catch (e) {
      clearTimeout(timer);
      return reject(e instanceof Error ? e : new Error(String(e)));
    }
    bus.connection.on('error', (e: Error) => end(e));
    bus.connection.on('end', () => end(new Error(`the bus at ${socketPath} closed the connection`)));
    bus.connection.on('message', (m: DBusMessage) => {
      const why = firewalldSignal(m);
      if (why !== undefined && ready) onSignal(why);
    });
    const added = (err: Error | null | undefined): void => {
      if (ended) return;
      if (err) return end(new Error(`AddMatch on ${socketPath}: ${err.message ?? String(err)}`));
      if (--pending > 0) return;
      ready = true;
      clearTimeout(timer);
      resolve({
        close: () => {
          ready = false; // a close asked for is no loss
          end(new Error('closed'));
        },
      });
    };
    bus.addMatch(MATCH_RELOADED, added);
    bus.addMatch(MATCH_OWNER, added);
  });
}
