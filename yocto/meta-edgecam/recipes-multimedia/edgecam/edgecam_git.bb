SUMMARY = "Camera ingest for edge boxes: RTSP/USB cameras to paced frames over MQTT"
DESCRIPTION = "edgecam ingests RTSP and USB cameras, decodes them with the \
               board's V4L2 M2M decoder, NVIDIA's GStreamer decoder or in \
               software, paces them and publishes JPEG frames over MQTT. It \
               runs as a hardened systemd service and is controlled over MQTT."
HOMEPAGE = "https://github.com/edgecam/edgecam"
BUGTRACKER = "https://github.com/edgecam/edgecam/issues"
SECTION = "multimedia"
CVE_PRODUCT = "edgecam"
LICENSE = "Apache-2.0"
# The tree carries no license text yet (Cargo.toml says Apache-2.0); switch to
# file://LICENSE;md5=... once it does.
# nooelint: oelint.var.licenseremotefile
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

# turbojpeg-sys builds libjpeg-turbo with CMake; openh264 and libjpeg-turbo
# use nasm for their x86 SIMD code (without it they silently drop it).
# bindgen (v4l2r's build script) needs libclang, only when Cargo.lock has it;
# on scarthgap clang-native comes from meta-clang.
DEPENDS = "${@'clang-native' if 'crate://crates.io/bindgen/' in (d.getVar('SRC_URI') or '') else ''}"
DEPENDS += "cmake-native"
DEPENDS:append:x86 = " nasm-native"
DEPENDS:append:x86-64 = " nasm-native"

PV = "0.1.0+git"

# Point EDGECAM_GIT_URI at your remote (or use externalsrc, see
# yocto/README.md) and pin SRCREV for a reproducible image.
EDGECAM_GIT_URI ?= "git://github.com/edgecam/edgecam.git;protocol=https;branch=main"
SRC_URI = "${EDGECAM_GIT_URI}"
# Nothing is released yet to pin to.
# nooelint: oelint.vars.autorev
SRCREV ?= "${AUTOREV}"

# Generated from Cargo.lock by yocto/gen-crates-inc.sh.
require ${BPN}-crates.inc

# ${WORKDIR}/git is the form that works on scarthgap (no UNPACKDIR there) and
# keeps working on styhead and walnascar, which move it out of sources-unpack.
# nooelint: oelint.vars.unpackdir
S = "${WORKDIR}/git"

inherit cargo cargo-update-recipe-crates pkgconfig systemd useradd

export LIBCLANG_PATH = "${STAGING_LIBDIR_NATIVE}"
export BINDGEN_EXTRA_CLANG_ARGS = "--sysroot=${STAGING_DIR_HOST} ${TUNE_CCARGS}"
# v4l2r needs V4L2 UAPI headers from Linux >= 6.5; the target sysroot's
# linux-libc-headers are 6.6 on scarthgap and newer after.
export V4L2R_VIDEODEV2_H_PATH = "${STAGING_INCDIR}"
# Cargo.toml strips release binaries; let OE strip them into edgecam-dbg.
export CARGO_PROFILE_RELEASE_STRIP = "false"

# gstreamer: the dynamically linked build that can use GStreamer decoders
# (nvv4l2decoder on Jetson, vah264dec on Intel/AMD). On by default for
# meta-tegra machines.
EDGECAM_DEFAULT_PACKAGECONFIG = ""
EDGECAM_DEFAULT_PACKAGECONFIG:tegra = "gstreamer"
PACKAGECONFIG ??= "${EDGECAM_DEFAULT_PACKAGECONFIG}"
# The pipeline needs appsrc/appsink and h264parse; the decoder element comes
# from the board's layer (meta-tegra: gstreamer1.0-plugins-nvvideo4linux2 and
# gstreamer1.0-plugins-nvvidconv) or gstreamer1.0-libav.
PACKAGECONFIG[gstreamer] = "--features gstreamer,,gstreamer1.0 gstreamer1.0-plugins-base,gstreamer1.0-plugins-base-app gstreamer1.0-plugins-bad-videoparsersbad ${EDGECAM_GST_DECODERS}"
EDGECAM_GST_DECODERS ?= "gstreamer1.0-libav"
EDGECAM_GST_DECODERS:tegra ?= "gstreamer1.0-plugins-nvvideo4linux2 gstreamer1.0-plugins-nvvidconv"

# Only the service binary, not examples or helper binaries of the crate.
EDGECAM_BINS ?= "edgecam"
CARGO_BUILD_FLAGS:append = " ${@' '.join('--bin ' + b for b in d.getVar('EDGECAM_BINS').split())} ${PACKAGECONFIG_CONFARGS}"

# Board profile written into /etc/edgecam/edgecam.toml: "auto" lets edgecam
# pick one from the device tree or DMI; otherwise the name of a file in
# boards/ (rpi4, rpi5, jetson-orin-nano, rk3588, x86-generic).
EDGECAM_BOARD ?= "auto"

USERADD_PACKAGES = "${PN}"
USERADD_PARAM:${PN} = "--system --user-group --home-dir ${localstatedir}/lib/edgecam \
                       --no-create-home --shell ${base_sbindir}/nologin edgecam"

SYSTEMD_SERVICE:${PN} = "edgecam.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

do_install:append() {
    install -d ${D}${systemd_system_unitdir}
    sed -e 's|/usr/bin/edgecam|${bindir}/edgecam|g' \
        ${S}/systemd/edgecam.service > ${D}${systemd_system_unitdir}/edgecam.service
    chmod 0644 ${D}${systemd_system_unitdir}/edgecam.service
    install -D -m 0644 ${S}/systemd/edgecam.sysusers.conf ${D}${nonarch_libdir}/sysusers.d/edgecam.conf
    install -D -m 0644 ${S}/systemd/edgecam.modules-load.conf ${D}${nonarch_libdir}/modules-load.d/edgecam.conf
    install -D -m 0644 ${S}/udev/99-edgecam-cameras.rules \
        ${D}${nonarch_base_libdir}/udev/rules.d/99-edgecam-cameras.rules

    install -d -m 0755 ${D}${sysconfdir}/edgecam
    install -m 0640 ${S}/edgecam.example.toml ${D}${sysconfdir}/edgecam/edgecam.toml
    chown root:edgecam ${D}${sysconfdir}/edgecam/edgecam.toml
    if [ "${EDGECAM_BOARD}" != "auto" ]; then
        if [ ! -f "${S}/boards/${EDGECAM_BOARD}.toml" ]; then
            bbfatal "EDGECAM_BOARD=${EDGECAM_BOARD}: there is no boards/${EDGECAM_BOARD}.toml"
        fi
        if ! grep -q '^board *=' ${D}${sysconfdir}/edgecam/edgecam.toml; then
            bbfatal "edgecam.example.toml has no 'board =' line to set"
        fi
        sed -i -e 's|^board *=.*|board = "${EDGECAM_BOARD}"|' ${D}${sysconfdir}/edgecam/edgecam.toml
    fi

    install -d ${D}${datadir}/edgecam/boards
    install -m 0644 ${S}/boards/*.toml ${D}${datadir}/edgecam/boards/
    install -d ${D}${docdir}/edgecam
    install -m 0644 ${S}/docs/deploy.md ${S}/docs/boards.md ${D}${docdir}/edgecam/
}

FILES:${PN} += "${nonarch_libdir}/sysusers.d ${nonarch_libdir}/modules-load.d"
CONFFILES:${PN} = "${sysconfdir}/edgecam/edgecam.toml"
