#!/usr/bin/env bash
# Cross-builds the static aarch64 edgecam binary on an x86_64 Debian 12 host.
#
#   scripts/cross-aarch64.sh            install what is missing, then build
#   scripts/cross-aarch64.sh ARGS...    same, ARGS passed on to cargo build
#                                       (e.g. --features demo-broker)
#   scripts/cross-aarch64.sh --deps     only install what is missing
#
# rustup cannot add an aarch64 std on these machines, so the compiler is
# Debian's rustc-web (/usr/bin/rustc) with libstd-rust-web-dev:arm64, driven by
# whatever `cargo` is on PATH (rustup's; Debian's cargo-web is installed as a
# fallback when there is none). Debian's rustc cannot reuse artifacts built by
# rustup's, hence the separate target directory target/aarch64-cross.
#
# C and C++ dependencies are cross-compiled with the aarch64-linux-gnu
# toolchain: openh264 (C++ and its NEON .S files; nasm is x86-only),
# libjpeg-turbo (cmake; the cmake crate sets CMAKE_SYSTEM_NAME/PROCESSOR
# itself when target != host), ring (C/asm). bindgen (v4l2r) parses the
# vendored V4L2 UAPI headers (V4L2R_VIDEODEV2_H_PATH in .cargo/config.toml)
# for aarch64 with the cross sysroot. Linker and crt-static come from
# [target.aarch64-unknown-linux-gnu] in .cargo/config.toml.
#
# Prints the binary path and its stripped size on the last two lines:
#   binary: <path>
#   stripped: <bytes> bytes
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=aarch64-unknown-linux-gnu
target_dir=${EDGECAM_AARCH64_TARGET_DIR:-$repo/target/aarch64-cross}

deps_only=0
if [ "${1:-}" = --deps ]; then
  deps_only=1
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

# --- packages --------------------------------------------------------------
pkgs=(rustc-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu g++-aarch64-linux-gnu
      binutils-aarch64-linux-gnu qemu-user-static libclang-dev clang cmake pkg-config file)
command -v cargo >/dev/null 2>&1 || pkgs+=(cargo-web)

need_update=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "cross-aarch64: dpkg --add-architecture arm64" >&2
  $sudo dpkg --add-architecture arm64
  need_update=1
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "cross-aarch64: installing ${missing[*]}" >&2
  need_update=1
fi
if [ $need_update -eq 1 ]; then
  $sudo apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ $deps_only -eq 1 ] && exit 0

# --- build -----------------------------------------------------------------
rustc=/usr/bin/rustc
[ -x "$rustc" ] || { echo "cross-aarch64: $rustc (rustc-web) missing" >&2; exit 1; }
cargo=$(command -v cargo)

sysroot=/usr/aarch64-linux-gnu
export RUSTC=$rustc
export CARGO_TARGET_DIR=$target_dir
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
export BINDGEN_EXTRA_CLANG_ARGS_aarch64_unknown_linux_gnu="--sysroot=$sysroot"
# pkg-config must never hand the host's x86_64 libraries to the aarch64 link.
export PKG_CONFIG_ALLOW_CROSS=0
# A RUSTFLAGS from the caller would replace the config file's target rustflags
# (crt-static) and also apply to build scripts.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS

echo "cross-aarch64: $("$cargo" --version) with $("$rustc" --version) -> $target_dir" >&2
cd "$repo"
"$cargo" build --release --target "$target" "$@"

bin=$target_dir/$target/release/edgecam
[ -x "$bin" ] || { echo "cross-aarch64: $bin not built" >&2; exit 1; }
stripped=$(mktemp)
trap 'rm -f "$stripped"' EXIT
aarch64-linux-gnu-strip -o "$stripped" "$bin"
echo "binary: $bin"
echo "stripped: $(stat -c %s "$stripped") bytes"
