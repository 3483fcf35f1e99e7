/**
 * The part of @homebridge/dbus-native (a D-Bus client in plain JavaScript, no types of its own)
 * that tscni uses: a connection to a bus, match rules and signals.
 */
declare module '@homebridge/dbus-native' {
  import type { EventEmitter } from 'node:events';

  /** A message as the library decodes it (type 4 is a signal). */
  export interface DBusMessage {
    type: number;
    serial?: number;
    path?: string;
    interface?: string;
    member?: string;
    sender?: string;
    destination?: string;
    signature?: string;
    body?: unknown[];
  }

  export interface DBusConnection extends EventEmitter {
    end(): DBusConnection;
  }

  export type Callback<T = unknown> = (err: Error | null | undefined, value?: T) => void;

  export interface MessageBus {
    readonly connection: DBusConnection;
    addMatch(rule: string, cb: Callback): void;
    requestName(name: string, flags: number, cb: Callback<number>): void;
    sendSignal(path: string, iface: string, member: string, signature: string, body: unknown[]): void;
  }

  export interface ClientOptions {
    /** unix socket path */
    socket?: string;
    busAddress?: string;
    authMethods?: string[];
  }

  export function createClient(opts: ClientOptions): MessageBus;
}
