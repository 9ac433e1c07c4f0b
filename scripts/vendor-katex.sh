#!/usr/bin/env bash
# Puts KaTeX (maths in the web page) into madagents/web/static/katex from the npm registry.
# Third-party code is not committed: `make setup` runs this once, and a wheel built afterwards carries the files as
# package data, so `madagents serve` renders maths on machines without internet (~600 kB: the script, the
# stylesheet, the woff2 fonts, the licence). Another KaTeX version: bash scripts/vendor-katex.sh 0.19.1
set -euo pipefail
version="${1:-0.19.1}"
here="$(cd "$(dirname "$0")/.." && pwd)"
target="$here/madagents/web/static/katex"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
(cd "$scratch" && npm pack --silent "katex@$version" >/dev/null && tar xzf "katex-$version.tgz")
rm -rf "$target"
mkdir -p "$target/fonts"
cp "$scratch/package/dist/katex.min.js" "$scratch/package/dist/katex.min.css" "$scratch/package/LICENSE" "$target/"
# browsers take the first format they support, woff2 (every browser since 2016); the woff and ttf copies are dropped
cp "$scratch/package/dist/fonts/"*.woff2 "$target/fonts/"
echo "$version" > "$target/VERSION"
echo "KaTeX $version in $target ($(du -sh "$target" | cut -f1))"
