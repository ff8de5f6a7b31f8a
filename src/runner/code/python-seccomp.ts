/**
 * The seccomp filter of a Python step's sandbox, as the classic BPF program bubblewrap loads
 * with `--seccomp <fd>` just before it executes the interpreter (so the interpreter itself
 * starts under it). Deny-list with EPERM: no sockets (the only way out is the JSON-lines pipe
 * to the worker), no new processes or threads (clone, fork, vfork, clone3), no program loaded
 * from memory (memfd_create, execveat), no namespaces, mounts, ptrace, BPF, io_uring (its
 * operations bypass seccomp), kernel keyrings or modules. A syscall of another ABI (x32 on
 * x86-64) or another architecture kills the process.
 *
 * `execve` stays allowed because the filter is in force before bubblewrap's own execve of the
 * interpreter; inside the sandbox it can only start the interpreter again (the read-only root
 * holds nothing else executable, and there is nowhere writable to put a program), with the
 * same filter, namespaces and rlimits.
 */

/** Syscalls a step never needs, by name; numbers per architecture below. */
const DENIED = [
  'socket',
  'socketpair',
  'connect',
  'bind',
  'listen',
  'accept',
  'accept4',
  'sendto',
  'recvfrom',
  'sendmsg',
  'recvmsg',
  'sendmmsg',
  'recvmmsg',
  'getsockopt',
  'setsockopt',
  'shutdown',
  'clone',
  'clone3',
  'fork',
  'vfork',
  'execveat',
  'memfd_create',
  'ptrace',
  'process_vm_readv',
  'process_vm_writev',
  'kcmp',
  'pidfd_open',
  'pidfd_getfd',
  'unshare',
  'setns',
  'mount',
  'umount2',
  'pivot_root',
  'chroot',
  'open_tree',
  'move_mount',
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'open_by_handle_at',
  'name_to_handle_at',
  'bpf',
  'perf_event_open',
  'userfaultfd',
  'io_uring_setup',
  'io_uring_enter',
  'io_uring_register',
  'keyctl',
  'add_key',
  'request_key',
  'init_module',
  'finit_module',
  'delete_module',
  'kexec_load',
  'kexec_file_load',
  'syslog',
  'acct',
  'personality',
  'quotactl',
  'swapon',
  'swapoff',
  'reboot',
] as const;
type Syscall = (typeof DENIED)[number];

/** x86-64 numbers (arch/x86/entry/syscalls/syscall_64.tbl). */
const X86_64: Record<Syscall, number> = {
  socket: 41,
  connect: 42,
  accept: 43,
  sendto: 44,
  recvfrom: 45,
  sendmsg: 46,
  recvmsg: 47,
  shutdown: 48,
  bind: 49,
  listen: 50,
  socketpair: 53,
  setsockopt: 54,
  getsockopt: 55,
  clone: 56,
  fork: 57,
  vfork: 58,
  ptrace: 101,
  syslog: 103,
  personality: 135,
  pivot_root: 155,
  chroot: 161,
  acct: 163,
  mount: 165,
  umount2: 166,
  swapon: 167,
  swapoff: 168,
  reboot: 169,
  init_module: 175,
  delete_module: 176,
  quotactl: 179,
  kexec_load: 246,
  add_key: 248,
  request_key: 249,
  keyctl: 250,
  unshare: 272,
  accept4: 288,
  perf_event_open: 298,
  recvmmsg: 299,
  name_to_handle_at: 303,
  open_by_handle_at: 304,
  sendmmsg: 307,
  setns: 308,
  process_vm_readv: 310,
  process_vm_writev: 311,
  kcmp: 312,
  finit_module: 313,
  memfd_create: 319,
  kexec_file_load: 320,
  bpf: 321,
  execveat: 322,
  userfaultfd: 323,
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  pidfd_open: 434,
  clone3: 435,
  pidfd_getfd: 438,
};

/**
 * aarch64 numbers (the generic table, include/uapi/asm-generic/unistd.h). It has no fork or
 * vfork (glibc uses clone); -1 entries are skipped. Not exercised by CI (x86-64 only); the
 * start-time self-check still proves sockets and forks are refused before any step runs.
 */
const AARCH64: Record<Syscall, number> = {
  socket: 198,
  socketpair: 199,
  bind: 200,
  listen: 201,
  accept: 202,
  connect: 203,
  sendto: 206,
  recvfrom: 207,
  setsockopt: 208,
  getsockopt: 209,
  shutdown: 210,
  sendmsg: 211,
  recvmsg: 212,
  clone: 220,
  fork: -1,
  vfork: -1,
  ptrace: 117,
  syslog: 116,
  personality: 92,
  pivot_root: 41,
  chroot: 51,
  acct: 89,
  mount: 40,
  umount2: 39,
  swapon: 224,
  swapoff: 225,
  reboot: 142,
  init_module: 105,
  delete_module: 106,
  quotactl: 60,
  kexec_load: 104,
  add_key: 217,
  request_key: 218,
  keyctl: 219,
  unshare: 97,
  accept4: 242,
  perf_event_open: 241,
  recvmmsg: 243,
  name_to_handle_at: 264,
  open_by_handle_at: 265,
  sendmmsg: 269,
  setns: 268,
  process_vm_readv: 270,
  process_vm_writev: 271,
  kcmp: 272,
  finit_module: 273,
  memfd_create: 279,
  kexec_file_load: 294,
  bpf: 280,
  execveat: 281,
  userfaultfd: 282,
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  pidfd_open: 434,
  clone3: 435,
  pidfd_getfd: 438,
};

const ARCHES: Record<string, { audit: number; table: Record<Syscall, number>; x32: boolean }> = {
  x64: { audit: 0xc000003e, table: X86_64, x32: true },
  arm64: { audit: 0xc00000b7, table: AARCH64, x32: false },
};

// Classic BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const RET_K = 0x06;
const RET_KILL_PROCESS = 0x80000000;
const RET_ERRNO_EPERM = 0x00050000 | 1;
const RET_ALLOW = 0x7fff0000;
/** Offsets in struct seccomp_data. */
const NR_OFFSET = 0;
const ARCH_OFFSET = 4;
const X32_SYSCALL_BIT = 0x40000000;

type Insn = [code: number, jt: number, jf: number, k: number];

/** The filter for this process's architecture, or null when there is no table for it. */
export function seccompFilter(arch: string = process.arch): Buffer | null {
  const a = ARCHES[arch];
  if (!a) return null;
  const numbers = DENIED.map((n) => a.table[n]).filter((n) => n >= 0);
  const prog: Insn[] = [
    [LD_W_ABS, 0, 0, ARCH_OFFSET],
    [JEQ_K, 1, 0, a.audit],
    [RET_K, 0, 0, RET_KILL_PROCESS],
    [LD_W_ABS, 0, 0, NR_OFFSET],
  ];
  if (a.x32) prog.push([JGE_K, 0, 1, X32_SYSCALL_BIT], [RET_K, 0, 0, RET_KILL_PROCESS]);
  // Each check jumps over the rest of the checks and the ALLOW to the EPERM at the end.
  numbers.forEach((nr, i) => prog.push([JEQ_K, numbers.length - i, 0, nr]));
  prog.push([RET_K, 0, 0, RET_ALLOW], [RET_K, 0, 0, RET_ERRNO_EPERM]);
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach(([code, jt, jf, k], i) => {
    buf.writeUInt16LE(code, i * 8);
    buf.writeUInt8(jt, i * 8 + 2);
    buf.writeUInt8(jf, i * 8 + 3);
    buf.writeUInt32LE(k, i * 8 + 4);
  });
  return buf;
}
