#!/usr/bin/python3
"""A throw-away guest for tests that need a real kernel: Debian's cloud kernel booted by QEMU
(software emulation, -accel tcg: no KVM needed) from a busybox initramfs built here.

The test machines' own kernel has no iso9660 or vfat driver, so anything that must be mounted
(a config drive, a NoCloud seed) is proven in such a guest instead.

    guest = Guest.find()                       # None when kernel, modules or QEMU are missing
    initrd = guest.build_initramfs(dir, init_script, modules=["isofs", "sr_mod", "ata_piix"])
    result = guest.boot(initrd, drives=[["-drive", "file=x.iso,media=cdrom,if=ide"]])
    result.between("=====BEGIN=====", "=====END=====")

A guest on a network: its NIC is a virtio-net device on a tap interface that already exists in
a network namespace (`ip tuntap add TAP mode tap`, e.g. on a bridge there); QEMU runs inside
that namespace (`ip netns exec`) and opens the tap by name. Several may run at once:

    initrd = guest.build_initramfs(dir, network_init(base_url, paths), NETWORK_MODULES)
    running = guest.start(initrd, nics=[Nic(tap, mac)], netns=ns, append=network_append(...))
    result = running.wait(timeout=60)   # or kill() it

Packages: qemu-system-x86, linux-image-cloud-amd64, busybox-static (scripts/setup.sh).
Modules are resolved through modules.dep, so a module built into a future kernel, or one that
grows a dependency, needs no change here.
"""
import glob
import gzip
import lzma
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from typing import List, NamedTuple, Optional

BUSYBOX = "/bin/busybox"  # busybox-static: runs with no libraries in the initramfs
QEMU = "qemu-system-x86_64"
DEFAULT_APPEND = "console=ttyS0 panic=-1 quiet"
# How every init script here begins: busybox's applets, /proc, /sys, /dev, the modules loaded.
INIT_PROLOGUE = """#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do insmod /lib/modules/$m || echo "insmod $m failed"; done
"""


class BootResult(NamedTuple):
    output: str     # the serial console, as text
    seconds: float  # wall time from starting QEMU to its exit
    returncode: int

    def between(self, begin: str, end: str) -> Optional[str]:
        """The console text between two marker lines, without the markers' line breaks."""
        text = self.output.replace("\r\n", "\n")
        start = text.find(begin + "\n")
        if start < 0:
            return None
        start += len(begin) + 1
        stop = text.find("\n" + end, start)
        return None if stop < 0 else text[start:stop]


def _cpio_newc(entries) -> bytes:
    """An uncompressed 'newc' cpio archive (what the kernel unpacks as an initramfs) of
    (name, mode, data-or-None-for-directories, symlink-target-or-None) entries."""
    out = bytearray()
    for ino, (name, mode, data, link) in enumerate(entries + [("TRAILER!!!", 0, b"", None)], 1):
        body = link.encode() if link is not None else (data or b"")
        nlink = 2 if data is None and link is None and name != "TRAILER!!!" else 1
        fields = [ino, mode, 0, 0, nlink, 0, len(body), 0, 0, 0, 0, len(name) + 1, 0]
        out += b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0"
        out += b"\0" * (-len(out) % 4)
        out += body
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


def _binary_entries(binaries, present):
    """cpio entries for each binary as bin/<name> and its shared libraries (ldd's list), with
    the directories they need that are not in `present`."""
    entries, files = [], {}
    for binary in binaries:
        files["bin/" + os.path.basename(binary)] = binary
        ldd = subprocess.run(["ldd", binary], capture_output=True, text=True)
        for line in ldd.stdout.splitlines():  # "libx.so => /lib/.../libx.so (0x...)" or "/lib64/ld..."
            path = next((w for w in line.split() if w.startswith("/")), None)
            if path and os.path.exists(path):
                files[path.lstrip("/")] = os.path.realpath(path)
    dirs = set()
    for name in files:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    for d in sorted(dirs - set(present)):
        entries.append((d, 0o40755, None, None))
    for name, source in sorted(files.items()):
        with open(source, "rb") as f:
            entries.append((name, 0o100755, f.read(), None))
    return entries


class Guest:
    def __init__(self, kernel: str, moddir: str):
        self.kernel = kernel
        self.moddir = moddir

    @classmethod
    def find(cls) -> Optional["Guest"]:
        """Debian's newest cloud kernel and its modules, if those and QEMU are installed."""
        kernels = sorted(glob.glob("/boot/vmlinuz-*-cloud-amd64"))
        if not kernels or not shutil.which(QEMU) or not os.access(BUSYBOX, os.X_OK):
            return None
        version = os.path.basename(kernels[-1])[len("vmlinuz-"):]
        moddir = os.path.join("/lib/modules", version)
        if not os.path.isfile(os.path.join(moddir, "modules.dep")):
            return None
        return cls(kernels[-1], moddir)

    @staticmethod
    def missing_reason() -> str:
        return ("needs %s, /boot/vmlinuz-*-cloud-amd64 with its /lib/modules and %s "
                "(packages qemu-system-x86, linux-image-cloud-amd64, busybox-static)"
                % (QEMU, BUSYBOX))

    def module_files(self, names: List[str]) -> List[str]:
        """The .ko files (relative to moddir) for `names` and their dependencies, each after
        what it needs. A name that is built into the kernel yields nothing."""
        deps = {}
        with open(os.path.join(self.moddir, "modules.dep")) as f:
            for line in f:
                path, _, rest = line.partition(":")
                deps[path] = rest.split()
        by_name = {}
        for path in deps:
            base = re.sub(r"\.ko(\.\w+)?$", "", os.path.basename(path))
            by_name[base.replace("-", "_")] = path
        builtin = set()
        builtin_list = os.path.join(self.moddir, "modules.builtin")
        if os.path.exists(builtin_list):
            with open(builtin_list) as f:
                builtin = {re.sub(r"\.ko$", "", os.path.basename(l.strip())).replace("-", "_")
                           for l in f}
        order: List[str] = []

        def visit(path):
            if path in order:
                return
            for dep in reversed(deps.get(path, [])):  # modules.dep lists the deepest last
                visit(dep)
            order.append(path)

        for name in names:
            key = name.replace("-", "_")
            if key in by_name:
                visit(by_name[key])
            elif key not in builtin:
                raise LookupError("module %s is neither in %s nor built in" % (name, self.moddir))
        return order

    def _module_bytes(self, rel: str) -> bytes:
        with open(os.path.join(self.moddir, rel), "rb") as f:
            data = f.read()
        if rel.endswith(".xz"):
            return lzma.decompress(data)
        if rel.endswith(".gz"):
            return gzip.decompress(data)
        if rel.endswith(".zst"):
            return subprocess.run(["zstd", "-dc"], input=data, capture_output=True,
                                  check=True).stdout
        return data

    def build_initramfs(self, directory: str, init_script: str, modules: List[str],
                        binaries: List[str] = ()) -> str:
        """Writes initramfs.cpio.gz into `directory`: busybox, the modules (and their
        dependencies) as /lib/modules/NN-name.ko in load order, /modules.order, `init_script`
        as /init, and each of `binaries` as /bin/<its name> with the shared libraries it loads
        (none for a static one) at the paths ldd names. Returns its path."""
        files = self.module_files(modules)
        with open(BUSYBOX, "rb") as f:
            busybox = f.read()
        entries = [(d, 0o40755, None, None) for d in
                   ("bin", "dev", "proc", "sys", "mnt", "tmp", "lib", "lib/modules")]
        entries.append(("bin/busybox", 0o100755, busybox, None))
        entries.append(("bin/sh", 0o120777, None, "busybox"))
        names = []
        for i, rel in enumerate(files):
            name = "%02d-%s" % (i, re.sub(r"\.(xz|gz|zst)$", "", os.path.basename(rel)))
            names.append(name)
            entries.append(("lib/modules/" + name, 0o100644, self._module_bytes(rel), None))
        entries.append(("modules.order", 0o100644, "".join(n + "\n" for n in names).encode(),
                        None))
        entries.append(("init", 0o100755, init_script.encode(), None))
        entries += _binary_entries(binaries, {e[0] for e in entries})
        path = os.path.join(directory, "initramfs.cpio.gz")
        with open(path, "wb") as f:
            f.write(gzip.compress(_cpio_newc(entries), compresslevel=1, mtime=0))
        return path

    def boot(self, initrd: str, drives: List[List[str]], timeout: float = 90,
             append: str = DEFAULT_APPEND, memory_mib: int = 256) -> BootResult:
        """Boots to completion (the init script powers off) or kills QEMU after `timeout`
        seconds, which raises subprocess.TimeoutExpired with whatever was printed."""
        return self.start(initrd, drives=drives, append=append,
                          memory_mib=memory_mib).wait(timeout)

    def start(self, initrd: str, drives: List[List[str]] = (), nics: List["Nic"] = (),
              netns: Optional[str] = None, append: str = DEFAULT_APPEND,
              memory_mib: int = 256) -> "RunningGuest":
        """Starts QEMU and returns at once. Each of `nics` is a virtio-net device on an existing
        tap interface (no QEMU scripts run); with `netns`, QEMU runs inside that namespace, where
        the taps are. Without nics the guest has no network."""
        cmd = [QEMU, "-accel", "tcg", "-m", str(memory_mib), "-nographic", "-no-reboot",
               "-kernel", self.kernel, "-initrd", initrd, "-append", append]
        if not nics:
            cmd += ["-nic", "none"]
        for i, nic in enumerate(nics):
            cmd += ["-netdev", "tap,id=net%d,ifname=%s,script=no,downscript=no" % (i, nic.tap),
                    "-device", "virtio-net-pci,netdev=net%d,mac=%s,romfile=" % (i, nic.mac)]
        for d in drives:
            cmd += d
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        return RunningGuest(cmd)


class Nic(NamedTuple):
    tap: str  # an existing tap interface (in the namespace QEMU runs in)
    mac: str  # the guest's MAC address, e.g. the port's in the store


class RunningGuest:
    """One QEMU process started by Guest.start; its serial console (and QEMU's own messages) go
    to an unnamed temporary file. wait() returns the BootResult once the guest has powered off
    (its seconds are QEMU's own run time, however late wait() is called); kill() ends it
    (idempotent). Not thread-safe."""

    def __init__(self, cmd: List[str]):
        self.cmd = cmd
        self._out = tempfile.TemporaryFile()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT)
        self._ended = None
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        self.proc.wait()
        self._ended = time.monotonic()

    def output(self) -> str:
        """What was printed so far."""
        self._out.seek(0)
        return self._out.read().decode("utf-8", "replace")

    def wait(self, timeout: float) -> BootResult:
        """Waits for QEMU's exit; after `timeout` seconds (counted from the start) kills it and
        raises subprocess.TimeoutExpired carrying what was printed."""
        try:
            self.proc.wait(max(0.0, self.started + timeout - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            raise subprocess.TimeoutExpired(self.cmd, timeout, output=self.output())
        self._watcher.join()
        return BootResult(self.output(), self._ended - self.started, self.proc.returncode)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def mount_and_print_init(label: str, fstype: str, files: List[str]) -> str:
    """An /init that loads every module, finds the volume labelled `label` with busybox findfs
    (its own label prober, as a guest's udev/blkid would), mounts it read-only as `fstype`,
    prints the kernel's list of files between '=====BEGIN LISTING=====' and
    '=====END LISTING=====', each of `files` between '=====BEGIN path=====' and
    '=====END path=====' lines, then powers off. Devices appear asynchronously: findfs is
    retried for up to 10 s."""
    prints = "".join(
        'echo "=====BEGIN %s====="; cat "/mnt/%s"; echo; echo "=====END %s====="\n'
        % (f, f, f) for f in files)
    return INIT_PROLOGUE + """dev=""
i=0
while [ -z "$dev" ] && [ $i -lt 100 ]; do
  dev=$(findfs LABEL=%(label)s 2>/dev/null) || sleep 0.1
  i=$((i+1))
done
echo "=====DEVICE $dev====="
if [ -n "$dev" ] && mount -o ro -t %(fstype)s "$dev" /mnt; then
  echo "=====MOUNTED====="
  echo "=====BEGIN LISTING====="
  cd /mnt && find . -type f | sort && cd /
  echo "=====END LISTING====="
%(prints)s  umount /mnt
else
  echo "=====MOUNT FAILED====="
fi
poweroff -f
""" % {"label": label, "fstype": fstype, "prints": prints}


# The NIC and what it needs: modules.dep adds virtio, virtio_ring, net_failover and failover.
NETWORK_MODULES = ["virtio_pci", "virtio_net"]

# busybox udhcpc's hook (its contract: the event is $1; $interface, $ip, $mask, $router and, when
# option 121 was asked for with -O staticroutes, $staticroutes as "dest/len gw dest/len gw ...").
# Applies the lease as a guest's network scripts do: with option 121 present its routes are
# installed and option 3 is ignored (RFC 3442). The bound address is written to /tmp/lease.
_UDHCPC_SCRIPT = r'''#!/bin/sh
case "$1" in
  deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr replace "$ip/$mask" dev "$interface"
    echo "$ip/$mask" > /tmp/lease
    if [ -n "$staticroutes" ]; then
      set -- $staticroutes
      while [ $# -ge 2 ]; do ip route replace "$1" via "$2" dev "$interface"; shift 2; done
    elif [ -n "$router" ]; then
      ip route replace default via "${router%% *}" dev "$interface"
    fi
    ;;
esac
exit 0
'''


def network_append(address: Optional[str] = None, gateway: Optional[str] = None) -> str:
    """The kernel command line for network_init: a static `address` (CIDR) and default route via
    `gateway`, or (no address) DHCP."""
    extra = ""
    if address:
        extra += " guest.address=" + address
    if gateway:
        extra += " guest.gateway=" + gateway
    return DEFAULT_APPEND + extra


def network_init(base_url: str, paths: List[str], then: str = "") -> str:
    """An /init for a guest with one NIC (NETWORK_MODULES): loads every module, waits up to 10 s
    for eth0, then configures it from the kernel command line (network_append): the static
    guest.address and a default route via guest.gateway, or else a DHCP lease with busybox
    udhcpc (asking for option 121) printed between '=====BEGIN lease=====' and
    '=====END lease====='. Prints its IPv4 routes between '=====BEGIN routes=====' and
    '=====END routes=====', then GETs each of `paths` under `base_url` with busybox wget, printing
    the body between '=====BEGIN path=====' and '=====END path=====' and wget's exit status as
    '=====WGET path STATUS====='; then powers off. Each GET is bounded by busybox timeout (15 s):
    Debian 12's static busybox wget crashes (SIGSEGV) when given its own -T. `then`: more shell
    to run before powering off."""
    fetches = "".join(
        'echo "=====BEGIN %(p)s====="; timeout 15 wget -q -O - "%(u)s%(p)s"; rc=$?; echo\n'
        'echo "=====END %(p)s====="; echo "=====WGET %(p)s $rc====="\n'
        % {"p": p, "u": base_url} for p in paths)
    return INIT_PROLOGUE + """dmesg -n 1
ip link set lo up
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
ip link set eth0 up
address=""
gateway=""
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    guest.address=*) address="${arg#guest.address=}" ;;
    guest.gateway=*) gateway="${arg#guest.gateway=}" ;;
  esac
done
if [ -n "$address" ]; then
  ip addr add "$address" dev eth0
  if [ -n "$gateway" ]; then ip route add default via "$gateway" dev eth0; fi
else
  cat > /udhcpc.script <<'UDHCPC'
%(udhcpc)sUDHCPC
  chmod 755 /udhcpc.script
  udhcpc -i eth0 -O staticroutes -f -q -n -t 10 -T 1 -s /udhcpc.script
  echo "=====BEGIN lease====="; cat /tmp/lease; echo "=====END lease====="
fi
echo "=====BEGIN routes====="; ip -4 route; echo "=====END routes====="
%(fetches)s%(then)s
poweroff -f
""" % {"udhcpc": _UDHCPC_SCRIPT, "fetches": fetches, "then": then}


def guest_apply(args: str) -> str:
    """Shell for an /init: runs metastack-guest (in the initramfs as /bin/metastack-guest, see
    build_initramfs's binaries) with `args` into /tmp/root, a tree with root's passwd entry,
    /etc/systemd and /etc/network; prints its output between '=====BEGIN guest=====' and
    '=====END guest=====', its exit status as '=====GUEST STATUS n=====', then each file it
    wrote (find, sorted) between '=====BEGIN file PATH=====' and '=====END file PATH====='."""
    return r'''mkdir -p /tmp/root/etc/systemd /tmp/root/etc/network /tmp/root/root
echo 'root:x:0:0:root:/root:/bin/sh' > /tmp/root/etc/passwd
echo "=====BEGIN guest====="
/bin/metastack-guest %s --root /tmp/root 2>&1
rc=$?
echo "=====END guest====="
echo "=====GUEST STATUS $rc====="
cd /tmp/root
for f in $(find . -type f | sort); do
  echo "=====BEGIN file ${f#.}====="; cat "$f"; echo; echo "=====END file ${f#.}====="
done
cd /
''' % args
