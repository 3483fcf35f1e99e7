/**
 * DHCP option codes (RFC 2132 and later) that tscni reads or writes: a module of constants only,
 * so the plugin's option handling (options.ts) does not load the message codec.
 */
export const Opt = {
  Pad: 0,
  SubnetMask: 1,
  Router: 3,
  DomainNameServer: 6,
  HostName: 12,
  DomainName: 15,
  StaticRoute: 33,
  RequestedIP: 50,
  LeaseTime: 51,
  Overload: 52,
  MessageType: 53,
  ServerId: 54,
  ParameterRequestList: 55,
  Message: 56,
  MaxMessageSize: 57,
  RenewalTime: 58,
  RebindingTime: 59,
  ClassId: 60,
  ClientId: 61,
  UserClass: 77,
  DomainSearch: 119,
  ClasslessRoute: 121,
  End: 255,
} as const;
