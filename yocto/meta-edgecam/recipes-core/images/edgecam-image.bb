SUMMARY = "Minimal bootable image running edgecam as a systemd service"
DESCRIPTION = "core-image-minimal plus packagegroup-edgecam. Needs a distro \
               with systemd as init manager (INIT_MANAGER = \"systemd\")."
LICENSE = "MIT"

# core-image-minimal.bb is in openembedded-core, not on the linter's path.
# nooelint: oelint.file.requirenotfound
require recipes-core/images/core-image-minimal.bb

inherit features_check

REQUIRED_DISTRO_FEATURES = "systemd"

IMAGE_INSTALL:append = " packagegroup-edgecam"
