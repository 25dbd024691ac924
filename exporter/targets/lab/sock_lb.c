// SPDX-License-Identifier: GPL-2.0
// netbench lab: a socket load balancer in the style of Cilium's socket-LB.
//
// cgroup/connect4 rewrites a connect() to a Service VIP:port into one of its backends, picked at
// random, before any packet exists: no per-packet NAT, and an O(1) hash lookup whatever the
// number of Services. cgroup/getpeername4 restores the VIP so clients see what they dialled.
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

struct svc_key {
	__u32 addr;   // VIP, network byte order
	__u16 port;   // network byte order
	__u8 proto;
	__u8 pad;
};

struct svc_val {
	__u32 count;        // backends of this Service
	__u32 backend_base; // their ids are backend_base .. backend_base + count - 1
};

struct backend {
	__u32 addr;
	__u16 port;
	__u16 pad;
};

struct rev_key {
	__u64 cookie;
	__u32 addr;
	__u16 port;
	__u16 pad;
};

struct rev_val {
	__u32 addr;
	__u16 port;
	__u16 pad;
};

// Hash maps without preallocation: memory follows the Services actually installed.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 20);
	__type(key, struct svc_key);
	__type(value, struct svc_val);
} nb_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 22);
	__type(key, __u32);
	__type(value, struct backend);
} nb_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 16);
	__type(key, struct rev_key);
	__type(value, struct rev_val);
} nb_revnat SEC(".maps");

SEC("cgroup/connect4")
int nb_connect4(struct bpf_sock_addr *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 1;
	struct svc_key key = {
		.addr = ctx->user_ip4,
		.port = (__u16)ctx->user_port,
		.proto = IPPROTO_TCP,
	};
	struct svc_val *svc = bpf_map_lookup_elem(&nb_services, &key);
	if (!svc || svc->count == 0)
		return 1;
	__u32 id = svc->backend_base + bpf_get_prandom_u32() % svc->count;
	struct backend *be = bpf_map_lookup_elem(&nb_backends, &id);
	if (!be)
		return 1;
	struct rev_key rk = {
		.cookie = bpf_get_socket_cookie(ctx),
		.addr = be->addr,
		.port = be->port,
	};
	struct rev_val rv = { .addr = key.addr, .port = key.port };
	bpf_map_update_elem(&nb_revnat, &rk, &rv, BPF_ANY);
	ctx->user_ip4 = be->addr;
	ctx->user_port = be->port;
	return 1;
}

SEC("cgroup/getpeername4")
int nb_getpeername4(struct bpf_sock_addr *ctx)
{
	struct rev_key rk = {
		.cookie = bpf_get_socket_cookie(ctx),
		.addr = ctx->user_ip4,
		.port = (__u16)ctx->user_port,
	};
	struct rev_val *rv = bpf_map_lookup_elem(&nb_revnat, &rk);
	if (rv) {
		ctx->user_ip4 = rv->addr;
		ctx->user_port = rv->port;
	}
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
