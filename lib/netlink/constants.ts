/**
 * Numeric constants of the rtnetlink ABI, as found in the kernel UAPI headers
 * (linux/netlink.h, rtnetlink.h, if_link.h, if_addr.h, veth.h, if.h, pkt_sched.h, pkt_cls.h,
 * tc_act/tc_mirred.h) and libc (socket, sched).
 * Only what this library uses; names match the headers so they can be grepped there.
 */

// Sockets and namespaces (sys/socket.h, sched.h); the values are the same on x86_64 and arm64.
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const SOCK_RAW = 3;
export const SOCK_CLOEXEC = 0x80000;
export const NETLINK_ROUTE = 0;
export const NETLINK_NETFILTER = 12;
// nf_tables (linux/netfilter/nfnetlink.h, nf_tables.h): message type = subsystem << 8 | message.
export const NFNL_SUBSYS_NFTABLES = 10;
export const NFT_MSG_NEWTABLE = 0;
export const NFT_MSG_GETTABLE = 1;
export const NFTA_TABLE_NAME = 1;
export const NFT_GETTABLE = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE;
export const NFT_NEWTABLE = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE;
export const SOL_SOCKET = 1;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_RCVTIMEO = 20;
export const SOL_NETLINK = 270;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;
export const NETLINK_GET_STRICT_CHK = 12;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;
export const CLONE_NEWNET = 0x40000000;

// nlmsghdr.nlmsg_flags
export const NLM_F_REQUEST = 0x01;
export const NLM_F_MULTI = 0x02;
export const NLM_F_ACK = 0x04;
export const NLM_F_ECHO = 0x08;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP_FILTERED = 0x20;
// GET requests
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
// NEW requests
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;
// acknowledgements (NLMSG_ERROR)
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

// nlmsghdr.nlmsg_type control messages
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

export const NLMSG_HDRLEN = 16;
export const NLMSGERR_ATTR_MSG = 1;
export const NLMSGERR_ATTR_OFFS = 2;

// Attribute header flags carried in nla_type's top bits.
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = 0x3fff;

// Message types
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_SETLINK = 19;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWRULE = 32;
export const RTM_DELRULE = 33;
export const RTM_GETRULE = 34;
export const RTM_NEWNEIGH = 28;
export const RTM_DELNEIGH = 29;
export const RTM_GETNEIGH = 30;
export const RTM_NEWQDISC = 36;
export const RTM_DELQDISC = 37;
export const RTM_GETQDISC = 38;
export const RTM_NEWTCLASS = 40;
export const RTM_DELTCLASS = 41;
export const RTM_GETTCLASS = 42;
export const RTM_NEWTFILTER = 44;
export const RTM_DELTFILTER = 45;
export const RTM_GETTFILTER = 46;

// Fixed family headers (bytes)
export const IFINFOMSG_LEN = 16;
export const IFADDRMSG_LEN = 8;
export const RTMSG_LEN = 12;
export const NDMSG_LEN = 12;
export const TCMSG_LEN = 20;

// IFLA_* (ifinfomsg attributes)
export const IFLA_ADDRESS = 1;
export const IFLA_BROADCAST = 2;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_LINK = 5;
export const IFLA_MASTER = 10;
export const IFLA_PROTINFO = 12;
export const IFLA_TXQLEN = 13;
export const IFLA_OPERSTATE = 16;
export const IFLA_LINKINFO = 18;
export const IFLA_NET_NS_PID = 19;
export const IFLA_IFALIAS = 20;
export const IFLA_AF_SPEC = 26;
export const IFLA_GROUP = 27;
export const IFLA_NET_NS_FD = 28;
export const IFLA_EXT_MASK = 29;
export const IFLA_PROMISCUITY = 30;
export const IFLA_LINK_NETNSID = 37;
export const IFLA_NEW_IFINDEX = 49;
export const IFLA_MIN_MTU = 50;
export const IFLA_MAX_MTU = 51;
export const IFLA_ALLMULTI = 61;

// IFLA_EXT_MASK values
export const RTEXT_FILTER_VF = 1;
export const RTEXT_FILTER_SKIP_STATS = 8;

// IFLA_LINKINFO nest
export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;
export const IFLA_INFO_SLAVE_KIND = 4;
export const IFLA_INFO_SLAVE_DATA = 5;

// IFLA_INFO_DATA per kind
export const VETH_INFO_PEER = 1;
export const IFLA_MACVLAN_MODE = 1;
export const MACVLAN_MODE_PRIVATE = 1;
export const MACVLAN_MODE_VEPA = 2;
export const MACVLAN_MODE_BRIDGE = 4;
export const MACVLAN_MODE_PASSTHRU = 8;
export const MACVLAN_MODE_SOURCE = 16;
export const IFLA_MACVLAN_BC_QUEUE_LEN = 7;
export const IFLA_IPVLAN_MODE = 1;
export const IPVLAN_MODE_L2 = 0;
export const IPVLAN_MODE_L3 = 1;
export const IPVLAN_MODE_L3S = 2;
export const IFLA_VLAN_ID = 1;
export const IFLA_BR_VLAN_FILTERING = 7;
export const IFLA_VRF_TABLE = 1;
export const IFLA_VRF_PORT_TABLE = 1; // IFLA_INFO_SLAVE_DATA of a VRF's port
// tun/tap (read only: the kernel creates them through /dev/net/tun, never over netlink)
export const IFLA_TUN_OWNER = 1;
export const IFLA_TUN_GROUP = 2;
export const IFLA_TUN_TYPE = 3;
export const IFLA_TUN_PI = 4;
export const IFLA_TUN_VNET_HDR = 5;
export const IFLA_TUN_PERSIST = 6;
export const IFLA_TUN_MULTI_QUEUE = 7;
export const IFLA_TUN_NUM_QUEUES = 8;
// vxlan (if_link.h IFLA_VXLAN_*); the port travels in network byte order.
export const IFLA_VXLAN_ID = 1;
export const IFLA_VXLAN_LINK = 3;
export const IFLA_VXLAN_LOCAL = 4;
export const IFLA_VXLAN_LEARNING = 7;
export const IFLA_VXLAN_PORT = 15;
export const IFLA_VXLAN_LOCAL6 = 17;

// Bridge port attributes (IFLA_PROTINFO with AF_BRIDGE, and IFLA_INFO_SLAVE_DATA of a port)
export const IFLA_BRPORT_STATE = 1;
export const IFLA_BRPORT_MODE = 4; // hairpin
export const IFLA_BRPORT_LEARNING = 8;
export const IFLA_BRPORT_ISOLATED = 33;

// IFF_* (ifinfomsg.ifi_flags)
export const IFF_UP = 1 << 0;
export const IFF_BROADCAST = 1 << 1;
export const IFF_LOOPBACK = 1 << 3;
export const IFF_POINTOPOINT = 1 << 4;
export const IFF_RUNNING = 1 << 6;
export const IFF_NOARP = 1 << 7;
export const IFF_PROMISC = 1 << 8;
export const IFF_ALLMULTI = 1 << 9;
export const IFF_MASTER = 1 << 10;
export const IFF_SLAVE = 1 << 11;
export const IFF_MULTICAST = 1 << 12;
export const IFF_LOWER_UP = 1 << 16;

// IFLA_OPERSTATE values (RFC 2863), indexed by value
export const OPER_STATES = ['unknown', 'notpresent', 'down', 'lowerlayerdown', 'testing', 'dormant', 'up'] as const;

// IFA_* (ifaddrmsg attributes)
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_LABEL = 3;
export const IFA_BROADCAST = 4;
export const IFA_CACHEINFO = 6;
export const IFA_FLAGS = 8;

// IFA_F_* (ifaddrmsg.ifa_flags; bits above 0xff only in IFA_FLAGS)
export const IFA_F_SECONDARY = 0x01;
export const IFA_F_NODAD = 0x02;
export const IFA_F_OPTIMISTIC = 0x04;
export const IFA_F_DADFAILED = 0x08;
export const IFA_F_DEPRECATED = 0x20;
export const IFA_F_TENTATIVE = 0x40;
export const IFA_F_PERMANENT = 0x80;
export const IFA_F_NOPREFIXROUTE = 0x200;

// RTA_* (rtmsg attributes)
export const RTA_DST = 1;
export const RTA_SRC = 2;
export const RTA_IIF = 3;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_METRICS = 8;
// Route metrics nested in RTA_METRICS (RTAX_*).
export const RTAX_MTU = 2;
export const RTAX_ADVMSS = 8;
export const RTA_MULTIPATH = 9;
export const RTA_TABLE = 15;
export const RTA_PREF = 20;

// Policy routing rules (linux/fib_rules.h). The fib_rule_hdr has rtmsg's size and layout; its
// bytes 5-7 are res1, res2 and action where rtmsg has protocol, scope and type.
export const FIB_RULE_HDR_LEN = 12;
export const FRA_DST = 1;
export const FRA_SRC = 2;
export const FRA_IIFNAME = 3;
export const FRA_GOTO = 4;
export const FRA_PRIORITY = 6;
export const FRA_FWMARK = 10;
export const FRA_TABLE = 15;
export const FRA_FWMASK = 16;
export const FRA_OIFNAME = 17;
export const FRA_PROTOCOL = 21;
// fib_rule_hdr.action
export const FR_ACT_TO_TBL = 1;
export const FR_ACT_GOTO = 2;
export const FR_ACT_NOP = 3;
export const FR_ACT_BLACKHOLE = 6;
export const FR_ACT_UNREACHABLE = 7;
export const FR_ACT_PROHIBIT = 8;

// rtmsg.rtm_flags
export const RTNH_F_ONLINK = 0x4;
export const RTM_F_CLONED = 0x200;

// rtmsg.rtm_scope
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_SITE = 200;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;
export const RT_SCOPE_NOWHERE = 255;

// rtmsg.rtm_table
export const RT_TABLE_UNSPEC = 0;
export const RT_TABLE_DEFAULT = 253;
export const RT_TABLE_MAIN = 254;
export const RT_TABLE_LOCAL = 255;

// rtmsg.rtm_type
export const RTN_UNSPEC = 0;
export const RTN_UNICAST = 1;
export const RTN_LOCAL = 2;
export const RTN_BROADCAST = 3;
export const RTN_ANYCAST = 4;
export const RTN_MULTICAST = 5;
export const RTN_BLACKHOLE = 6;
export const RTN_UNREACHABLE = 7;
export const RTN_PROHIBIT = 8;
export const RTN_THROW = 9;

// rtmsg.rtm_protocol
export const RTPROT_UNSPEC = 0;
export const RTPROT_REDIRECT = 1;
export const RTPROT_KERNEL = 2;
export const RTPROT_BOOT = 3;
export const RTPROT_STATIC = 4;
export const RTPROT_RA = 9;
export const RTPROT_DHCP = 16;

// Neighbours and forwarding database entries (linux/neighbour.h): ndmsg attributes, states, flags
export const NDA_DST = 1;
export const NDA_LLADDR = 2;
export const NDA_IFINDEX = 8;
export const NUD_INCOMPLETE = 0x01;
export const NUD_REACHABLE = 0x02;
export const NUD_STALE = 0x04;
export const NUD_NOARP = 0x40;
export const NUD_PERMANENT = 0x80;
export const NTF_SELF = 0x02;

// Traffic control (tcmsg attributes, handles)
export const TCA_KIND = 1;
export const TCA_OPTIONS = 2;
export const TCA_CHAIN = 11;
export const TC_H_ROOT = 0xffffffff;
export const TC_H_INGRESS = 0xfffffff1;
/** The ingress qdisc's handle, ffff: (it is always this). */
export const TC_H_INGRESS_HANDLE = 0xffff0000;

// Ethernet protocols (linux/if_ether.h), as tcm_info carries them for filters (network order there)
export const ETH_P_ALL = 0x0003;
export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;

// tc_ratespec.linklayer
export const TC_LINKLAYER_UNAWARE = 0;

// TBF (tc_tbf_qopt in TCA_TBF_PARMS)
export const TCA_TBF_PARMS = 1;
export const TCA_TBF_RATE64 = 4;
export const TCA_TBF_BURST = 6;
export const TC_TBF_QOPT_LEN = 36;
export const TC_RATESPEC_LEN = 12;

// HTB (tc_htb_glob in TCA_HTB_INIT for the qdisc, tc_htb_opt in TCA_HTB_PARMS for a class)
export const TCA_HTB_PARMS = 1;
export const TCA_HTB_INIT = 2;
export const TCA_HTB_DIRECT_QLEN = 5;
export const TCA_HTB_RATE64 = 6;
export const TCA_HTB_CEIL64 = 7;
export const TC_HTB_GLOB_LEN = 20;
export const TC_HTB_OPT_LEN = 44;
/** The HTB protocol version the kernel expects in tc_htb_glob (HTB_VER >> 16). */
export const TC_HTB_PROTOVER = 3;

// u32 classifier
export const TCA_U32_CLASSID = 1;
export const TCA_U32_SEL = 5;
export const TCA_U32_ACT = 7;
export const TC_U32_TERMINAL = 1;
export const TC_U32_SEL_LEN = 16;
export const TC_U32_KEY_LEN = 16;

// Actions (TCA_ACT_* inside a classifier's action list)
export const TCA_ACT_KIND = 1;
export const TCA_ACT_OPTIONS = 2;
export const TC_ACT_OK = 0;
export const TC_ACT_PIPE = 3;
export const TC_ACT_STOLEN = 4;

// mirred (tc_mirred in TCA_MIRRED_PARMS)
export const TCA_MIRRED_PARMS = 2;
export const TC_MIRRED_LEN = 28;
export const TCA_EGRESS_REDIR = 1;
export const TCA_EGRESS_MIRROR = 2;
export const TCA_INGRESS_REDIR = 3;
export const TCA_INGRESS_MIRROR = 4;
