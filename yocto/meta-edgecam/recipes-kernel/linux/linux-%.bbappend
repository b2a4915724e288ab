# Kernel config fragments for edgecam (V4L2 core, UVC, the boards' M2M
# decoders), opt-in so that adding the layer alone changes no kernel:
#   DISTRO_FEATURES:append = " edgecam"
# What they do and which kernels take them: linux-edgecam.inc.
# The linter expands the disabled branch to 'require ' and sees a trailing space.
# nooelint: oelint.spaces.lineend
require ${@bb.utils.contains('DISTRO_FEATURES', 'edgecam', 'linux-edgecam.inc', '', d)}
