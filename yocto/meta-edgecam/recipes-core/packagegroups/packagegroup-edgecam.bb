SUMMARY = "edgecam and what it wants beside it at run time"
DESCRIPTION = "The edgecam service, CA certificates for MQTT over TLS, the \
               UVC driver, v4l2-ctl for checking a board, and the board's \
               decoder module or GStreamer plugin where one exists."
SECTION = "multimedia"
LICENSE = "MIT"

inherit packagegroup

# Machine-specific recommendations below.
PACKAGE_ARCH = "${MACHINE_ARCH}"

RDEPENDS:${PN} = "edgecam"

# Recommendations that no layer provides, and kernel modules that are built
# in, are skipped without error. v4l-utils (v4l2-ctl) comes from meta-oe.
RRECOMMENDS:${PN} = "ca-certificates kernel-module-uvcvideo \
                     ${@bb.utils.contains('BBFILE_COLLECTIONS', 'openembedded-layer', 'v4l-utils', '', d)}"
# meta-raspberrypi: the bcm2835-codec M2M decoder (/dev/video10).
RRECOMMENDS:${PN}:append:rpi = " kernel-module-bcm2835-codec"
# meta-tegra: NVIDIA's nvv4l2decoder for the GStreamer build.
RRECOMMENDS:${PN}:append:tegra = " gstreamer1.0-plugins-nvvideo4linux2"
