#!/usr/bin/env bash
# Checks yocto/meta-edgecam as far as possible without a Yocto build tree.
#
#   tests/ship/check_yocto.sh        (installs what it needs on first run: python3-venv
#                                     and shellcheck from Debian, oelint-adv and
#                                     bitbake-setup from PyPI into a cached venv)
#   EDGECAM_YOCTO_FETCH=1 ...        also download one crate through BitBake's crate
#                                     fetcher and let it verify the sha256
#   EDGECAM_YOCTO_CACHE=DIR          venv location (default ~/.cache/edgecam-yocto)
#
# What it checks:
#   1. edgecam-crates.inc matches Cargo.lock (yocto/gen-crates-inc.sh --check).
#   2. oelint-adv (pinned) over every recipe and bbappend, for scarthgap, styhead and
#      walnascar, --mode all: no errors or warnings. Suppressions: inline ones carry
#      their reason in the recipe; on the command line only oelint.vars.homepageping
#      (it pings HOMEPAGE over the network). BSP overrides (rpi, tegra, rk3588, ...)
#      and the recipe's own variables are declared known to the linter.
#   3. BitBake's own parser (the bb package of PyPI's bitbake-setup, pinned) parses
#      layer.conf and every recipe against a small stand-in for openembedded-core
#      (the classes are stubs, so this is not a build): BBFILES, LAYERSERIES_COMPAT,
#      SRC_URI and every crate checksum as the real crate fetcher resolves it,
#      DEPENDS per machine, PACKAGECONFIG, do_install run into a scratch directory,
#      packagegroup/image contents, and that the kernel bbappend changes nothing
#      unless DISTRO_FEATURES has "edgecam".
#   4. boards/*.toml follow the schema in boards/README.md.
#   5. kernel config fragments are well-formed; shellcheck of gen-crates-inc.sh.
#
# Not checked here (no oe-core, no toolchain, no network beyond package registries):
# a real bitbake build, QA checks, the kernel fragment audit. See yocto/README.md.
#
# Last line: "check_yocto: N passed, M failed".
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
layer=$repo/yocto/meta-edgecam
cache=${EDGECAM_YOCTO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgecam-yocto}
OELINT_VERSION=9.11.2
BITBAKE_SETUP_VERSION=2.19.0

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_install() {
    if [ $apt_updated -eq 0 ]; then
        as_root apt-get update -qq >/dev/null 2>&1 || true
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

command -v python3 >/dev/null || apt_install python3
command -v shellcheck >/dev/null || apt_install shellcheck
venv=$cache/venv-oelint$OELINT_VERSION-bb$BITBAKE_SETUP_VERSION
if [ ! -x "$venv/bin/oelint-adv" ] || [ ! -d "$venv/lib" ]; then
    python3 -m venv "$venv" >/dev/null 2>&1 || { apt_install python3-venv && rm -rf "$venv" && python3 -m venv "$venv"; } \
        || { echo "cannot create a python venv" >&2; exit 1; }
    "$venv/bin/pip" install -q --disable-pip-version-check \
        "oelint-adv==$OELINT_VERSION" "bitbake-setup==$BITBAKE_SETUP_VERSION" >/dev/null \
        || { echo "pip install oelint-adv bitbake-setup failed" >&2; exit 1; }
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- 1. crates include vs Cargo.lock ----
if out=$("$repo/yocto/gen-crates-inc.sh" --check 2>&1); then
    pass "edgecam-crates.inc matches Cargo.lock ($(grep -c '^SRC_URI\[' "$layer/recipes-multimedia/edgecam/edgecam-crates.inc") crates)"
else
    fail "edgecam-crates.inc is stale:"; printf '%s\n' "$out" | head -8 | sed 's/^/     /'
fi

# ---- 2. oelint-adv ----
cat > "$work/oelint-constants.json" <<'JSON'
{
  "replacements": {"machines": ["rpi", "tegra", "tegra234", "rockchip", "rk3588", "rk3588s"]},
  "variables": {"known": ["EDGECAM_BINS", "EDGECAM_BOARD", "EDGECAM_DEFAULT_PACKAGECONFIG", "EDGECAM_GIT_URI",
                          "EDGECAM_KERNEL_TEST_DRIVERS", "LIBCLANG_PATH", "BINDGEN_EXTRA_CLANG_ARGS",
                          "V4L2R_VIDEODEV2_H_PATH", "CARGO_PROFILE_RELEASE_STRIP"]}
}
JSON
mapfile -t recipes < <(cd "$layer" && find . \( -name '*.bb' -o -name '*.bbappend' \) | sort)
lint_bad=0
infos=0
for rel in scarthgap styhead walnascar; do
    out=$(cd "$layer" && "$venv/bin/oelint-adv" --quiet --relpaths --mode all --release "$rel" --jobs 1 \
              --constantmods "+$work/oelint-constants.json" --suppress oelint.vars.homepageping \
              "${recipes[@]}" 2>&1)
    serious=$(printf '%s\n' "$out" | grep -E ':(error|warning):' || true)
    infos=$(printf '%s\n' "$out" | grep -c ':info:' || true)
    if [ -n "$serious" ]; then
        lint_bad=1
        fail "oelint-adv $OELINT_VERSION --release $rel:"; printf '%s\n' "$serious" | sed 's/^/     /'
    fi
done
[ $lint_bad -eq 0 ] && pass "oelint-adv $OELINT_VERSION (--mode all; scarthgap, styhead, walnascar): 0 errors, 0 warnings, $infos info over ${#recipes[@]} files"

# ---- 3. BitBake parse ----
cat > "$work/bbparse.py" <<'PY'
"""Parse meta-edgecam with BitBake's own parser (bb from PyPI's bitbake-setup)
against a tiny stand-in for openembedded-core, and check what the recipes
evaluate to. Usage: python bbparse.py REPO WORKDIR"""
import glob, os, re, shutil, subprocess, sys, tomllib

repo, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
layer = os.path.join(repo, "yocto", "meta-edgecam")
fetch_one = os.environ.get("EDGECAM_YOCTO_FETCH") == "1"

# hashserv is not in the wheel; bb.siggen only imports it.
stub = os.path.join(work, "pystub", "hashserv")
os.makedirs(stub, exist_ok=True)
for f in ("__init__.py", "client.py"):
    open(os.path.join(stub, f), "w").close()
sys.path.insert(0, os.path.join(work, "pystub"))

import bb, bb.data, bb.parse, bb.fetch2, bb.utils  # noqa: E402
import bb.msg, logging  # noqa: E402
logging.getLogger("BitBake").setLevel(logging.ERROR)

failures = []
def check(cond, what):
    if not cond:
        failures.append(what)
    return cond

# --- a tiny "core" layer: just the variables and classes the recipes touch ---
core = os.path.join(work, "core")
classes = os.path.join(core, "classes")
os.makedirs(os.path.join(core, "conf"), exist_ok=True)
os.makedirs(classes, exist_ok=True)
os.makedirs(os.path.join(core, "recipes-core", "images"), exist_ok=True)
os.makedirs(os.path.join(core, "recipes-kernel", "linux"), exist_ok=True)

open(os.path.join(core, "conf", "bitbake.conf"), "w").write(r'''
TMPDIR = "@WORK@/tmp"
PN = "${@bb.parse.vars_from_file(d.getVar('FILE', False),d)[0] or 'defaultpkgname'}"
PV = "${@bb.parse.vars_from_file(d.getVar('FILE', False),d)[1] or '1.0'}"
PR = "r0"
BPN = "${PN}"
BP = "${BPN}-${PV}"
P = "${PN}-${PV}"
WORKDIR = "${TMPDIR}/work/${PN}"
UNPACKDIR = "${WORKDIR}/sources"
S = "${WORKDIR}/${BP}"
B = "${S}"
D = "${WORKDIR}/image"
T = "${WORKDIR}/temp"
DL_DIR = "@WORK@/downloads"
FILESPATH = "${@':'.join([os.path.join(p, d.getVar('BPN')) for p in (d.getVar('FILESEXTRAPATHS') or '').split(':') if p] + [os.path.join(os.path.dirname(d.getVar('FILE')), x) for x in (d.getVar('BPN'), 'files')])}"
FILESEXTRAPATHS ?= ""
prefix = "/usr"
exec_prefix = "/usr"
base_prefix = ""
bindir = "/usr/bin"
sbindir = "/usr/sbin"
base_sbindir = "/sbin"
libdir = "/usr/lib"
nonarch_libdir = "/usr/lib"
nonarch_base_libdir = "/lib"
datadir = "/usr/share"
docdir = "/usr/share/doc"
sysconfdir = "/etc"
localstatedir = "/var"
systemd_system_unitdir = "/lib/systemd/system"
STAGING_DIR_HOST = "${WORKDIR}/recipe-sysroot"
STAGING_DIR_TARGET = "${WORKDIR}/recipe-sysroot"
STAGING_INCDIR = "${STAGING_DIR_HOST}/usr/include"
STAGING_LIBDIR_NATIVE = "${WORKDIR}/recipe-sysroot-native/usr/lib"
COREBASE = "@CORE@"
COMMON_LICENSE_DIR = "${COREBASE}/licenses"
TUNE_CCARGS = "-march=x86-64"
DISTRO_FEATURES ?= "systemd usrmerge"
MACHINEOVERRIDES ?= "qemux86-64"
OVERRIDES = "linux:x86-64:pn-${PN}:${MACHINEOVERRIDES}:class-target:forcevariable"
BBFILE_COLLECTIONS ?= "core"
PACKAGES = "${PN}-dbg ${PN} ${PN}-doc"
AUTOREV = "${@bb.fetch2.get_autorev(d)}"
SRCPV = ""
BB_NUMBER_THREADS = "1"
BB_HASHSERVE = ""
CACHE = "${TMPDIR}/cache"
PERSISTENT_DIR = "${TMPDIR}/cache"
BB_DEFAULT_UMASK = "022"
FETCHCMD_wget = "/usr/bin/env wget -t 2 -T 30"
BB_CHECK_SSL_CERTS = "1"
'''.replace("@WORK@", work).replace("@CORE@", core))

def cls(name, body=""):
    open(os.path.join(classes, name + ".bbclass"), "w").write(body)

# base: just the PACKAGECONFIG plumbing of oe-core's base.bbclass.
cls("base", r'''
THISDIR = "${@os.path.dirname(d.getVar('FILE'))}"
python () {
    pkgconfigflags = d.getVarFlags("PACKAGECONFIG") or {}
    pkgconfigflags.pop("doc", None)
    pkgconfig = (d.getVar("PACKAGECONFIG") or "").split()
    args = []
    for flag, flagval in sorted(pkgconfigflags.items()):
        items = flagval.split(",")
        num = len(items)
        if num > 6:
            bb.error("%s: PACKAGECONFIG[%s] Only enable,disable,depend,rdepend,rrecommend,conflict can be specified!" % (d.getVar('PN'), flag))
        if flag in pkgconfig:
            if num >= 3 and items[2]:
                d.appendVar("DEPENDS", " " + items[2])
            if num >= 4 and items[3]:
                d.appendVar("RDEPENDS:" + d.getVar("PN"), " " + items[3])
            if items[0]:
                args.append(items[0])
        elif num >= 2 and items[1]:
            args.append(items[1])
    for p in pkgconfig:
        if p not in pkgconfigflags:
            bb.fatal("PACKAGECONFIG %s has no PACKAGECONFIG[%s] definition" % (p, p))
    d.setVar("PACKAGECONFIG_CONFARGS", " ".join(args))
}
do_install() {
	:
}
''')
# The classes the recipes inherit, with the variables they define upstream.
cls("cargo", 'CARGO_BUILD_FLAGS = "-v --frozen --target x86_64-poky-linux-gnu --release --manifest-path=${S}/Cargo.toml"\n'
             'DEPENDS:append = " rust-native"\n'
             'cargo_do_install() {\n\tinstall -d ${D}${bindir}\n}\nEXPORT_FUNCTIONS do_install\n')
cls("cargo-update-recipe-crates", 'CARGO_LOCK_SRC_DIR ??= "${S}"\n')
cls("pkgconfig", 'DEPENDS:prepend = "pkgconfig-native "\n')
cls("systemd", 'SYSTEMD_AUTO_ENABLE ??= "enable"\n')
cls("useradd", 'USERADD_PACKAGES ??= ""\n')
cls("packagegroup", 'PACKAGE_ARCH ?= "all"\nPACKAGES = "${PN}"\n')
cls("features_check", '')
cls("core-image", 'IMAGE_INSTALL ?= ""\n')
cls("kernel", '')
cls("kernel-yocto", '')
open(os.path.join(core, "recipes-core", "images", "core-image-minimal.bb"), "w").write(
    'SUMMARY = "stand-in"\nLICENSE = "MIT"\nIMAGE_INSTALL = "packagegroup-core-boot ${CORE_IMAGE_EXTRA_INSTALL}"\ninherit core-image\n')
os.makedirs(os.path.join(core, "licenses"), exist_ok=True)
kern = os.path.join(core, "recipes-kernel", "linux")
open(os.path.join(kern, "linux-yocto_6.6.bb"), "w").write(
    'LICENSE = "GPL-2.0-only"\nSRC_URI = "git://git.yoctoproject.org/linux-yocto.git;branch=v6.6/standard/base;name=machine"\ninherit kernel kernel-yocto\n')
open(os.path.join(kern, "linux-libc-headers_6.6.bb"), "w").write(
    'LICENSE = "GPL-2.0-only"\nSRC_URI = "https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.6.tar.xz"\n')

def base_data(extra=None):
    d = bb.data.init()
    d.setVar("BBPATH", core + ":" + layer)
    d.setVar("TOPDIR", work)
    d = bb.parse.handle(os.path.join(core, "conf", "bitbake.conf"), d)
    # the layer's own layer.conf, as bblayers.conf would read it
    d.setVar("LAYERDIR", layer)
    d = bb.parse.handle(os.path.join(layer, "conf", "layer.conf"), d)
    d.expandVarref("LAYERDIR")
    d.delVar("LAYERDIR")
    for k, v in (extra or {}).items():
        d.setVar(k, v)
    d.setVar("__bbclasstype", "global")
    bb.parse.BBHandler.inherit("base", "configuration INHERITs", 0, d)
    return d

def parse(recipe, extra=None, appends=()):
    d = base_data(extra)
    if appends:
        d.setVar("__BBAPPEND", " ".join(appends))
    d.setVar("__bbclasstype", "recipe")
    d = bb.parse.handle(recipe, d)[""]
    return d

# Each section runs on its own: a parse error in one does not hide the others.
import traceback
def section(name, fn):
    try:
        fn()
    except Exception as e:
        where = traceback.extract_tb(e.__traceback__)[-1]
        failures.append('%s: %s: %s' % (name, type(e).__name__, str(e).strip().splitlines()[-1] if str(e).strip() else where))

recipe = os.path.join(layer, 'recipes-multimedia', 'edgecam', 'edgecam_git.bb')
crates, reg = [], {}
def sec_0():
    global crates, reg
    # --- layer.conf ---
    d = base_data()
    import bb.siggen
    bb.parse.siggen = bb.siggen.init(d)
    check("edgecam" in d.getVar("BBFILE_COLLECTIONS").split(), "layer.conf: BBFILE_COLLECTIONS lacks edgecam")
    compat = (d.getVar("LAYERSERIES_COMPAT_edgecam") or "").split()
    for rel in ("scarthgap", "styhead", "walnascar"):
        check(rel in compat, "layer.conf: LAYERSERIES_COMPAT_edgecam lacks " + rel)
    bbfiles = []
    for pat in d.getVar("BBFILES").split():
        bbfiles += glob.glob(pat)
    names = sorted(os.path.relpath(f, layer) for f in bbfiles)
    for want in ("recipes-multimedia/edgecam/edgecam_git.bb", "recipes-core/packagegroups/packagegroup-edgecam.bb",
                 "recipes-core/images/edgecam-image.bb", "recipes-kernel/linux/linux-%.bbappend"):
        check(want in names, "BBFILES does not pick up " + want)

section('layer.conf', sec_0)

def sec_1():
    global crates, reg
    # --- edgecam recipe ---
    d = parse(recipe, {"SRCREV": "0123456789abcdef0123456789abcdef01234567"})
    check(d.getVar("PN") == "edgecam", "PN is %r" % d.getVar("PN"))
    check(d.getVar("S").endswith("/git"), "S is %r" % d.getVar("S"))
    src = d.getVar("SRC_URI").split()
    crates = [u for u in src if u.startswith("crate://")]
    with open(os.path.join(repo, "Cargo.lock"), "rb") as f:
        lock = tomllib.load(f)
    reg = {"%s-%s" % (p["name"], p["version"]): p["checksum"] for p in lock["package"]
           if p.get("source", "").startswith("registry+")}
    check(len(crates) == len(reg), "SRC_URI has %d crates, Cargo.lock %d" % (len(crates), len(reg)))
    # The real crate fetcher decides the checksum name; ask it.
    d.setVar("DL_DIR", os.path.join(work, "downloads"))
    fetcher = bb.fetch2.Fetch(crates, d)
    mism = []
    for u in crates:
        ud = fetcher.ud[u]
        name = ud.parm.get("name")
        if reg.get(name) != getattr(ud, "sha256_expected", None):
            mism.append(name)
    check(not mism, "crate checksums not seen by the fetcher: %s" % mism[:5])
    deps = d.getVar("DEPENDS").split()
    check("cmake-native" in deps, "DEPENDS lacks cmake-native")
    check("nasm-native" in deps, "DEPENDS lacks nasm-native on x86-64")
    check(("clang-native" in deps) == ("bindgen" in {p["name"] for p in lock["package"]}),
          "clang-native in DEPENDS does not follow bindgen in Cargo.lock")
    flags = d.getVar("CARGO_BUILD_FLAGS")
    check("--bin edgecam" in flags, "CARGO_BUILD_FLAGS lacks --bin edgecam: " + flags)
    check("--features" not in flags, "features enabled by default off tegra: " + flags)
    check(d.getVar("SYSTEMD_SERVICE:edgecam") == "edgecam.service", "SYSTEMD_SERVICE")
    check("--system" in d.getVar("USERADD_PARAM:edgecam"), "USERADD_PARAM")
    for k in ("LIBCLANG_PATH", "V4L2R_VIDEODEV2_H_PATH", "CARGO_PROFILE_RELEASE_STRIP"):
        check(d.getVarFlag(k, "export"), k + " is not exported")
    lic = d.getVar("LIC_FILES_CHKSUM")
    check("Apache-2.0" in lic and d.getVar("LICENSE") == "Apache-2.0", "LICENSE/LIC_FILES_CHKSUM")

    # tegra: the gstreamer build by default
    dt = parse(recipe, {"SRCREV": "0" * 40, "MACHINEOVERRIDES": "tegra:tegra234:jetson-orin-nano-devkit"})
    check("--features gstreamer" in dt.getVar("CARGO_BUILD_FLAGS"), "tegra: gstreamer feature not on")
    check("gstreamer1.0" in dt.getVar("DEPENDS").split(), "tegra: gstreamer1.0 not in DEPENDS")

    # do_install, run for real into a scratch image directory
    def run_install(dd):
        # the expanded do_install (stub cargo_do_install + the recipe's :append), as bitbake would run it
        body = dd.getVar("do_install")
        script = "set -e\nbbfatal() { echo \"bbfatal: $*\" >&2; exit 1; }\nbbnote() { :; }\nchown() { :; }\n" + body
        return subprocess.run(["bash", "-c", script], capture_output=True, text=True)

    def install_tree(board):
        extra = {"SRCREV": "0" * 40}
        if board != "auto":
            extra["EDGECAM_BOARD"] = board
        dd = parse(recipe, extra)
        dd.setVar("S", repo)
        dd.setVar("D", os.path.join(work, "image-" + board))
        dest = dd.getVar("D")
        shutil.rmtree(dest, ignore_errors=True)
        r = run_install(dd)
        return dd, dest, r

    dd, dest, r = install_tree("auto")
    if check(r.returncode == 0, "do_install failed: " + (r.stderr.strip() or r.stdout.strip())[-400:]):
        want = ["lib/systemd/system/edgecam.service", "usr/lib/sysusers.d/edgecam.conf",
                "usr/lib/modules-load.d/edgecam.conf",
                "lib/udev/rules.d/99-edgecam-cameras.rules", "etc/edgecam/edgecam.toml",
                "usr/share/doc/edgecam/deploy.md", "usr/share/doc/edgecam/boards.md"]
        for w in want:
            check(os.path.exists(os.path.join(dest, w)), "do_install did not install /" + w)
        boards = sorted(os.path.basename(p) for p in glob.glob(os.path.join(dest, "usr/share/edgecam/boards/*.toml")))
        check(boards == sorted(os.path.basename(p) for p in glob.glob(os.path.join(repo, "boards/*.toml"))),
              "board profiles installed: %s" % boards)
        mode = os.stat(os.path.join(dest, "etc/edgecam/edgecam.toml")).st_mode & 0o777
        check(mode == 0o640, "edgecam.toml mode %o" % mode)
        unit = open(os.path.join(dest, "lib/systemd/system/edgecam.service")).read()
        check("ExecStart=/usr/bin/edgecam run --config /etc/edgecam/edgecam.toml" in unit, "unit ExecStart")
        files_pn = dd.getVar("FILES:edgecam") or ""
        for p in ("/usr/lib/sysusers.d", "/usr/lib/modules-load.d"):
            check(p in files_pn, "FILES:edgecam lacks " + p)

    dd, dest, r = install_tree("rpi4")
    if os.path.exists(os.path.join(repo, "edgecam.example.toml")) and \
            re.search(r"(?m)^board\s*=", open(os.path.join(repo, "edgecam.example.toml")).read()):
        check(r.returncode == 0 and 'board = "rpi4"' in open(os.path.join(dest, "etc/edgecam/edgecam.toml")).read(),
              "EDGECAM_BOARD=rpi4 not written into edgecam.toml: " + r.stderr.strip()[-300:])
    dd, dest, r = install_tree("no-such-board")
    check(r.returncode != 0 and "no boards/no-such-board.toml" in r.stderr, "EDGECAM_BOARD typo not refused")

section('edgecam recipe', sec_1)

def sec_2():
    global crates, reg
    # --- packagegroup ---
    pg = os.path.join(layer, "recipes-core", "packagegroups", "packagegroup-edgecam.bb")
    d = parse(pg)
    rr = d.getVar("RRECOMMENDS:packagegroup-edgecam").split()
    check("v4l-utils" not in rr and "kernel-module-uvcvideo" in rr, "packagegroup without meta-oe: %s" % rr)
    check(d.getVar("RDEPENDS:packagegroup-edgecam").split() == ["edgecam"], "packagegroup RDEPENDS")
    d = parse(pg, {"BBFILE_COLLECTIONS": "core openembedded-layer edgecam", "MACHINEOVERRIDES": "rpi:raspberrypi4-64"})
    rr = d.getVar("RRECOMMENDS:packagegroup-edgecam").split()
    check("v4l-utils" in rr and "kernel-module-bcm2835-codec" in rr, "packagegroup rpi+meta-oe: %s" % rr)
    d = parse(pg, {"MACHINEOVERRIDES": "tegra:tegra234"})
    check("gstreamer1.0-plugins-nvvideo4linux2" in d.getVar("RRECOMMENDS:packagegroup-edgecam").split(), "packagegroup tegra")

section('packagegroup', sec_2)

def sec_3():
    global crates, reg
    # --- image ---
    d = parse(os.path.join(layer, "recipes-core", "images", "edgecam-image.bb"))
    check("packagegroup-edgecam" in d.getVar("IMAGE_INSTALL").split(), "image lacks packagegroup-edgecam")
    check("packagegroup-core-boot" in d.getVar("IMAGE_INSTALL").split(), "image lost core-image-minimal's IMAGE_INSTALL")
    check(d.getVar("REQUIRED_DISTRO_FEATURES") == "systemd", "image REQUIRED_DISTRO_FEATURES")

section('image', sec_3)

def sec_4():
    global crates, reg
    # --- kernel bbappend ---
    app = os.path.join(layer, "recipes-kernel", "linux", "linux-%.bbappend")
    ky = os.path.join(kern, "linux-yocto_6.6.bb")
    lh = os.path.join(kern, "linux-libc-headers_6.6.bb")
    def snapshot(dd):
        return {k: dd.getVar(k, False) for k in dd.keys() if not k.startswith("__") and k not in ("FILE", "BBINCLUDED")}
    plain = snapshot(parse(ky))
    opted_out = snapshot(parse(ky, appends=[app]))
    diff = sorted(k for k in set(plain) | set(opted_out) if plain.get(k) != opted_out.get(k))
    check(not diff, "bbappend changes linux-yocto without the distro feature: %s" % diff[:8])
    d = parse(ky, {"DISTRO_FEATURES": "systemd edgecam", "MACHINEOVERRIDES": "rpi:raspberrypi4-64"}, appends=[app])
    src = d.getVar("SRC_URI").split()
    for f in ("file://edgecam-v4l2.cfg", "file://edgecam-bcm2835.cfg"):
        check(f in src, "rpi kernel SRC_URI lacks " + f)
    check("file://edgecam-rockchip.cfg" not in src, "rpi kernel got the rockchip fragment")
    d = parse(ky, {"DISTRO_FEATURES": "systemd edgecam", "MACHINEOVERRIDES": "rockchip:rk3588:rock-5b",
                   "EDGECAM_KERNEL_TEST_DRIVERS": "1"}, appends=[app])
    src = d.getVar("SRC_URI").split()
    for f in ("file://edgecam-v4l2.cfg", "file://edgecam-rockchip.cfg", "file://edgecam-v4l2-test.cfg"):
        check(f in src, "rk3588 kernel SRC_URI lacks " + f)
    # every fragment it may ask for is where FILESEXTRAPATHS points
    fep = [p for p in d.getVar("FILESEXTRAPATHS").split(":") if p]
    for f in glob.glob(os.path.join(layer, "recipes-kernel", "linux", "files", "*.cfg")):
        check(any(os.path.exists(os.path.join(p, os.path.basename(f))) for p in fep), "fragment not on FILESEXTRAPATHS: " + f)
    d = parse(lh, {"DISTRO_FEATURES": "systemd edgecam"}, appends=[app])
    check(not any("edgecam" in u for u in d.getVar("SRC_URI").split()), "linux-libc-headers got kernel fragments")

section('kernel bbappend', sec_4)

def sec_5():
    global crates, reg
    # --- optional: fetch one real crate through BitBake's crate fetcher ---
    if fetch_one:
        d = parse(recipe, {"SRCREV": "0" * 40})
        d.setVar("DL_DIR", os.path.join(work, "downloads"))
        small = min(reg, key=len)
        url = [u for u in crates if ";name=%s" % small in u][0]
        try:
            bb.fetch2.Fetch([url], d).download()
            print("fetched %s through the crate fetcher, sha256 verified" % small)
        except Exception as e:
            failures.append("crate fetch of %s failed: %s" % (small, e))

section('crate fetch', sec_5)

if failures:
    for f in failures:
        print("FAIL:", f)
    sys.exit(1)
print("bitbake %s parse: layer.conf, edgecam_git.bb (%d crates, checksums as the fetcher sees them, do_install run), "
      "packagegroup, image, kernel bbappend: ok" % (bb.__version__, len(crates)))
PY
if out=$(EDGECAM_YOCTO_FETCH=${EDGECAM_YOCTO_FETCH:-0} "$venv/bin/python" "$work/bbparse.py" "$repo" "$work/bb" 2>&1); then
    pass "$(printf '%s\n' "$out" | tail -1)"
    printf '%s\n' "$out" | grep '^fetched' | sed 's/^/ok   /'
else
    fail "BitBake parse of meta-edgecam:"; printf '%s\n' "$out" | tail -25 | sed 's/^/     /'
fi

# ---- 4. board profiles ----
if out=$(python3 - "$repo/boards" <<'PY'
import glob, os, sys, tomllib
errs, seen, names = [], {}, []
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.toml"))):
    base = os.path.basename(path)[:-5]
    try:
        b = tomllib.load(open(path, "rb"))
    except Exception as e:
        errs.append("%s: %s" % (base, e)); continue
    def need(sec, key, typ):
        v = b.get(sec, {}).get(key)
        if not isinstance(v, typ) or isinstance(v, bool):
            errs.append("%s: [%s] %s missing or not %s" % (base, sec, key, typ.__name__ if isinstance(typ, type) else typ))
        return v
    extra = set(b) - {"board", "decoder", "pool", "thermal", "ladder"}
    if extra: errs.append("%s: unknown tables %s" % (base, sorted(extra)))
    if need("board", "name", str) != base: errs.append("%s: [board] name must be the file name" % base)
    need("board", "description", str); need("board", "hardware_decode", str)
    compat, dmi = b["board"].get("compatible"), b["board"].get("dmi")
    if compat is None and dmi is None: errs.append("%s: needs compatible = [...] or dmi = [...]" % base)
    for c in compat or []:
        if c in seen: errs.append("%s: compatible %r also in %s" % (base, c, seen[c]))
        seen[c] = base
    for e in dmi or []:
        if "=" not in e: errs.append("%s: dmi entry %r is not FIELD=GLOB" % (base, e))
    be = need("decoder", "backend", str)
    if be not in ("auto", "v4l2m2m", "gstreamer", "software"): errs.append("%s: backend %r" % (base, be))
    if be == "gstreamer" and not b["decoder"].get("gst_element"): errs.append("%s: gstreamer without gst_element" % base)
    if be == "v4l2m2m" and not str(b["decoder"].get("device", "/dev/video")).startswith("/dev/"): errs.append("%s: device" % base)
    n = need("pool", "frames_per_camera", int)
    if isinstance(n, int) and not 1 <= n <= 64: errs.append("%s: frames_per_camera %d" % (base, n))
    zones = need("thermal", "zones", list)
    t = [need("thermal", k, float) for k in ("leave_c", "enter_c", "critical_c")]
    if all(isinstance(x, float) for x in t) and not t[0] < t[1] < t[2]: errs.append("%s: need leave_c < enter_c < critical_c" % base)
    fps, widths = need("ladder", "fps", list), need("ladder", "widths", list)
    for name, lst in (("fps", fps), ("widths", widths)):
        if isinstance(lst, list) and (not lst or lst != sorted(lst, reverse=True) or any(x <= 0 for x in lst)):
            errs.append("%s: ladder %s must be non-empty, positive, descending" % (base, name))
    names.append(base)
if errs:
    print("\n".join(errs)); sys.exit(1)
print(" ".join(names))
PY
); then
    pass "boards/*.toml follow the schema: $out"
else
    fail "boards/*.toml:"; printf '%s\n' "$out" | sed 's/^/     /'
fi

# ---- 5. kernel fragments, scripts ----
bad=$(grep -vhE '^(#.*|CONFIG_[A-Z0-9_]+=(y|m|n|"[^"]*"|[0-9]+)|# CONFIG_[A-Z0-9_]+ is not set|)$' \
          "$layer"/recipes-kernel/linux/files/*.cfg || true)
if [ -z "$bad" ]; then
    pass "kernel fragments: $(find "$layer/recipes-kernel/linux/files" -name '*.cfg' -printf '%f ' | xargs -n1 | sort | xargs)"
else
    fail "kernel fragments have malformed lines:"; printf '%s\n' "$bad" | sed 's/^/     /'
fi
if out=$(shellcheck "$repo/yocto/gen-crates-inc.sh" 2>&1); then
    pass "shellcheck yocto/gen-crates-inc.sh"
else
    fail "shellcheck yocto/gen-crates-inc.sh:"; printf '%s\n' "$out" | head -20 | sed 's/^/     /'
fi

echo "check_yocto: $passed passed, $failed failed"
[ $failed -eq 0 ]
