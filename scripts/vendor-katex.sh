#!/usr/bin/env bash
# Puts KaTeX (maths in the web page) into madagents/web/static/katex from the npm registry.
# The files are committed: `madagents serve` must render maths on machines without internet and `pip install`
# must not need npm, and KaTeX's browser build is ~600 kB (the script, the stylesheet, the woff2 fonts, the licence).
# Run it to move to another KaTeX version: bash scripts/vendor-katex.sh 0.19.1
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
