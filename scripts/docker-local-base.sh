#!/usr/bin/env bash
# Makes a Node.js 20 base image for the Dockerfile without a container
# registry: a minimal Debian bookworm (mmdebstrap, from the Debian mirror)
# plus this machine's own node, npm and Node headers, laid out as in the
# official node images (/usr/local/bin/node, /usr/local/include/node,
# /usr/local/lib/node_modules/npm), imported with `docker import`.
#
#   scripts/docker-local-base.sh [TAG]      (default lb4-local-base:node<version>)
#   docker build --network host --build-arg BASE=<that tag> -t lb4 .
#
# The machine's CA bundle (/etc/ssl/certs/ca-certificates.crt) goes in too,
# with NODE_EXTRA_CA_CERTS pointing at it, for networks whose HTTPS passes a
# proxy with its own CA (npm ci in the build stage goes through it).
#
# Nothing is rebuilt when the tag already exists. Needs root, docker and
# mmdebstrap (apt-get install mmdebstrap).
set -euo pipefail
node_bin=$(readlink -f "$(command -v node)")
prefix=$(dirname "$(dirname "$node_bin")")
version=$("$node_bin" -p process.versions.node)
tag=${1:-lb4-local-base:node$version}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi
for need in "$prefix/include/node/node_api.h" "$prefix/lib/node_modules/npm/bin/npm-cli.js"; do
  [ -e "$need" ] || { echo "docker-local-base: $need not found (node at $node_bin)" >&2; exit 1; }
done
command -v mmdebstrap >/dev/null || { echo "docker-local-base: mmdebstrap not installed (apt-get install mmdebstrap)" >&2; exit 1; }

hooks=(
  --customize-hook="mkdir -p \"\$1/usr/local/bin\" \"\$1/usr/local/include\" \"\$1/usr/local/lib/node_modules\""
  --customize-hook="cp -a '$node_bin' \"\$1/usr/local/bin/node\""
  --customize-hook="cp -a '$prefix/include/node' \"\$1/usr/local/include/node\""
  --customize-hook="cp -a '$prefix/lib/node_modules/npm' \"\$1/usr/local/lib/node_modules/npm\""
  --customize-hook="ln -s ../lib/node_modules/npm/bin/npm-cli.js \"\$1/usr/local/bin/npm\""
  --customize-hook="ln -s ../lib/node_modules/npm/bin/npx-cli.js \"\$1/usr/local/bin/npx\""
)
changes=(
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  --change "ENV NODE_VERSION=$version"
  --change 'CMD ["node"]'
)
ca=/etc/ssl/certs/ca-certificates.crt
if [ -f "$ca" ]; then
  hooks+=(--customize-hook="mkdir -p \"\$1/etc/ssl/certs\" && cp '$ca' \"\$1$ca\"")
  changes+=(--change "ENV NODE_EXTRA_CA_CERTS=$ca")
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mmdebstrap --quiet --variant=minbase "${hooks[@]}" bookworm "$work/rootfs.tar" "$mirror" >&2
docker import "${changes[@]}" "$work/rootfs.tar" "$tag" >/dev/null
echo "$tag"
